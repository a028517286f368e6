import { ConfigError, Reason, RetryLaterError, TokenVerificationError, type ReasonCode } from "../core/errors.js";
import { cookieSuffix } from "../credentials/clerk-cookies.js";
import { opaqueClassOf } from "../credentials/token-class.js";
import { extractToken, type CookieLookup, type ExtractedToken } from "../credentials/token.js";
import { json, jwksUnavailable, misconfigured, unauthorized } from "../http/responses.js";
import type { Identity } from "../identity/identity.js";
import type { IoContext } from "../keys/types.js";
import { NOTHING, SESSION_ONLY, takesClass, type Acceptance } from "./accepts.js";
import type { AuthConfig } from "./options.js";
import { CLASS_NAMES, type ClerkTokenVerifier } from "./verifier.js";

/** A request whose credential was verified. */
export interface Authenticated {
  ok: true;
  identity: Identity;
  /** The credential that was verified, and where it was found: the only one that may travel upstream. */
  credential: ExtractedToken;
  /** Answered from the verified-token cache. */
  cached: boolean;
}

/** A request that carries no credential at all. */
export interface Anonymous {
  ok: false;
  anonymous: true;
}

/** A request that must be refused, with everything its answer, its log line and its metric need. */
export interface Rejected {
  ok: false;
  anonymous: false;
  status: 401 | 429 | 500 | 503;
  reason: ReasonCode | "misconfigured";
  /** Safe to show to the caller. */
  message: string;
  /** Log fields: never the token. */
  kid?: string;
  source?: ExtractedToken["source"];
  variable?: string;
  retryAfterS?: number;
  tokenPresent: boolean;
}

export type Authentication = Authenticated | Anonymous | Rejected;

/**
 * Authenticates one request: finds its credential (credentials/) and verifies it as one of the
 * classes the route accepts (`accepts`, default sessions only): a JWT with the instance keys, an
 * opaque machine token (`mt_`, `oat_`, `ak_`) through Clerk's Backend API. The one copy of
 * this step, shared by the gateway's pipeline and the library's `clerkAuth`; each caller decides
 * what an anonymous request means on its route and writes its own log line and metric.
 */
export async function authenticate(headers: Headers, verifier: ClerkTokenVerifier, io: IoContext, accepts: Acceptance = SESSION_ONLY): Promise<Authentication> {
  let credential: ExtractedToken | null;
  try {
    // Synchronous once known (the hot path takes no extra turn); computed on an isolate's first request.
    credential = extractToken(headers, lookups.get(verifier.config) ?? (await cookieLookupOf(verifier.config)));
  } catch (error) {
    if (!(error instanceof TokenVerificationError)) throw error;
    return { ok: false, anonymous: false, status: 401, reason: error.reason, message: error.message, tokenPresent: true };
  }
  if (!credential) return { ok: false, anonymous: true };
  try {
    const result = await verifyCredential(verifier, credential, headers.get("cf-connecting-ip"), io, accepts);
    return { ok: true, identity: result.identity, credential, cached: result.cached };
  } catch (error) {
    const source = credential.source;
    if (error instanceof TokenVerificationError) {
      return { ok: false, anonymous: false, status: 401, reason: error.reason, message: error.message, kid: error.kid?.slice(0, 64), source, tokenPresent: true };
    }
    if (error instanceof RetryLaterError) {
      return { ok: false, anonymous: false, status: error.status, reason: error.reason, message: error.message, retryAfterS: error.retryAfterS, source, tokenPresent: true };
    }
    if (error instanceof ConfigError) {
      return { ok: false, anonymous: false, status: 500, reason: "misconfigured", message: error.message, variable: error.variable, source, tokenPresent: true };
    }
    throw error;
  }
}

/**
 * Verifies one credential as a class `accepts` allows: a JWT with the instance keys, an opaque
 * machine token (`mt_`, `oat_`, `ak_`) through Clerk's Backend API, its lookups counted against
 * `clientIp`. A cookie is a browser's session and nothing else (@clerk/backend reads machine
 * tokens from the header only). Throws the verifiers' errors.
 */
export async function verifyCredential(
  verifier: ClerkTokenVerifier,
  credential: ExtractedToken,
  clientIp: string | null,
  io: IoContext,
  accepts: Acceptance,
): Promise<{ identity: Identity; cached: boolean }> {
  // A cookie carries a session where the route takes sessions, and nothing anywhere else.
  const accepted = credential.source !== "cookie" ? accepts : takesClass(accepts, "session") ? SESSION_ONLY : NOTHING;
  const opaque = opaqueClassOf(credential.token);
  if (opaque === null) return verifier.verify(credential.token, io, accepted);
  if (!takesClass(accepted, opaque)) throw new TokenVerificationError(Reason.TokenTypeMismatch, `this route does not accept ${CLASS_NAMES[opaque]}`);
  return verifier.machineTokens.verify(credential.token, opaque, clientIp, accepted, io);
}

/** The rejection a request without any credential gets on a route that needs one. */
export const MISSING_CREDENTIAL: Rejected = Object.freeze({
  ok: false,
  anonymous: false,
  status: 401,
  reason: Reason.SessionTokenMissing,
  message: "no session token: send Authorization: Bearer <token>",
  tokenPresent: false,
});

/** The HTTP answer to a rejection: 401 with an RFC 6750 challenge, 503 with Retry-After, or 500 naming the setting. */
export function rejectionResponse(rejected: Rejected, resourceMetadata?: string): Response {
  if (rejected.reason === Reason.BackendApiUnavailable || rejected.status === 429) {
    const error = rejected.status === 429 ? "too_many_requests" : "backend_api_unavailable";
    return json({ error, reason: rejected.reason, message: rejected.message }, rejected.status, { "retry-after": String(rejected.retryAfterS ?? 1) });
  }
  if (rejected.status === 503) return jwksUnavailable(rejected.message, rejected.retryAfterS ?? 1);
  if (rejected.status === 500) return misconfigured(rejected.variable ?? "configuration");
  return unauthorized(rejected.reason as ReasonCode, rejected.message, rejected.tokenPresent, resourceMetadata);
}

/**
 * The cookie lookup of a configuration, its suffix computed once (SHA-1 is asynchronous in Web
 * Crypto). A resolved value is kept, never a promise: Workers forbid sharing I/O between requests.
 */
const lookups = new WeakMap<AuthConfig, CookieLookup>();
export async function cookieLookupOf(config: AuthConfig): Promise<CookieLookup> {
  let lookup = lookups.get(config);
  if (!lookup) {
    const { publishableKey, frontendApi, production } = config.cookies;
    lookup = { suffix: publishableKey ? await cookieSuffix(publishableKey) : null, frontendApi, production };
    lookups.set(config, lookup);
  }
  return lookup;
}
