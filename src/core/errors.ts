/**
 * Every error this package throws on purpose: one base class with a stable `code` (the `error`
 * field of the JSON answer it leads to), as jose's `util/errors.ts` does. This module is the leaf
 * of the import graph: it imports nothing, and every feature imports it.
 */
export abstract class EdgeAuthError extends Error {
  /** Stable, machine-readable: the `error` field of the HTTP answer this error leads to. */
  abstract readonly code: string;
}

/**
 * Machine-readable reasons a request is rejected. Where `@clerk/backend` has a reason for the same
 * failure (`TokenVerificationErrorReason`, `AuthErrorReason`) its exact string is reused, so logs
 * and dashboards read the same on both sides. A string enum, not an object: esbuild inlines each
 * member where it is used, so the deploy bundle carries no table of them (0.3 KiB gzipped, issue
 * #14); at run time `Reason` is the same object of names to codes for the library's users.
 */
export enum Reason {
  SessionTokenMissing = "session-token-missing",
  TokenExpired = "token-expired",
  TokenNotActiveYet = "token-not-active-yet",
  TokenIatInTheFuture = "token-iat-in-the-future",
  TokenInvalid = "token-invalid",
  TokenInvalidAlgorithm = "token-invalid-algorithm",
  TokenInvalidIssuer = "token-invalid-issuer",
  TokenInvalidAuthorizedParties = "token-invalid-authorized-parties",
  TokenInvalidSignature = "token-invalid-signature",
  TokenVerificationFailed = "token-verification-failed",
  JwkKidMismatch = "jwk-kid-mismatch",
  JwkRemoteFailedToLoad = "jwk-remote-failed-to-load",
  // @clerk/backend's AuthErrorReason for cookie tokens (a request it would send to a handshake).
  SessionTokenWithoutClientUat = "session-token-but-no-client-uat",
  SessionTokenIatBeforeClientUat = "session-token-iat-before-client-uat",
  // @clerk/backend's AuthErrorReason when a token's class is not one the route accepts (`acceptsToken`).
  TokenTypeMismatch = "token-type-mismatch",
  // Ours: no `@clerk/backend` equivalent.
  TokenTooLarge = "token-too-large",
  SessionTokenPending = "session-token-pending",
  /** An OAuth access token whose `aud` names neither this gateway nor a configured audience. */
  TokenInvalidAudience = "token-invalid-audience",
  /** Clerk's Backend API could not answer whether an opaque machine token is valid (answered 503). */
  BackendApiUnavailable = "backend-api-unavailable",
  /** This client asked the Backend API about too many unknown opaque tokens (answered 429). */
  MachineTokenLookupsExceeded = "machine-token-lookups-exceeded",
}

export type ReasonCode = `${Reason}`;

/**
 * A configuration problem. `variable` names the setting at fault so the 500 answer and the log
 * line can tell an operator exactly what to fix; `message` must never contain a secret's value.
 */
export class ConfigError extends EdgeAuthError {
  override readonly name = "ConfigError";
  readonly code = "misconfigured";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** A token that must be answered with 401. `message` is safe to show to the caller. */
export class TokenVerificationError extends EdgeAuthError {
  override readonly name = "TokenVerificationError";
  readonly code = "unauthorized";
  constructor(
    readonly reason: ReasonCode,
    message: string,
    /** The token's `kid`, when the header could be read: for logs only. */
    readonly kid?: string,
  ) {
    super(message);
  }
}

/**
 * The credential cannot be decided on now, though it may well be valid: answered `status` with
 * Retry-After, never 401 — the gateway, `clerkAuth` and the Mastra providers treat every kind alike.
 */
export abstract class RetryLaterError extends EdgeAuthError {
  abstract readonly reason: ReasonCode;
  abstract readonly status: 429 | 503;
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** The keys cannot be had (origin down past the stale bound, or never loaded). Not the caller's fault. */
export class JwksUnavailableError extends RetryLaterError {
  override readonly name = "JwksUnavailableError";
  readonly code = "jwks_unavailable";
  override readonly reason = Reason.JwkRemoteFailedToLoad;
  override readonly status = 503;
}

/** Clerk's Backend API cannot say whether an opaque machine token is valid (down, slow, rate limited). */
export class BackendApiUnavailableError extends RetryLaterError {
  override readonly name = "BackendApiUnavailableError";
  readonly code = "backend_api_unavailable";
  override readonly reason = Reason.BackendApiUnavailable;
  override readonly status = 503;
}

/** One client asked about too many opaque tokens the gateway did not know: answered 429. */
export class LookupLimitError extends RetryLaterError {
  override readonly name = "LookupLimitError";
  readonly code = "too_many_requests";
  override readonly reason = Reason.MachineTokenLookupsExceeded;
  override readonly status = 429;
}

/** Why one GET of a remote JSON document (the JWKS, the upstream's agent list or an agent card) failed. */
export type FetchFailure = "unreachable" | "timeout" | "refused" | "not-found" | "upstream-error" | "too-large" | "invalid";

/** A failed GET of a remote document (keys/origin.ts); `detail` is safe to log (it never holds a credential). */
export class OriginFetchError extends EdgeAuthError {
  override readonly name = "OriginFetchError";
  readonly code = "origin_fetch_failed";
  constructor(
    readonly reason: FetchFailure,
    readonly detail: string,
    readonly status?: number,
  ) {
    super(detail);
  }
}

/** A JWKS document with no usable signing key: it never replaces a good cached set. */
export class JwksFormatError extends EdgeAuthError {
  override readonly name = "JwksFormatError";
  readonly code = "jwks_invalid";
}

/** A request path that cannot be matched safely: answered 400, never forwarded. */
export class PathError extends EdgeAuthError {
  override readonly name = "PathError";
  readonly code = "bad_request";
  readonly reason = "path-invalid";
}

export type AssertionFailure = "assertion-missing" | "assertion-invalid" | "assertion-expired" | "assertion-audience" | "assertion-binding" | "assertion-replayed" | "assertion-scope";

/** An `x-gateway-assertion` the upstream refuses (answered 401 by the upstream's provider). */
export class AssertionError extends EdgeAuthError {
  override readonly name = "AssertionError";
  readonly code = "unauthorized";
  constructor(
    readonly reason: AssertionFailure,
    message: string,
  ) {
    super(message);
  }
}
