import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { AssertionError, ConfigError, type AssertionFailure } from "../core/errors.js";
import { DEFAULT_CLOCK_SKEW_MS } from "../core/limits.js";

export { AssertionError, type AssertionFailure };
import type { ClerkClaims, Identity } from "../identity/identity.js";

/**
 * The gateway → upstream assertion: proof, for an upstream reachable from the internet, that a
 * request came through the gateway and who it was for. A short-lived HS256 JWT signed with
 * `GATEWAY_ASSERTION_SECRET`, sent in this header. The header is stripped from every inbound
 * request (proxy/headers.ts), so only the gateway ever sets it.
 */
export const ASSERTION_HEADER = "x-gateway-assertion";
export const ASSERTION_ISSUER = "mastra-edge-auth";
/** Explicit typing (RFC 8725 §3.11): a Clerk session token can never pass for an assertion, nor the reverse. */
export const ASSERTION_TYPE = "gateway-assertion+jwt";
/** Lifetime of a minted assertion. It is checked right away by the upstream; only clock skew needs room. */
export const ASSERTION_TTL_S = 30;
/** Upper bound the verifier accepts for `exp - iat`, whoever minted the token. */
export const ASSERTION_MAX_TTL_S = 60;
export const MIN_SECRET_LENGTH = 32;

/**
 * The assertion's claims. Organisation claims use Clerk's v1 names so that the same normaliser
 * (`toIdentity`) reads a session token and an assertion alike.
 */
export interface AssertionClaims extends ClerkClaims {
  iss: typeof ASSERTION_ISSUER;
  /** The upstream origin the assertion was minted for. */
  aud: string;
  jti: string;
  sid?: string;
  org_id?: string;
  org_slug?: string;
  org_role?: string;
  org_permissions?: string[];
}

/**
 * One HMAC secret, validated once (`variable` names the setting in the `ConfigError`). The
 * imported CryptoKey is kept, never the promise of one: Workers forbid sharing I/O between requests.
 */
export class AssertionKey {
  readonly #secret: Uint8Array;
  #key: CryptoKey | null = null;

  constructor(secret: string, variable = "GATEWAY_ASSERTION_SECRET") {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
      // The value is never echoed, not even its length: it is a secret.
      throw new ConfigError(variable, `must be at least ${MIN_SECRET_LENGTH} characters (use a random value, e.g. openssl rand -base64 48)`);
    }
    this.#secret = new TextEncoder().encode(secret);
  }

  async cryptoKey(): Promise<CryptoKey> {
    this.#key ??= await crypto.subtle.importKey("raw", this.#secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    return this.#key;
  }
}

export interface MintOptions {
  /** Epoch ms. Default `Date.now()`. */
  now?: number;
  /** Default {@link ASSERTION_TTL_S}; at most {@link ASSERTION_MAX_TTL_S}. */
  ttlS?: number;
}

/** Mints the assertion for one forwarded request of `identity` to the upstream `audience` (an origin). */
export async function mintAssertion(key: AssertionKey, identity: Identity, audience: string, options: MintOptions = {}): Promise<string> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const ttl = Math.min(options.ttlS ?? ASSERTION_TTL_S, ASSERTION_MAX_TTL_S);
  const claims: Record<string, unknown> = {};
  if (identity.sessionId) claims.sid = identity.sessionId;
  if (identity.orgId) claims.org_id = identity.orgId;
  if (identity.orgSlug) claims.org_slug = identity.orgSlug;
  if (identity.orgRole) claims.org_role = identity.orgRole;
  if (identity.orgPermissions.length) claims.org_permissions = identity.orgPermissions;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: ASSERTION_TYPE })
    .setIssuer(ASSERTION_ISSUER)
    .setSubject(identity.userId)
    .setAudience(audience)
    .setJti(crypto.randomUUID())
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + ttl)
    .sign(await key.cryptoKey());
}

export interface VerifyAssertionOptions {
  /** Accepted `aud` values (origins). */
  audience: string | readonly string[];
  /** Epoch ms. Default `Date.now()`. */
  now?: number;
  /** Tolerance for `exp`/`nbf`/`iat` between the gateway's clock and this one. Default 5000 ms. */
  clockSkewMs?: number;
}

/**
 * Verifies an assertion against one or more keys (more than one while a secret is rotated).
 * Throws {@link AssertionError}; never says which part of a forged token was wrong beyond that.
 */
export async function verifyAssertion(token: string, keys: readonly AssertionKey[], options: VerifyAssertionOptions): Promise<AssertionClaims> {
  if (!token) throw new AssertionError("assertion-missing", `no ${ASSERTION_HEADER} header: the request did not come through the gateway`);
  const skewS = (options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS) / 1000;
  const currentDate = new Date(options.now ?? Date.now());
  let lastError: unknown;
  for (const key of keys) {
    try {
      const { payload } = await jwtVerify(token, await key.cryptoKey(), {
        algorithms: ["HS256"],
        typ: ASSERTION_TYPE,
        issuer: ASSERTION_ISSUER,
        audience: [...(typeof options.audience === "string" ? [options.audience] : options.audience)],
        clockTolerance: skewS,
        maxTokenAge: ASSERTION_MAX_TTL_S + skewS,
        currentDate,
        requiredClaims: ["sub", "jti", "iat", "exp", "nbf"],
      });
      const claims = payload as unknown as AssertionClaims;
      if (typeof claims.aud !== "string") throw new AssertionError("assertion-invalid", "assertion aud must be one origin");
      if (claims.exp - claims.iat > ASSERTION_MAX_TTL_S) throw new AssertionError("assertion-invalid", `assertion lifetime exceeds ${ASSERTION_MAX_TTL_S} s`);
      if (claims.iat > currentDate.getTime() / 1000 + skewS) throw new AssertionError("assertion-invalid", "assertion was issued in the future");
      return claims;
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      lastError = error;
      // Only a signature mismatch means "try the next key"; anything else is final for this token.
      if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
    }
  }
  throw toAssertionError(lastError);
}

function toAssertionError(error: unknown): AssertionError {
  if (error instanceof joseErrors.JWTExpired) return new AssertionError("assertion-expired", "assertion has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === "aud") {
    return new AssertionError("assertion-audience", "assertion was minted for another upstream");
  }
  return new AssertionError("assertion-invalid", "assertion is not valid");
}
