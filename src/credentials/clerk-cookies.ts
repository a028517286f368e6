import { decodeText, encodeBytes } from "../core/base64url.js";

/**
 * Which session cookie `@clerk/backend` reads, and the `__client_uat` it pairs it with. Clerk
 * suffixes its cookies per instance (`__session_<suffix>`, `__client_uat_<suffix>`, the suffix
 * being the first 8 characters of the URL-safe base64 SHA-1 of the publishable key), so that
 * two Clerk apps on one domain do not read each other's session; during the transition both
 * spellings may be present. This follows `AuthenticateContext.usesSuffixedCookies` in
 * @clerk/backend 3.x (`src/tokens/authenticateContext.ts`) rule for rule.
 */
export interface CookieLookup {
  /** The instance's cookie suffix; null without a publishable key (then only the plain names count). */
  suffix: string | null;
  /** The Frontend API host (the issuer without its scheme): tokens of another instance are not ours. */
  frontendApi: string;
  /** A `pk_live_` instance: production rules (development also drops an expired suffixed session). */
  production: boolean;
}

/** The session cookie chosen and the `__client_uat` that goes with it (0: none, the client is signed out). */
export interface CookieSession {
  token: string | null;
  clientUat: number;
}

type CookieReader = (name: string) => string | undefined;

function payloadOf(token: string): { iss?: unknown; iat?: unknown; exp?: unknown } | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(decodeText(parts[1]!));
    return payload && typeof payload === "object" ? payload : null;
  } catch {
    return null;
  }
}

function usesSuffixed(cookie: CookieReader, lookup: CookieLookup): boolean {
  const suffixedClientUat = cookie(`__client_uat_${lookup.suffix}`);
  const clientUat = cookie("__client_uat");
  const suffixedSession = cookie(`__session_${lookup.suffix}`) || "";
  const session = cookie("__session") || "";
  const plain = session ? payloadOf(session) : null;
  if (session && !(plain && plain.iss)) return false;
  if (session && (typeof plain!.iss !== "string" || plain!.iss.replace(/https?:\/\//gi, "") !== lookup.frontendApi)) return true;
  if (!suffixedClientUat && !suffixedSession) return false;
  const sessionIat = Number(plain?.iat) || 0;
  const suffixed = suffixedSession ? payloadOf(suffixedSession) : null;
  const suffixedIat = Number(suffixed?.iat) || 0;
  if (suffixedClientUat !== "0" && clientUat !== "0" && sessionIat > suffixedIat) return false;
  if (suffixedClientUat === "0" && clientUat !== "0") return false;
  if (!lookup.production) {
    const expired = !!suffixed && Number(suffixed.exp) <= Math.floor(Date.now() / 1000);
    if (suffixedClientUat !== "0" && clientUat === "0" && expired) return false;
  }
  if (!suffixedClientUat && suffixedSession) return false;
  return true;
}

/** The session token and `__client_uat` of a request's cookies, as `@clerk/backend` picks them. */
export function sessionFromCookies(cookie: CookieReader, lookup: CookieLookup | null): CookieSession {
  const suffixed = lookup?.suffix ? usesSuffixed(cookie, lookup) : false;
  const name = (base: string) => (suffixed ? `${base}_${lookup!.suffix}` : base);
  const token = cookie(name("__session")) || null;
  const clientUat = Number.parseInt(cookie(name("__client_uat")) || "", 10) || 0;
  return { token, clientUat };
}

/**
 * The `iat` of a token, read without verification (for the `__client_uat` comparison only); null
 * when the token does not even decode (Clerk answers that `token-invalid` before comparing).
 */
export function unverifiedIat(token: string): number | null {
  const payload = payloadOf(token);
  return payload ? Number(payload.iat) || 0 : null;
}

/**
 * The suffix `@clerk/shared`'s `getCookieSuffix` derives from a publishable key: URL-safe base64
 * of its SHA-1, first 8 characters (SHA-1 names cookies here; it protects nothing).
 */
export async function cookieSuffix(publishableKey: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(publishableKey)));
  return encodeBytes(digest).slice(0, 8);
}
