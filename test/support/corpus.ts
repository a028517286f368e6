// The differential corpus: Clerk-shaped tokens, valid and broken in every way we know of, each with
// the answer this project gives and the answer @clerk/backend's verifyToken gives. Where the two
// disagree on accept vs reject, the case must name an entry of DIVERGENCES, and that entry's
// predicate must hold for the token: every difference with Clerk is listed here with its reason.
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { buildClerkClaims } from "../../scripts/lib/clerk-token.mjs";
import { ISSUER, type SigningKey } from "../worker/helpers.js";
import { b64u, type Json, nonCanonicalSpellings, pemOf, reencode, signHs256, signRsa, spkiOf, split, withFields } from "./jws.js";

/** What one verifier answered: "accept" or the rejection's reason code. */
export type Outcome = "accept" | string;

/** The authorized parties used when a case turns them on (both sides get exactly this list). */
export const AUTHORIZED_PARTIES = ["https://app.example.com", "https://admin.example.com"];
export const CLOCK_SKEW_MS = 5_000;
/** Clerk's category for machine (M2M) JWTs, which its verifyToken refuses as a session token. */
export const CLERK_M2M_CATEGORY = "cl_B7d4PD333AAA";

export interface DecodedToken {
  raw: string;
  header: Json | null;
  payload: Json | null;
}

export function decodeToken(raw: string): DecodedToken {
  const parts = raw.split(".");
  const safe = (segment: string | undefined): Json | null => {
    try {
      const value = b64u.json(segment ?? "");
      return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
    } catch {
      return null;
    }
  };
  return { raw, header: parts.length === 3 ? safe(parts[0]) : null, payload: parts.length === 3 ? safe(parts[1]) : null };
}

export type KeyMode = "pem" | "jwks";

export interface Divergence {
  /** stricter: we reject what Clerk accepts (deliberate). laxer: we accept what Clerk rejects. */
  direction: "stricter" | "laxer";
  why: string;
  /** Does this difference apply to the token? (Checked on every disagreement, corpus and random.) */
  applies(token: DecodedToken, mode: KeyMode): boolean;
  /** The reason codes we answer with when this is why we reject (stricter only). */
  ourReasons?: string[];
}

const TIME_CLAIMS = ["exp", "nbf", "iat"] as const;
const isNumber = (v: unknown): v is number => typeof v === "number";
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"];

/**
 * Every known difference between this project's verifier and `@clerk/backend@3.25.0`'s
 * `verifyToken(token, { jwtKey | secretKey, issuer, authorizedParties, clockSkewInMs })`.
 */
export const DIVERGENCES = {
  // ---- deliberately stricter ----
  "nbf-required": {
    direction: "stricter",
    why: "Clerk session tokens always carry nbf; Clerk skips the check when it is absent, we require it (README: exp, nbf, iat required)",
    applies: (t) => !!t.payload && t.payload.nbf === undefined,
    ourReasons: ["token-invalid"],
  },
  "iat-required": {
    direction: "stricter",
    why: "likewise for iat: Clerk skips the check when it is absent, we require it",
    applies: (t) => !!t.payload && t.payload.iat === undefined,
    ourReasons: ["token-invalid"],
  },
  "numericdate-range": {
    direction: "stricter",
    why: "a time claim outside 0..1e11 s is not a plausible NumericDate: we reject it; Clerk accepts e.g. exp=1e300 (Date overflows to NaN, and NaN <= now is false, so never expired) or a negative nbf",
    applies: (t) => TIME_CLAIMS.some((c) => isNumber(t.payload?.[c]) && ((t.payload![c] as number) < 0 || (t.payload![c] as number) > 1e11)),
    ourReasons: ["token-invalid"],
  },
  "fractional-nbf-iat": {
    direction: "stricter",
    why: "Clerk truncates NumericDates to whole seconds (Date#setUTCSeconds); we compare the exact value, so a fractional nbf/iat up to 1 s beyond the skew is rejected by us only",
    applies: (t) => (["nbf", "iat"] as const).some((c) => isNumber(t.payload?.[c]) && !Number.isInteger(t.payload![c])),
    ourReasons: ["token-not-active-yet", "token-iat-in-the-future"],
  },
  "kid-required": {
    direction: "stricter",
    why: "with a PEM key (CLERK_JWT_KEY / jwtKey) Clerk ignores the kid entirely; we still require a kid of at most 256 printable ASCII characters",
    applies: (t, mode) =>
      mode === "pem" &&
      !!t.header &&
      (typeof t.header.kid !== "string" || t.header.kid === "" || t.header.kid.length > 256 || !/^[\x21-\x7e]+$/.test(t.header.kid)),
    ourReasons: ["token-invalid"],
  },
  "key-carrying-headers": {
    direction: "stricter",
    why: "jku/x5u/jwk/x5c/x5t/x5t#S256 are never used by either side; Clerk ignores them, we reject them (RFC 8725 §3.10)",
    applies: (t) => !!t.header && FORBIDDEN_HEADERS.some((h) => h in t.header!),
    ourReasons: ["token-invalid"],
  },
  "crit": {
    direction: "stricter",
    why: "Clerk ignores crit; we (through jose) reject unknown critical extensions as RFC 7515 §4.1.11 requires",
    applies: (t) => !!t.header && "crit" in t.header,
    ourReasons: ["token-invalid"],
  },
  "cty": {
    direction: "stricter",
    why: "no nested tokens: we reject any cty; Clerk ignores it",
    applies: (t) => !!t.header && "cty" in t.header,
    ourReasons: ["token-invalid"],
  },
  "b64": {
    direction: "stricter",
    why: "no RFC 7797 unencoded payloads: we reject any b64 header; Clerk ignores it",
    applies: (t) => !!t.header && "b64" in t.header,
    ourReasons: ["token-invalid"],
  },
  "sts-pending": {
    direction: "stricter",
    why: "Clerk's verifyToken does not look at sts (pending sessions are handled later, in authenticateRequest); we reject them unless CLERK_ACCEPT_PENDING_SESSIONS=true",
    applies: (t) => t.payload?.sts === "pending",
    ourReasons: ["session-token-pending"],
  },
  "sub-non-empty": {
    direction: "stricter",
    why: "Clerk only asks sub to be a string; we also refuse the empty string (it would be an identity with no user)",
    applies: (t) => t.payload?.sub === "",
    ourReasons: ["token-invalid"],
  },
  "token-size": {
    direction: "stricter",
    why: "tokens over 8 KiB are rejected before any parsing (Clerk's are ~1 KiB); Clerk has no limit",
    applies: (t) => t.raw.length > 8 * 1024,
    ourReasons: ["token-too-large"],
  },
  "strict-base64url": {
    direction: "stricter",
    why: "we accept only unpadded base64url segments; Clerk decodes loosely, so '=' padding on the signature still verifies there",
    applies: (t) => t.raw.split(".").some((s) => !/^[A-Za-z0-9_-]+$/.test(s)),
    ourReasons: ["token-invalid"],
  },
  "machine-sub": {
    direction: "stricter",
    why: "a sub starting mch_ is a Clerk machine id; verifyToken does not look, @clerk/backend's authenticateRequest rejects it, and so do we",
    applies: (t) => typeof t.payload?.sub === "string" && t.payload.sub.startsWith("mch_"),
    ourReasons: ["token-invalid", "token-type-mismatch"],
  },
  // ---- laxer than Clerk (the test pins today's behaviour) ----
  "fractional-exp": {
    direction: "laxer",
    why: "Clerk truncates exp to whole seconds, so a fractional exp expires up to 1 s earlier there; we compare the exact value (RFC 7519 allows non-integer NumericDates)",
    applies: (t) => isNumber(t.payload?.exp) && !Number.isInteger(t.payload!.exp),
  },
} satisfies Record<string, Divergence>;

export type DivergenceId = keyof typeof DIVERGENCES;

export interface CorpusContext {
  /** The instance key: in the JWKS, and the PEM in pem mode. */
  key: SigningKey;
  /** A second key the JWKS also serves (rotation). */
  rotated: SigningKey;
  /** An attacker's key, in no key set. */
  attacker: SigningKey;
  /** The pinned clock, in seconds. */
  now: number;
}

export interface CorpusCase {
  name: string;
  mode: KeyMode;
  /** Configure AUTHORIZED_PARTIES on both sides. */
  parties?: boolean;
  make(ctx: CorpusContext): Promise<string>;
  ours: Outcome;
  clerk: Outcome;
  /** Required when exactly one side accepts. */
  divergence?: DivergenceId;
  /** Required when both reject with different reason codes: why. */
  reasonsDiffer?: string;
}

/** A Clerk v2 session token's claims at `now`, as scripts/lib/clerk-token.mjs builds them. */
export function claimsAt(now: number, options: Record<string, unknown> = {}): Json {
  return buildClerkClaims({ issuer: ISSUER, now, azp: AUTHORIZED_PARTIES[0], sub: "user_diff", ...options }) as Json;
}

export function headerFor(key: SigningKey, extra: Json = {}): Json {
  return withFields({ alg: "RS256", kid: key.kid, typ: "JWT" }, extra);
}

/** A token signed (RS256) by `key` with Clerk-shaped claims, then the given edits. */
function signed(opts: { header?: Json; claims?: Json; claimOptions?: Record<string, unknown>; by?: "key" | "rotated" | "attacker" } = {}) {
  return ({ key, rotated, attacker, now }: CorpusContext) => {
    const signer = opts.by === "attacker" ? attacker : opts.by === "rotated" ? rotated : key;
    return signRsa(signer, headerFor(signer, opts.header), withFields(claimsAt(now, opts.claimOptions), opts.claims ?? {}));
  };
}

/** Relative times: `at(+6)` is now + 6 s. */
const rel = (offset: number) => (now: number) => now + offset;

function timed(claims: Record<string, (now: number) => unknown>) {
  return (ctx: CorpusContext) =>
    signed({ claims: Object.fromEntries(Object.entries(claims).map(([k, f]) => [k, f(ctx.now)])) })(ctx);
}

const KEY_DETAILS_DIFFER = "Clerk answers token-verification-failed for a claim of the wrong type; we say token-invalid (malformed claims)";

/** The corpus. Outcomes are what each side answers today; the test checks both against reality. */
export const CORPUS: CorpusCase[] = [
  // ---------------------------------------------------------------- valid tokens
  { name: "valid v2 token", mode: "pem", make: signed(), ours: "accept", clerk: "accept" },
  { name: "valid v1 token with an org", mode: "pem", make: signed({ claimOptions: { version: 1, org: { id: "org_1", role: "admin", permissions: ["org:a:b"] } } }), ours: "accept", clerk: "accept" },
  { name: "valid v2 token with an org", mode: "pem", make: signed({ claimOptions: { org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run"] } } }), ours: "accept", clerk: "accept" },
  { name: "valid token without typ", mode: "pem", make: signed({ header: { typ: undefined } }), ours: "accept", clerk: "accept" },
  { name: "valid token with an unknown harmless header field", mode: "pem", make: signed({ header: { foo: "bar" } }), ours: "accept", clerk: "accept" },
  { name: "valid token with an aud claim (no audience configured)", mode: "pem", make: signed({ claims: { aud: "someone" } }), ours: "accept", clerk: "accept" },
  { name: "valid token with an allowed azp, parties configured", mode: "pem", parties: true, make: signed(), ours: "accept", clerk: "accept" },
  { name: "valid token without azp, no parties configured", mode: "pem", make: signed({ claims: { azp: undefined } }), ours: "accept", clerk: "accept" },
  { name: "kid unknown with a PEM key (the kid is not used)", mode: "pem", make: signed({ header: { kid: "ins_unknown" } }), ours: "accept", clerk: "accept" },
  { name: "sub of a machine (mch_) — verifyToken level", mode: "pem", make: signed({ claims: { sub: "mch_2abc" } }), ours: "token-type-mismatch", clerk: "accept", divergence: "machine-sub" },
  { name: "valid token from the JWKS", mode: "jwks", make: signed(), ours: "accept", clerk: "accept" },
  { name: "valid token signed by the rotated key (second JWKS entry)", mode: "jwks", make: signed({ by: "rotated" }), ours: "accept", clerk: "accept" },

  // ---------------------------------------------------------------- time, at the skew boundaries (5 s)
  { name: "exp 4 s ago (inside the skew)", mode: "pem", make: timed({ exp: rel(-4) }), ours: "accept", clerk: "accept" },
  { name: "exp exactly at now - skew", mode: "pem", make: timed({ exp: rel(-5) }), ours: "token-expired", clerk: "token-expired" },
  { name: "exp 1 s past the skew", mode: "pem", make: timed({ exp: rel(-6) }), ours: "token-expired", clerk: "token-expired" },
  { name: "exp long ago", mode: "pem", make: timed({ exp: rel(-3600), iat: rel(-3700), nbf: rel(-3710) }), ours: "token-expired", clerk: "token-expired" },
  { name: "nbf exactly at now + skew", mode: "pem", make: timed({ nbf: rel(5) }), ours: "accept", clerk: "accept" },
  { name: "nbf 1 s past the skew (in the future)", mode: "pem", make: timed({ nbf: rel(6) }), ours: "token-not-active-yet", clerk: "token-not-active-yet" },
  { name: "iat exactly at now + skew", mode: "pem", make: timed({ iat: rel(5) }), ours: "accept", clerk: "accept" },
  { name: "iat 1 s past the skew (in the future)", mode: "pem", make: timed({ iat: rel(6) }), ours: "token-iat-in-the-future", clerk: "token-iat-in-the-future" },
  { name: "exp missing", mode: "pem", make: signed({ claims: { exp: undefined } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "exp as a string", mode: "pem", make: signed({ claims: { exp: "9999999999" } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "exp null", mode: "pem", make: signed({ claims: { exp: null } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "nbf as a string", mode: "pem", make: signed({ claims: { nbf: "0" } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "iat as a string", mode: "pem", make: signed({ claims: { iat: "1" } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "nbf missing", mode: "pem", make: signed({ claims: { nbf: undefined } }), ours: "token-invalid", clerk: "accept", divergence: "nbf-required" },
  { name: "iat missing", mode: "pem", make: signed({ claims: { iat: undefined } }), ours: "token-invalid", clerk: "accept", divergence: "iat-required" },
  { name: "exp 1e300", mode: "pem", make: signed({ claims: { exp: 1e300 } }), ours: "token-invalid", clerk: "accept", divergence: "numericdate-range" },
  { name: "exp in the year 8300 (2e11)", mode: "pem", make: signed({ claims: { exp: 2e11 } }), ours: "token-invalid", clerk: "accept", divergence: "numericdate-range" },
  { name: "nbf negative", mode: "pem", make: signed({ claims: { nbf: -1 } }), ours: "token-invalid", clerk: "accept", divergence: "numericdate-range" },
  { name: "exp negative", mode: "pem", make: signed({ claims: { exp: -1 } }), ours: "token-invalid", clerk: "token-expired", reasonsDiffer: "we reject a negative NumericDate as malformed before the time checks" },
  { name: "nbf 5.5 s ahead (fractional)", mode: "pem", make: timed({ nbf: rel(5.5) }), ours: "token-not-active-yet", clerk: "accept", divergence: "fractional-nbf-iat" },
  { name: "exp 4.5 s ago (fractional)", mode: "pem", make: timed({ exp: rel(-4.5) }), ours: "accept", clerk: "token-expired", divergence: "fractional-exp" },

  // ---------------------------------------------------------------- issuer (Clerk given `issuer`, see the test)
  { name: "iss of another instance", mode: "pem", make: signed({ claims: { iss: "https://evil.example" } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss with a suffix (.evil.example)", mode: "pem", make: signed({ claims: { iss: `${ISSUER}.evil.example` } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss with a trailing slash", mode: "pem", make: signed({ claims: { iss: `${ISSUER}/` } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss as a prefix of the issuer", mode: "pem", make: signed({ claims: { iss: ISSUER.slice(0, -1) } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss upper-cased", mode: "pem", make: signed({ claims: { iss: ISSUER.toUpperCase() } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss missing", mode: "pem", make: signed({ claims: { iss: undefined } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },
  { name: "iss as an array holding the issuer", mode: "pem", make: signed({ claims: { iss: [ISSUER] } }), ours: "token-invalid-issuer", clerk: "token-invalid-issuer" },

  // ---------------------------------------------------------------- authorized parties
  { name: "azp not allowed", mode: "pem", parties: true, make: signed({ claims: { azp: "https://evil.example.com" } }), ours: "token-invalid-authorized-parties", clerk: "token-invalid-authorized-parties" },
  { name: "azp missing while parties are configured", mode: "pem", parties: true, make: signed({ claims: { azp: undefined } }), ours: "token-invalid-authorized-parties", clerk: "token-invalid-authorized-parties" },
  { name: "azp empty while parties are configured", mode: "pem", parties: true, make: signed({ claims: { azp: "" } }), ours: "token-invalid-authorized-parties", clerk: "token-invalid-authorized-parties" },
  { name: "azp with a trailing slash", mode: "pem", parties: true, make: signed({ claims: { azp: `${AUTHORIZED_PARTIES[0]}/` } }), ours: "token-invalid-authorized-parties", clerk: "token-invalid-authorized-parties" },
  { name: "azp as an array holding an allowed party", mode: "pem", parties: true, make: signed({ claims: { azp: [AUTHORIZED_PARTIES[0]] } }), ours: "token-invalid-authorized-parties", clerk: "token-invalid-authorized-parties" },

  // ---------------------------------------------------------------- subject and session state
  { name: "sub missing", mode: "pem", make: signed({ claims: { sub: undefined } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "sub a number", mode: "pem", make: signed({ claims: { sub: 42 } }), ours: "token-invalid", clerk: "token-verification-failed", reasonsDiffer: KEY_DETAILS_DIFFER },
  { name: "sub empty", mode: "pem", make: signed({ claims: { sub: "" } }), ours: "token-invalid", clerk: "accept", divergence: "sub-non-empty" },
  { name: "sts pending", mode: "pem", make: signed({ claimOptions: { pending: true } }), ours: "session-token-pending", clerk: "accept", divergence: "sts-pending" },

  // ---------------------------------------------------------------- algorithms and key confusion
  {
    name: "alg none, empty signature",
    mode: "pem",
    make: async ({ key, now }) => `${b64u.encode(JSON.stringify({ alg: "none", typ: "JWT", kid: key.kid }))}.${b64u.encode(JSON.stringify(claimsAt(now)))}.`,
    ours: "token-invalid",
    clerk: "token-invalid-algorithm",
    reasonsDiffer: "an empty third segment fails our shape check (three non-empty base64url segments) before the header is read",
  },
  { name: "alg none, signature kept", mode: "pem", make: async (ctx) => reencode(await signed()(ctx), { header: (h) => ({ ...h, alg: "none" }) }), ours: "token-invalid-algorithm", clerk: "token-invalid-algorithm" },
  { name: "alg None (case variant)", mode: "pem", make: async (ctx) => reencode(await signed()(ctx), { header: (h) => ({ ...h, alg: "None" }) }), ours: "token-invalid-algorithm", clerk: "token-invalid-algorithm" },
  {
    name: "HS256 signed with the PEM text of the public key (key confusion)",
    mode: "pem",
    make: async ({ key, now }) => signHs256(new TextEncoder().encode(await pemOf(key)), { alg: "HS256", typ: "JWT", kid: key.kid }, claimsAt(now)),
    ours: "token-invalid-algorithm",
    clerk: "token-invalid-algorithm",
  },
  {
    name: "HS256 signed with the DER (SPKI) bytes of the public key",
    mode: "pem",
    make: async ({ key, now }) => signHs256(await spkiOf(key), { alg: "HS256", typ: "JWT", kid: key.kid }, claimsAt(now)),
    ours: "token-invalid-algorithm",
    clerk: "token-invalid-algorithm",
  },
  {
    name: "HS256 key confusion against the JWKS",
    mode: "jwks",
    make: async ({ key, now }) => signHs256(new TextEncoder().encode(JSON.stringify(key.publicJwk)), { alg: "HS256", typ: "JWT", kid: key.kid }, claimsAt(now)),
    ours: "token-invalid-algorithm",
    clerk: "token-invalid-algorithm",
  },
  {
    name: "RS384, properly signed with the instance key",
    mode: "pem",
    make: ({ key, now }) => signRsa(key, headerFor(key, { alg: "RS384" }), claimsAt(now), "RS384"),
    ours: "token-invalid-algorithm",
    clerk: "token-verification-failed",
    reasonsDiffer: "Clerk lets RS384 past its header check, then cannot import its RS256 key for SHA-384 (token-verification-failed); RS384 is outside our allow-list",
  },
  { name: "ES256 in the header", mode: "pem", make: signed({ header: { alg: "ES256" } }), ours: "token-invalid-algorithm", clerk: "token-invalid-algorithm" },
  { name: "alg missing", mode: "pem", make: signed({ header: { alg: undefined } }), ours: "token-invalid-algorithm", clerk: "token-invalid-algorithm" },

  // ---------------------------------------------------------------- signatures
  {
    name: "one signature byte flipped",
    mode: "pem",
    make: async (ctx) => {
      const [h, p, s] = split(await signed()(ctx));
      const bytes = b64u.decode(s);
      bytes[17] = bytes[17]! ^ 0x01;
      return `${h}.${p}.${b64u.encode(bytes)}`;
    },
    ours: "token-invalid-signature",
    clerk: "token-invalid-signature",
  },
  { name: "claims re-encoded without re-signing (sub swapped)", mode: "pem", make: async (ctx) => reencode(await signed()(ctx), { payload: (p) => ({ ...p, sub: "user_admin" }) }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "claims re-encoded without re-signing (exp extended)", mode: "pem", make: async (ctx) => reencode(await signed()(ctx), { payload: (p) => ({ ...p, exp: (p.exp as number) + 86_400 }) }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "claims re-serialised with other whitespace, same JSON", mode: "pem", make: async (ctx) => {
      const [h, p, s] = split(await signed()(ctx));
      return `${h}.${b64u.encode(JSON.stringify(b64u.json(p), null, 1))}.${s}`;
    }, ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "header re-encoded without re-signing (typ dropped)", mode: "pem", make: async (ctx) => reencode(await signed()(ctx), { header: (h) => withFields(h, { typ: undefined }) }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "signed by another key", mode: "pem", make: signed({ by: "attacker" }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "signed by another key claiming our kid (JWKS)", mode: "jwks", make: async (ctx) => reencode(await signed({ by: "attacker" })(ctx), { header: (h) => ({ ...h, kid: ctx.key.kid }) }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "signature and payload swapped", mode: "pem", make: async (ctx) => { const [h, p, s] = split(await signed()(ctx)); return `${h}.${s}.${p}`; }, ours: "token-invalid-signature", clerk: "token-invalid" , reasonsDiffer: "Clerk decodes every segment as JSON first; we check the signature before reading the payload" },
  { name: "signature padded with '='", mode: "pem", make: async (ctx) => `${await signed()(ctx)}==`, ours: "token-invalid", clerk: "accept", divergence: "strict-base64url" },
  {
    name: "signature with non-zero unused trailing bits (same bytes)",
    mode: "pem",
    make: async (ctx) => {
      const [h, p, s] = split(await signed()(ctx));
      return `${h}.${p}.${nonCanonicalSpellings(s)[0]!}`;
    },
    ours: "token-invalid",
    clerk: "token-invalid",
  },
  {
    name: "payload that is not JSON (validly signed)",
    mode: "pem",
    make: ({ key }) => signRsa(key, headerFor(key), "not json"),
    ours: "token-invalid",
    clerk: "token-invalid",
  },
  {
    name: "payload that is a JSON array (validly signed)",
    mode: "pem",
    make: ({ key }) => signRsa(key, headerFor(key), "[]"),
    ours: "token-invalid",
    clerk: "token-verification-failed",
    reasonsDiffer: KEY_DETAILS_DIFFER,
  },

  // ---------------------------------------------------------------- shape
  { name: "two segments", mode: "pem", make: async (ctx) => split(await signed()(ctx)).slice(0, 2).join("."), ours: "token-invalid", clerk: "token-invalid" },
  { name: "five segments (JWE shape)", mode: "pem", make: async (ctx) => `${await signed()(ctx)}.AAAA.BBBB`, ours: "token-invalid", clerk: "token-invalid" },
  { name: "header that is not JSON", mode: "pem", make: async (ctx) => { const [, p, s] = split(await signed()(ctx)); return `${b64u.encode("nope")}.${p}.${s}`; }, ours: "token-invalid", clerk: "token-invalid" },
  { name: "over 8 KiB (validly signed)", mode: "pem", make: signed({ claims: { padding: "x".repeat(9000) } }), ours: "token-too-large", clerk: "accept", divergence: "token-size" },

  // ---------------------------------------------------------------- header parameters
  { name: "typ at+jwt (an OAuth access token)", mode: "pem", make: signed({ header: { typ: "at+jwt" } }), ours: "token-type-mismatch", clerk: "token-invalid", reasonsDiffer: "a machine token on a session-only route: token-type-mismatch, as @clerk/backend's authenticateRequest says (verifyToken says token-invalid)" },
  { name: "typ a number", mode: "pem", make: signed({ header: { typ: 1 } }), ours: "token-invalid", clerk: "token-invalid" },
  { name: "typ lower-case jwt", mode: "pem", make: signed({ header: { typ: "jwt" } }), ours: "token-invalid", clerk: "token-invalid" },
  { name: "kid missing (PEM)", mode: "pem", make: signed({ header: { kid: undefined } }), ours: "token-invalid", clerk: "accept", divergence: "kid-required" },
  { name: "kid a number (PEM)", mode: "pem", make: signed({ header: { kid: 7 } }), ours: "token-invalid", clerk: "accept", divergence: "kid-required" },
  { name: "kid of 300 characters (PEM)", mode: "pem", make: signed({ header: { kid: "k".repeat(300) } }), ours: "token-invalid", clerk: "accept", divergence: "kid-required" },
  { name: "kid with CR/LF (PEM)", mode: "pem", make: signed({ header: { kid: "a\r\nb" } }), ours: "token-invalid", clerk: "accept", divergence: "kid-required" },
  { name: "kid missing (JWKS)", mode: "jwks", make: signed({ header: { kid: undefined } }), ours: "token-invalid", clerk: "jwk-kid-mismatch", reasonsDiffer: "we reject a token without kid as malformed; Clerk looks up the kid `undefined` and finds nothing" },
  { name: "kid unknown (JWKS)", mode: "jwks", make: signed({ header: { kid: "ins_unknown" } }), ours: "jwk-kid-mismatch", clerk: "jwk-kid-mismatch" },
  { name: "kid swapped to another JWKS key without re-signing", mode: "jwks", make: async (ctx) => reencode(await signed()(ctx), { header: (h) => ({ ...h, kid: ctx.rotated.kid }) }), ours: "token-invalid-signature", clerk: "token-invalid-signature" },
  { name: "embedded jwk (the attacker's key)", mode: "pem", make: async (ctx) => signRsa(ctx.attacker, headerFor(ctx.key, { jwk: ctx.attacker.publicJwk }), claimsAt(ctx.now)), ours: "token-invalid", clerk: "token-invalid-signature", reasonsDiffer: "we refuse the jwk header before checking the signature" },
  { name: "embedded jwk, signed by the instance key", mode: "pem", make: signed({ header: { jwk: { kty: "RSA", n: "x", e: "AQAB" } } }), ours: "token-invalid", clerk: "accept", divergence: "key-carrying-headers" },
  { name: "x5c chain", mode: "pem", make: signed({ header: { x5c: ["MIIB"] } }), ours: "token-invalid", clerk: "accept", divergence: "key-carrying-headers" },
  { name: "jku URL", mode: "jwks", make: signed({ header: { jku: "https://evil.example/jwks.json" } }), ours: "token-invalid", clerk: "accept", divergence: "key-carrying-headers" },
  { name: "x5u URL", mode: "pem", make: signed({ header: { x5u: "https://evil.example/cert.pem" } }), ours: "token-invalid", clerk: "accept", divergence: "key-carrying-headers" },
  { name: "x5t thumbprint", mode: "pem", make: signed({ header: { x5t: "abc" } }), ours: "token-invalid", clerk: "accept", divergence: "key-carrying-headers" },
  { name: "unknown crit extension", mode: "pem", make: signed({ header: { crit: ["exp-ext"], "exp-ext": true } }), ours: "token-invalid", clerk: "accept", divergence: "crit" },
  { name: "cty JWT (nested token)", mode: "pem", make: signed({ header: { cty: "JWT" } }), ours: "token-invalid", clerk: "accept", divergence: "cty" },
  { name: "b64 false", mode: "pem", make: signed({ header: { b64: false } }), ours: "token-invalid", clerk: "accept", divergence: "b64" },
  { name: "cat of a machine (M2M) token", mode: "pem", make: signed({ header: { cat: CLERK_M2M_CATEGORY } }), ours: "token-type-mismatch", clerk: "token-invalid", reasonsDiffer: "a machine token on a session-only route: token-type-mismatch, as @clerk/backend's authenticateRequest says (verifyToken says token-invalid)" },
  { name: "cat of a session token", mode: "pem", make: signed({ header: { cat: "cl_B7d4PD111AAA" } }), ours: "accept", clerk: "accept" },
];
