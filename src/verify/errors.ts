/**
 * Machine-readable reasons a request is rejected. Where `@clerk/backend` has a reason for the same
 * failure (`TokenVerificationErrorReason`, `AuthErrorReason`) its exact string is reused, so logs
 * and dashboards read the same on both sides.
 */
export const Reason = {
  SessionTokenMissing: "session-token-missing",
  TokenExpired: "token-expired",
  TokenNotActiveYet: "token-not-active-yet",
  TokenIatInTheFuture: "token-iat-in-the-future",
  TokenInvalid: "token-invalid",
  TokenInvalidAlgorithm: "token-invalid-algorithm",
  TokenInvalidIssuer: "token-invalid-issuer",
  TokenInvalidAuthorizedParties: "token-invalid-authorized-parties",
  TokenInvalidSignature: "token-invalid-signature",
  TokenVerificationFailed: "token-verification-failed",
  JwkKidMismatch: "jwk-kid-mismatch",
  JwkRemoteFailedToLoad: "jwk-remote-failed-to-load",
  // Ours: no `@clerk/backend` equivalent.
  TokenTooLarge: "token-too-large",
  SessionTokenPending: "session-token-pending",
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** A token that must be answered with 401. `message` is safe to show to the caller. */
export class TokenVerificationError extends Error {
  override readonly name = "TokenVerificationError";
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
 * The keys cannot be had (origin down past the stale bound, or never loaded). Not the caller's
 * fault, so it is answered 503 with Retry-After, never 401.
 */
export class JwksUnavailableError extends Error {
  override readonly name = "JwksUnavailableError";
  readonly reason = Reason.JwkRemoteFailedToLoad;
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}
