import { Reason, TokenVerificationError } from "../verify/errors.js";
import { MAX_TOKEN_BYTES } from "../verify/verifier.js";

export interface ExtractedToken {
  token: string;
  source: "header" | "cookie";
}

/** Clerk's session cookie on the app's own domain. */
export const SESSION_COOKIE = "__session";

/**
 * Finds the session token the way `@clerk/backend` does: `Authorization: Bearer <token>` first,
 * else the `__session` cookie. A header wins over a different cookie. Returns null when there is
 * no token at all; throws when what is there is malformed (so it is not silently ignored).
 */
export function extractToken(headers: Headers): ExtractedToken | null {
  const authorization = headers.get("authorization");
  if (authorization !== null && authorization.trim() !== "") {
    const fromHeader = parseBearer(authorization);
    if (fromHeader !== null) return { token: fromHeader, source: "header" };
  }
  const cookie = headers.get("cookie");
  if (cookie) {
    const fromCookie = sessionCookie(cookie);
    if (fromCookie !== null) return { token: fromCookie, source: "cookie" };
  }
  return null;
}

/**
 * `Bearer <token>`, scheme case-insensitive (RFC 7235 §2.1), exactly one token without inner
 * whitespace. Another scheme (Basic, …) is not ours: null, so a cookie may still apply. Two
 * Authorization headers arrive joined by ", " and so fail the one-token rule.
 */
function parseBearer(value: string): string | null {
  // Scanned by hand: a lazy regex over a 1 KB header was 2% of the gateway's CPU (BENCHMARKS.md §5).
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
  if (token.length > MAX_TOKEN_BYTES) {
    throw new TokenVerificationError(Reason.TokenTooLarge, `token is larger than ${MAX_TOKEN_BYTES} bytes`);
  }
  if (/[\s,]/.test(token)) throw malformed("Authorization header must carry exactly one token");
  return token;
}

/** Space or horizontal tab: the only blanks RFC 7235 allows around a credential. */
function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

function sessionCookie(header: string): string | null {
  let found: string | null = null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (value === "") continue;
    // Two different __session cookies: which one the browser meant cannot be known.
    if (found !== null && found !== value) throw malformed("more than one __session cookie with different values");
    found = value;
  }
  if (found !== null && found.length > MAX_TOKEN_BYTES) {
    throw new TokenVerificationError(Reason.TokenTooLarge, `token is larger than ${MAX_TOKEN_BYTES} bytes`);
  }
  return found;
}

function malformed(message: string): TokenVerificationError {
  return new TokenVerificationError(Reason.TokenInvalid, message);
}
