import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import { encodeBytes } from "../core/base64url.js";
import { AssertionError, type AssertionFailure } from "../core/errors.js";
import { DEFAULT_CLOCK_SKEW_MS } from "../core/limits.js";
import { machineIdentity, principalId, toIdentity, type ClerkClaims, type Identity } from "../identity/identity.js";
import type { AssertionSigner, AssertionVerifier } from "./keys.js";

export { AssertionError, type AssertionFailure };
export { AssertionJwk, AssertionKey, MIN_SECRET_LENGTH, parseAssertionJwks, type AssertionSigner, type AssertionVerifier } from "./keys.js";

/**
 * The gateway → upstream assertion: proof, for an upstream the gateway forwards to, that a request
 * came through the gateway, who it was for, and which request it was minted for. A short-lived
 * JWT — HS256 with `GATEWAY_ASSERTION_SECRET`, or ES256/EdDSA with `GATEWAY_ASSERTION_KEY` —
 * sent in this header. The header is stripped from every inbound request (proxy/headers.ts), so
 * only the gateway ever sets it.
 */
export const ASSERTION_HEADER = "x-gateway-assertion";
export const ASSERTION_ISSUER = "mastra-edge-auth";
/** Explicit typing (RFC 8725 §3.11): a Clerk session token can never pass for an assertion, nor the reverse. */
export const ASSERTION_TYPE = "gateway-assertion+jwt";
/** Lifetime of a minted assertion. It is checked right away by the upstream; only clock skew needs room. */
export const ASSERTION_TTL_S = 30;
/** Upper bound the verifier accepts for `exp - iat`, whoever minted the token. */
export const ASSERTION_MAX_TTL_S = 60;
const ALGORITHMS = ["HS256", "ES256", "EdDSA"];

/**
 * The assertion's claims. Organisation claims use Clerk's v1 names so that the same normaliser
 * (`toIdentity`) reads a session token and an assertion alike. `htm`/`htu` bind it to one
 * request, as DPoP proofs do (RFC 9449 §4.2): a captured assertion is useless on another method,
 * path or query, as `aud` makes it useless at another upstream and `jti` a second time.
 */
export interface AssertionClaims extends ClerkClaims {
  iss: typeof ASSERTION_ISSUER;
  /** The upstream origin the assertion was minted for. */
  aud: string;
  jti: string;
  /** The request's method. */
  htm: string;
  /** The request's path and query as the upstream receives them (its origin is `aud`). */
  htu: string;
  sid?: string;
  org_id?: string;
  org_slug?: string;
  org_role?: string;
  org_permissions?: string[];
  /** A machine credential's class (absent: a session) and facts; `sub` is then the machine, org or user it stands for. */
  token_type?: "m2m_token" | "oauth_token" | "api_key";
  client_id?: string;
  token_id?: string;
  key_name?: string;
  scopes?: string[];
  /**
   * Set only on an assertion the gateway mints for itself, never for a user: the gateway's own
   * service principal (`sub` is `gateway:<svc>`), e.g. `agent-directory` reading the agent list.
   */
  svc?: string;
}

/** The service principal of the gateway's agent directory: it reads `GET <prefix>/agents` and agent cards. */
export const DIRECTORY_SERVICE = "agent-directory";

/** The request an assertion is minted for, or checked against: its method and its URL at the upstream. */
export interface AssertedRequest {
  method: string;
  url: string | URL;
}

export interface MintOptions {
  /** Epoch ms. Default `Date.now()`. */
  now?: number;
  /** Default {@link ASSERTION_TTL_S}; at most {@link ASSERTION_MAX_TTL_S}. */
  ttlS?: number;
}

/** `htu`: the path and query of a URL, exactly as sent (no re-encoding). */
function targetOf(url: string | URL): string {
  const parsed = typeof url === "string" ? new URL(url) : url;
  return parsed.pathname + parsed.search;
}

/**
 * Mints the assertion for one forwarded request of `identity` to the upstream `audience` (an
 * origin), bound to `request` (the upstream URL it is sent to).
 */
export async function mintAssertion(key: AssertionSigner, identity: Identity, audience: string, request: AssertedRequest, options: MintOptions = {}): Promise<string> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const ttl = Math.min(options.ttlS ?? ASSERTION_TTL_S, ASSERTION_MAX_TTL_S);
  const claims: Record<string, unknown> = { htm: request.method.toUpperCase(), htu: targetOf(request.url) };
  if (identity.sessionId) claims.sid = identity.sessionId;
  if (identity.orgId) claims.org_id = identity.orgId;
  if (identity.orgSlug) claims.org_slug = identity.orgSlug;
  if (identity.orgRole) claims.org_role = identity.orgRole;
  if (identity.orgPermissions.length) claims.org_permissions = identity.orgPermissions;
  if (identity.tokenType !== "session_token") {
    // A machine (issue #13): its class and its own facts, so the upstream rebuilds the same identity.
    claims.token_type = identity.tokenType;
    if (identity.clientId) claims.client_id = identity.clientId;
    if (identity.tokenId) claims.token_id = identity.tokenId;
    if (identity.name) claims.key_name = identity.name;
    claims.scopes = identity.scopes;
  }
  return sign(key, { ...claims, iss: ASSERTION_ISSUER, sub: principalId(identity), aud: audience, jti: crypto.randomUUID(), iat, nbf: iat, exp: iat + ttl });
}

/**
 * Mints an assertion for the gateway's own service principal `service` (`sub` `gateway:<service>`,
 * claim `svc`), bound to one request like a user's. A user's assertion never carries `svc`
 * (mintAssertion copies no claim of the token but the ones above), so an upstream tells the two apart.
 */
export async function mintServiceAssertion(key: AssertionSigner, service: string, audience: string, request: AssertedRequest, options: MintOptions = {}): Promise<string> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const ttl = Math.min(options.ttlS ?? ASSERTION_TTL_S, ASSERTION_MAX_TTL_S);
  return sign(key, {
    htm: request.method.toUpperCase(),
    htu: targetOf(request.url),
    svc: service,
    iss: ASSERTION_ISSUER,
    sub: `gateway:${service}`,
    aud: audience,
    jti: crypto.randomUUID(),
    iat,
    nbf: iat,
    exp: iat + ttl,
  });
}

/** Web Crypto's parameters for signing with each assertion algorithm (RFC 7518 §3.2, §3.4; RFC 8037 §3.1). */
const SIGNING: Record<string, Parameters<SubtleCrypto["sign"]>[0]> = { HS256: "HMAC", ES256: { name: "ECDSA", hash: "SHA-256" }, EdDSA: "Ed25519" };

/**
 * Signs a claims set as a compact JWS (RFC 7515 §7.1) with the assertion's header, with Web
 * Crypto as the verifier checks Clerk's signatures (verify/signature.ts): the key was imported for
 * exactly this alg (keys.ts), and jose's signing path would be 4 KiB of the deploy bundle (issue
 * #14's budget) for nothing more. Upstreams verify with jose's jwtVerify (below).
 */
async function sign(key: AssertionSigner, claims: Record<string, unknown>): Promise<string> {
  const header: { alg: string; typ: string; kid?: string } = { alg: key.alg, typ: ASSERTION_TYPE };
  if (key.kid) header.kid = key.kid;
  const utf8 = new TextEncoder();
  const input = `${encodeBytes(utf8.encode(JSON.stringify(header)))}.${encodeBytes(utf8.encode(JSON.stringify(claims)))}`;
  const signature = await crypto.subtle.sign(SIGNING[key.alg]!, await key.signingKey(), utf8.encode(input));
  return `${input}.${encodeBytes(new Uint8Array(signature))}`;
}

export interface VerifyAssertionOptions {
  /** Accepted `aud` values (origins). Required: never taken from the request itself. */
  audience: string | readonly string[];
  /** The request being checked: its method and URL must be the ones the assertion names. */
  request: AssertedRequest;
  /** Epoch ms. Default `Date.now()`. */
  now?: number;
  /** Tolerance for `exp`/`nbf`/`iat` between the gateway's clock and this one. Default 5000 ms. */
  clockSkewMs?: number;
}

/**
 * Verifies an assertion against one or more keys (more than one while a key is rotated; a
 * token's `kid` picks among public keys). Throws {@link AssertionError}; never says which part of
 * a forged token was wrong beyond that.
 */
export async function verifyAssertion(token: string, keys: readonly AssertionVerifier[], options: VerifyAssertionOptions): Promise<AssertionClaims> {
  if (!token) throw new AssertionError("assertion-missing", `no ${ASSERTION_HEADER} header: the request did not come through the gateway`);
  const audience = typeof options.audience === "string" ? [options.audience] : [...(options.audience ?? [])];
  if (audience.length === 0) throw new AssertionError("assertion-audience", "no audience configured to check the assertion against");
  if (!options.request?.method || !options.request.url) throw new AssertionError("assertion-binding", "the request's method and URL are needed to check an assertion");
  const skewS = (options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS) / 1000;
  const currentDate = new Date(options.now ?? Date.now());
  const candidates = keysFor(token, keys);
  let lastError: unknown;
  for (const key of candidates) {
    try {
      const { payload } = await jwtVerify(token, await key.verificationKey(), {
        algorithms: [key.alg],
        typ: ASSERTION_TYPE,
        issuer: ASSERTION_ISSUER,
        audience,
        clockTolerance: skewS,
        maxTokenAge: ASSERTION_MAX_TTL_S + skewS,
        currentDate,
        requiredClaims: ["sub", "jti", "iat", "exp", "nbf", "htm", "htu"],
      });
      const claims = payload as unknown as AssertionClaims;
      if (typeof claims.aud !== "string") throw new AssertionError("assertion-invalid", "assertion aud must be one origin");
      if (claims.exp - claims.iat > ASSERTION_MAX_TTL_S) throw new AssertionError("assertion-invalid", `assertion lifetime exceeds ${ASSERTION_MAX_TTL_S} s`);
      if (claims.iat > currentDate.getTime() / 1000 + skewS) throw new AssertionError("assertion-invalid", "assertion was issued in the future");
      if (claims.htm !== options.request.method.toUpperCase() || claims.htu !== targetOf(options.request.url)) {
        throw new AssertionError("assertion-binding", "assertion was minted for another request (method, path or query)");
      }
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

/** The keys worth trying for a token: those of its `alg`, and of its `kid` when it names one. */
function keysFor(token: string, keys: readonly AssertionVerifier[]): readonly AssertionVerifier[] {
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new AssertionError("assertion-invalid", "assertion is not valid");
  }
  if (typeof header.alg !== "string" || !ALGORITHMS.includes(header.alg)) throw new AssertionError("assertion-invalid", "assertion is not valid");
  const matching = keys.filter((k) => k.alg === header.alg && (typeof header.kid !== "string" || k.kid === undefined || k.kid === header.kid));
  if (matching.length === 0) throw new AssertionError("assertion-invalid", "assertion is not signed with a configured key");
  return matching;
}

function toAssertionError(error: unknown): AssertionError {
  if (error instanceof joseErrors.JWTExpired) return new AssertionError("assertion-expired", "assertion has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === "aud") {
    return new AssertionError("assertion-audience", "assertion was minted for another upstream");
  }
  return new AssertionError("assertion-invalid", "assertion is not valid");
}

const MACHINE_TYPES: ReadonlySet<string> = new Set(["m2m_token", "oauth_token", "api_key"]);

/**
 * The identity an assertion vouches for: a session's (Clerk's v1 claim names, read by
 * `toIdentity`), or a machine's when it carries `token_type` (issue #13).
 */
export function identityFromAssertion(claims: AssertionClaims): Identity {
  const type = claims.token_type;
  if (type === undefined) return toIdentity(claims);
  if (typeof type !== "string" || !MACHINE_TYPES.has(type)) throw new AssertionError("assertion-invalid", "assertion token_type is not one of Clerk's machine token types");
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  return machineIdentity({
    tokenType: type,
    subject: claims.sub,
    tokenId: text(claims.token_id),
    clientId: text(claims.client_id),
    name: text(claims.key_name),
    scopes: Array.isArray(claims.scopes) ? claims.scopes.filter((s): s is string => typeof s === "string") : [],
    claims,
  });
}
