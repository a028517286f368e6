import { Reason, TokenVerificationError } from "../core/errors.js";
import { MAX_TOKEN_BYTES } from "../core/limits.js";
import { sessionFromCookies, unverifiedIat, type CookieLookup } from "./clerk-cookies.js";

export type { CookieLookup };

/**
 * Where a session token is found, and — like Envoy's `JwtLocation` (`extract` and `removeJwt` on
 * one object) — how it is removed, so that what is verified and what is forwarded cannot drift
 * apart: the same parser reads the `Authorization` header and the `__session` cookie on both sides.
 */

export interface ExtractedToken {
  token: string;
  source: "header" | "cookie";
}

/** Clerk's session cookie on the app's own domain. */
export const SESSION_COOKIE = "__session";

/**
 * Finds the session token the way `@clerk/backend`'s `authenticateRequest` does:
 * `Authorization: Bearer <token>` first (or a bare compact JWS with no scheme, which its
 * `parseAuthorizationHeader` also takes as the token), else the session cookie — `__session`, or
 * the instance's suffixed `__session_<suffix>` when `lookup` knows the suffix and Clerk's rules
 * pick it — which counts only next to a `__client_uat` cookie no later than the token's `iat`
 * (a signed-out or since-re-signed-in browser's token is refused, as Clerk refuses it). A header
 * wins over a different cookie. Returns null when there is no token at all; throws when what is
 * there is malformed or refused (so it is never silently ignored).
 */
export function extractToken(headers: Headers, lookup: CookieLookup | null = null): ExtractedToken | null {
  const authorization = headers.get("authorization");
  if (authorization !== null && authorization.trim() !== "") {
    const fromHeader = parseBearer(authorization) ?? schemelessJws(authorization);
    if (fromHeader !== null) return { token: fromHeader, source: "header" };
  }
  const cookie = headers.get("cookie");
  if (cookie) {
    const fromCookie = cookieToken(cookie, lookup);
    if (fromCookie !== null) return { token: fromCookie, source: "cookie" };
  }
  return null;
}

/**
 * The session token of a Cookie header, with Clerk's `__client_uat` rule applied (see
 * {@link extractToken}); null when there is none.
 */
export function cookieToken(header: string, lookup: CookieLookup | null = null): string | null {
  const values = new Map<string, string[]>();
  for (const { name, value } of cookiePairs(header)) {
    if (!name.startsWith("__")) continue;
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  }
  const read = (name: string): string | undefined => {
    const found = values.get(name)?.filter((v) => v !== "");
    if (!found?.length) return undefined;
    // Two different values under one name: which one the browser meant cannot be known.
    if (found.some((v) => v !== found[0])) throw malformed(`more than one ${name} cookie with different values`);
    return found[0];
  };
  const { token, clientUat } = sessionFromCookies(read, lookup);
  if (token === null) return null;
  if (token.length > MAX_TOKEN_BYTES) throw tooLarge();
  if (clientUat === 0) {
    throw new TokenVerificationError(Reason.SessionTokenWithoutClientUat, "a session cookie without __client_uat: the browser's Clerk client is signed out");
  }
  const iat = unverifiedIat(token);
  if (iat === null) throw malformed("the session cookie is not a compact JWS with a JSON payload");
  if (iat < clientUat) {
    throw new TokenVerificationError(Reason.SessionTokenIatBeforeClientUat, "the session cookie was issued before the client's last sign-in (__client_uat)");
  }
  return token;
}

/**
 * `Bearer <token>`, scheme case-insensitive (RFC 7235 §2.1), exactly one token without inner
 * whitespace. Another scheme (Basic, …) is not ours: null, so a cookie may still apply. Two
 * Authorization headers arrive joined by ", " and so fail the one-token rule. Throws
 * {@link TokenVerificationError} for a Bearer credential that is malformed or too large.
 */
export function parseBearer(value: string): string | null {
  // Scanned by hand: a lazy regex over a 1 KB header was 2% of the gateway's CPU (commit 1086b2b).
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start++;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--;
  let sep = start;
  while (sep < end && !isBlank(value.charCodeAt(sep))) sep++;
  const scheme = value.slice(start, sep);
  if (scheme.length !== 6 || scheme.toLowerCase() !== "bearer") {
    if (/^[ \t]*bearer\b/i.test(value)) throw malformed("Authorization header is not 'Bearer <token>'");
    return null;
  }
  let from = sep;
  while (from < end && isBlank(value.charCodeAt(from))) from++;
  const token = value.slice(from, end);
  if (token === "") throw malformed("Authorization header has the Bearer scheme but no token");
  if (token.length > MAX_TOKEN_BYTES) throw tooLarge();
  if (/[\s,]/.test(token)) throw malformed("Authorization header must carry exactly one token");
  return token;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * `Authorization: <jwt>` with no scheme: `@clerk/backend` splits the value on its first space
 * and, finding none, takes the whole value as the token. Only a value shaped like a compact JWS
 * is taken here (an opaque single word — an API key of another scheme — is not ours to refuse,
 * so a cookie may still apply).
 */
function schemelessJws(value: string): string | null {
  // HTTP whitespace only (RFC 9110 §5.6.3), as Headers normalise a value: no Unicode trimming.
  const token = value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  if (token.length > MAX_TOKEN_BYTES || !COMPACT_JWS.test(token)) return null;
  return token;
}

/** {@link parseBearer} for places that only need to know the token, if any: never throws. */
export function bearerOf(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    return parseBearer(value);
  } catch {
    return null;
  }
}

/** Space or horizontal tab: the only blanks RFC 7235 allows around a credential. */
function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/** One `name=value` pair of a Cookie header, the value unquoted (RFC 6265 §4.1.1 allows DQUOTEs). */
interface CookiePair {
  name: string;
  value: string;
  /** The pair as it came, for a header rebuilt without some of its pairs. */
  raw: string;
}

function cookiePairs(header: string): CookiePair[] {
  const pairs: CookiePair[] = [];
  for (const part of header.split(";")) {
    const raw = part.trim();
    if (!raw) continue;
    const eq = raw.indexOf("=");
    if (eq < 0) {
      pairs.push({ name: "", value: raw, raw });
      continue;
    }
    let value = raw.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    pairs.push({ name: raw.slice(0, eq).trim(), value, raw });
  }
  return pairs;
}

/**
 * Removes from headers about to be forwarded every credential but the one that was verified
 * (`verified`; null when nothing was, as on an anonymous public request): session cookies
 * (`__session` and Clerk's suffixed `__session_<suffix>`) with another value, and the
 * `Authorization` header unless it carries exactly the verified token as `Bearer` — a
 * scheme-less or other-scheme value was not what was checked, and an upstream that reads the raw
 * header (Mastra does) would authenticate someone else. With `forward` false no credential
 * travels at all. The rest of the Cookie header is kept as it came.
 */
export function removeCredentials(headers: Headers, verified: ExtractedToken | null, forward: boolean): void {
  const keep = forward && verified ? verified.token : null;
  if (keep === null || verified!.source === "cookie") headers.delete("authorization");
  const cookie = headers.get("cookie");
  if (!cookie || !cookie.includes(SESSION_COOKIE)) return;
  const kept = cookiePairs(cookie).filter((p) => !isSessionCookie(p.name) || (keep !== null && p.value === keep));
  if (kept.length) headers.set("cookie", kept.map((p) => p.raw).join("; "));
  else headers.delete("cookie");
}

/** `__session`, or Clerk's per-instance `__session_<suffix>` (@clerk/backend `getSuffixedCookieName`). */
function isSessionCookie(name: string): boolean {
  return name === SESSION_COOKIE || name.startsWith(`${SESSION_COOKIE}_`);
}

/**
 * Query parameters that carry a credential to Mastra: its auth middleware reads `?apiKey=` as a
 * token when there is no Authorization header. The gateway never verifies one, so none travels.
 */
const CREDENTIAL_PARAMS = ["apiKey"] as const;

/** The query string without credential parameters (unchanged, and not re-encoded, when it has none). */
export function removeQueryCredentials(search: string): string {
  // Names are matched after percent-decoding (as Mastra's router reads them), so look closer
  // whenever one could be spelled encoded.
  if (!search || !/apikey|%/i.test(search)) return search;
  const params = new URLSearchParams(search);
  if (!CREDENTIAL_PARAMS.some((name) => params.has(name))) return search;
  for (const name of CREDENTIAL_PARAMS) params.delete(name);
  const rest = params.toString();
  return rest ? `?${rest}` : "";
}

function malformed(message: string): TokenVerificationError {
  return new TokenVerificationError(Reason.TokenInvalid, message);
}

function tooLarge(): TokenVerificationError {
  return new TokenVerificationError(Reason.TokenTooLarge, `token is larger than ${MAX_TOKEN_BYTES} bytes`);
}
