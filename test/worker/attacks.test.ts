// The RFC 8725 attack catalogue, as one table driven through the whole gateway with an upstream
// bound: every case is a request to a protected Mastra route that must be answered 401 with the
// expected reason, never reach the upstream, never be a 5xx, and never make the gateway fetch
// anything but the configured JWKS URL (jku/x5u are never followed). Each case runs twice: on a
// cold gateway (no keys yet: the attack is the first request it sees) and on a warm one (keys and
// a verified token already cached).
import { base64url } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { Reason, type ReasonCode } from "../../src/core/errors.js";
import { body, Clock, FakeOrigin, harness, ISSUER, mint, newKey, newWeakKey, uniqueJwksEnv, type MintOptions, type SigningKey } from "./helpers.js";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { mintM2MToken, mintOAuthAccessToken } from "../../scripts/lib/clerk-token.mjs";

const ROUTE = "/api/agents/weatherAgent/generate";
const PARTY = "https://app.example.com";
const encoder = new TextEncoder();

let key: SigningKey;
let attacker: SigningKey;
let weak: SigningKey;
/** The attacker's key under our kid: a machine token it signs must fail on the signature. */
let impostor: SigningKey;

beforeAll(async () => {
  key = await newKey();
  attacker = await newKey();
  weak = await newWeakKey("ins_weak1024");
  impostor = await newKey(key.kid);
});

// ------------------------------------------------------------------------------ token forging

const seg = (value: unknown) => base64url.encode(typeof value === "string" ? value : JSON.stringify(value));
const decodeSeg = (segment: string) => JSON.parse(new TextDecoder().decode(base64url.decode(segment))) as Record<string, unknown>;

function parts(token: string): [string, string, string] {
  return token.split(".") as [string, string, string];
}

/** The key's public half as SPKI DER, PEM text and JWK JSON: the three spellings an HS256 key-confusion attack tries. */
async function publicKeyBytes(k: SigningKey) {
  const { kty, n, e } = k.publicJwk;
  const imported = await crypto.subtle.importKey("jwk", { kty, n, e }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
  const der = new Uint8Array((await crypto.subtle.exportKey("spki", imported)) as ArrayBuffer);
  const b64 = btoa(String.fromCharCode(...der));
  const pem = `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----\n`;
  return { der, pem: encoder.encode(pem), jwk: encoder.encode(JSON.stringify(k.publicJwk)) };
}

async function hmac(secret: Uint8Array, input: string): Promise<string> {
  const mac = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return base64url.encode(new Uint8Array(await crypto.subtle.sign("HMAC", mac, encoder.encode(input))));
}

/** HS256 over the claims of a real token, keyed with bytes of the RSA public key, header saying `alg`. */
async function keyConfusion(c: Ctx, which: "der" | "pem" | "jwk", alg = "HS256") {
  const claims = decodeSeg(parts(await c.token())[1]);
  const input = `${seg({ alg, kid: key.kid, typ: "JWT" })}.${seg(claims)}`;
  return `${input}.${await hmac((await publicKeyBytes(key))[which], input)}`;
}

async function signWith(k: SigningKey, hash: "SHA-256" | "SHA-512", header: Record<string, unknown>, payload: unknown): Promise<string> {
  const jwk = (await crypto.subtle.exportKey("jwk", k.privateKey)) as JsonWebKey;
  const { alg: _alg, key_ops: _ops, ...bare } = jwk;
  const privateKey = await crypto.subtle.importKey("jwk", bare, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["sign"]);
  const input = `${seg(header)}.${seg(payload)}`;
  return `${input}.${base64url.encode(new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", privateKey, encoder.encode(input))))}`;
}

/** Standard base64 (with + and /) of a base64url segment, optionally padded. */
function toStandardBase64(segment: string, pad: boolean): string {
  const b64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  return pad ? b64 + "=".repeat((4 - (b64.length % 4)) % 4) : b64;
}

/** A valid token whose signature segment contains the character, so its standard-base64 form differs. */
async function tokenWithSignatureChar(c: Ctx, ch: "-" | "_"): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const t = await c.token({ sub: `user_b64_${i}` });
    if (parts(t)[2].includes(ch)) return t;
  }
  throw new Error(`no signature with ${ch} in 200 tries`);
}

// ------------------------------------------------------------------------------------ the table

interface Ctx {
  clock: Clock;
  /** A token the gateway accepts (our key, our issuer, now), with overrides. */
  token(options?: MintOptions): Promise<string>;
  /** An M2M JWT (mch_ machine, Clerk's M2M cat) of our instance, with overrides. */
  m2m(options?: MintOptions, signer?: SigningKey): Promise<string>;
  /** An OAuth access token JWT (at+jwt) for this gateway's origin, with overrides. */
  oauth(options?: MintOptions, signer?: SigningKey): Promise<string>;
}

/** What a case sends: a bearer token, or raw headers (for header/cookie tricks). */
type Sent = { token: string } | { headers: Headers };

interface Attack {
  name: string;
  send(c: Ctx): Promise<Sent>;
  reason: ReasonCode;
  env?: GatewayEnv;
  /** Keys the JWKS origin publishes; default ours only. */
  published?: () => SigningKey[];
}

const headerOf = (init: [string, string][]) => new Headers(init);

const ALG: Attack[] = [
  { name: "alg none with an empty signature", reason: Reason.TokenInvalid, send: async (c) => ({ token: `${seg({ alg: "none", typ: "JWT" })}.${parts(await c.token())[1]}.` }) },
  ...["none", "None", "NONE", "nOnE"].map((alg) => ({
    name: `alg ${alg} keeping a real RS256 signature`,
    reason: Reason.TokenInvalidAlgorithm,
    send: async (c: Ctx) => ({ token: await c.token({ header: { alg } }) }),
  })),
  { name: "alg missing", reason: Reason.TokenInvalidAlgorithm, send: async (c) => ({ token: await c.token({ header: { alg: undefined } }) }) },
  { name: "alg not a string", reason: Reason.TokenInvalidAlgorithm, send: async (c) => ({ token: await c.token({ header: { alg: ["RS256"] } }) }) },
  { name: "HS256 keyed with the RSA public key's SPKI DER", reason: Reason.TokenInvalidAlgorithm, send: async (c) => ({ token: await keyConfusion(c, "der") }) },
  { name: "HS256 keyed with the RSA public key's PEM", reason: Reason.TokenInvalidAlgorithm, send: async (c) => ({ token: await keyConfusion(c, "pem") }) },
  { name: "HS256 keyed with the RSA public key's JWK JSON", reason: Reason.TokenInvalidAlgorithm, send: async (c) => ({ token: await keyConfusion(c, "jwk") }) },
  { name: "an HS256 MAC (key = SPKI) under a header claiming RS256", reason: Reason.TokenInvalidSignature, send: async (c) => ({ token: await keyConfusion(c, "der", "RS256") }) },
  {
    name: "RS512 with our own key (outside the allow-list)",
    reason: Reason.TokenInvalidAlgorithm,
    send: async (c) => ({ token: await signWith(key, "SHA-512", { alg: "RS512", kid: key.kid, typ: "JWT" }, decodeSeg(parts(await c.token())[1])) }),
  },
];

const SIGNATURE: Attack[] = [
  { name: "an empty signature", reason: Reason.TokenInvalid, send: async (c) => ({ token: (await c.token()).replace(/[^.]+$/, "") }) },
  { name: 'the signature "null"', reason: Reason.TokenInvalidSignature, send: async (c) => ({ token: (await c.token()).replace(/[^.]+$/, "null") }) },
  { name: "a signature of 256 zero bytes", reason: Reason.TokenInvalidSignature, send: async (c) => ({ token: (await c.token()).replace(/[^.]+$/, base64url.encode(new Uint8Array(256))) }) },
  {
    name: "another token's signature",
    reason: Reason.TokenInvalidSignature,
    send: async (c) => ({ token: `${parts(await c.token({ sub: "user_admin" })).slice(0, 2).join(".")}.${parts(await c.token({ sub: "user_1" }))[2]}` }),
  },
  {
    name: "a payload swapped under a valid signature",
    reason: Reason.TokenInvalidSignature,
    send: async (c) => {
      const [h, p, s] = parts(await c.token());
      return { token: `${h}.${seg({ ...decodeSeg(p), sub: "user_admin" })}.${s}` };
    },
  },
];

const EMBEDDED_KEYS: Attack[] = [
  { name: "an embedded jwk (the attacker's key, the attacker's kid)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { jwk: attacker.publicJwk } }) }) },
  { name: "an embedded jwk (the attacker's key, our kid)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: key.kid, jwk: attacker.publicJwk } }) }) },
  { name: "an embedded x5c chain", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: key.kid, x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] } }) }) },
  { name: "jku pointing elsewhere", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { jku: "https://evil.example/jwks.json" } }) }) },
  { name: "jku pointing at the configured issuer's host", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { jku: `${ISSUER}/attacker/jwks.json` } }) }) },
  { name: "x5u pointing elsewhere", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { x5u: "https://evil.example/cert.pem" } }) }) },
  { name: "an x5t thumbprint", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { x5t: "dGh1bWJwcmludA" } }) }) },
];

const KID: Attack[] = [
  { name: "kid with path traversal", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "../../../../etc/passwd" } }) }) },
  { name: "kid with encoded path traversal", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "..%2F..%2F.well-known%2Fjwks.json" } }) }) },
  { name: "kid with SQL (spaces)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "' OR '1'='1' --" } }) }) },
  { name: "kid with SQL (no spaces)", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "x'OR'1'='1';DROP/**/TABLE/**/keys;--" } }) }) },
  { name: "kid with CRLF", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: `${key.kid}\r\nX-Injected: 1` } }) }) },
  { name: "kid with a NUL", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: `${key.kid}\u0000` } }) }) },
  { name: "kid of 10 KB", reason: Reason.TokenTooLarge, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "k".repeat(10 * 1024) } }) }) },
  { name: "kid of 300 characters (under the size cap)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "k".repeat(300) } }) }) },
  { name: "an unknown kid", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds }) }) },
  { name: "kid __proto__", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "__proto__" } }) }) },
  { name: "kid constructor", reason: Reason.JwkKidMismatch, send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, header: { kid: "constructor" } }) }) },
  { name: "kid missing", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { kid: undefined } }) }) },
  { name: "kid empty", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { kid: "" } }) }) },
  { name: "kid a number", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { kid: 1 } }) }) },
  { name: "kid an object", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { kid: { $ne: null } } }) }) },
];

const STRUCTURE: Attack[] = [
  { name: "an unknown crit extension", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { crit: ["exp-ext"], "exp-ext": true } }) }) },
  { name: "crit naming a registered parameter", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { crit: ["kid"] } }) }) },
  { name: "an empty crit", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { crit: [] } }) }) },
  { name: "b64: false (unencoded payload)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { b64: false, crit: ["b64"] } }) }) },
  { name: "cty: JWT (nested)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { cty: "JWT" } }) }) },
  {
    name: "a signed JWT whose payload is another JWT (nested, no cty)",
    reason: Reason.TokenInvalid,
    send: async (c) => ({ token: await signWith(key, "SHA-256", { alg: "RS256", kid: key.kid, typ: "JWT" }, await c.token()) }),
  },
  { name: "a 5-segment JWE", reason: Reason.TokenInvalid, send: async () => ({ token: `${seg({ alg: "RSA-OAEP-256", enc: "A256GCM", kid: "ins_x" })}.AAAA.AAAA.AAAA.AAAA` }) },
  { name: "4 segments", reason: Reason.TokenInvalid, send: async (c) => ({ token: `${await c.token()}.AAAA` }) },
  { name: "2 segments", reason: Reason.TokenInvalid, send: async (c) => ({ token: parts(await c.token()).slice(0, 2).join(".") }) },
  { name: "typ other than JWT (or at+jwt)", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ header: { typ: "JOSE" } }) }) },
  { name: "an OAuth access token (typ at+jwt) on a session-only route", reason: Reason.TokenTypeMismatch, send: async (c) => ({ token: await c.token({ header: { typ: "at+jwt" } }) }) },
  { name: "a header that is a JSON array", reason: Reason.TokenInvalid, send: async (c) => ({ token: `${seg(["RS256"])}.${parts(await c.token()).slice(1).join(".")}` }) },
  { name: "a payload that is a JSON array", reason: Reason.TokenInvalid, send: async () => ({ token: await signWith(key, "SHA-256", { alg: "RS256", kid: key.kid }, [{ sub: "user_1" }]) }) },
];

const SIZE: Attack[] = [
  { name: "a token over 8 KiB (big claim)", reason: Reason.TokenTooLarge, send: async (c) => ({ token: await c.token({ claims: { padding: "x".repeat(9000) } }) }) },
  { name: "a 64 KiB Authorization value", reason: Reason.TokenTooLarge, send: async () => ({ token: "a".repeat(64 * 1024) }) },
  { name: "a token over 8 KiB in the cookie", reason: Reason.TokenTooLarge, send: async (c) => ({ headers: headerOf([["cookie", `__client_uat=1; __session=${await c.token({ claims: { padding: "x".repeat(9000) } })}`]]) }) },
];

const CLAIMS: Attack[] = [
  ...(["exp", "nbf", "iat"] as const).flatMap((name) => [
    { name: `${name} as a string`, reason: Reason.TokenInvalid, send: async (c: Ctx) => ({ token: await c.token({ claims: { [name]: String(c.clock.seconds) } }) }) },
    { name: `${name} missing`, reason: Reason.TokenInvalid, send: async (c: Ctx) => ({ token: await c.token({ claims: { [name]: undefined } }) }) },
    { name: `${name} null`, reason: Reason.TokenInvalid, send: async (c: Ctx) => ({ token: await c.token({ claims: { [name]: null } }) }) },
    { name: `${name} absurdly large (1e300)`, reason: Reason.TokenInvalid, send: async (c: Ctx) => ({ token: await c.token({ claims: { [name]: 1e300 } }) }) },
    { name: `${name} negative`, reason: Reason.TokenInvalid, send: async (c: Ctx) => ({ token: await c.token({ claims: { [name]: -1 } }) }) },
  ]),
  { name: "exp 0 (the epoch)", reason: Reason.TokenExpired, send: async (c) => ({ token: await c.token({ claims: { exp: 0 } }) }) },
  { name: "exp as a boolean", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ claims: { exp: true } }) }) },
  { name: "sub missing", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ claims: { sub: undefined } }) }) },
  { name: "sub not a string", reason: Reason.TokenInvalid, send: async (c) => ({ token: await c.token({ claims: { sub: ["user_admin"] } }) }) },
];

const TIME: Attack[] = [
  // Default skew 5 s; the token minted 66 s ago with a 60 s life expired 6 s ago.
  { name: "expired by 1 s beyond the skew", reason: Reason.TokenExpired, send: async (c) => ({ token: await mint(key, { now: c.clock.seconds - 66, ttlSeconds: 60 }) }) },
  { name: "expired exactly at the skew boundary (exp = now - skew)", reason: Reason.TokenExpired, send: async (c) => ({ token: await mint(key, { now: c.clock.seconds - 65, ttlSeconds: 60 }) }) },
  { name: "not yet valid (nbf 1 s beyond the skew)", reason: Reason.TokenNotActiveYet, send: async (c) => ({ token: await c.token({ nbfSkewSeconds: 0, claims: { nbf: c.clock.seconds + 6 } }) }) },
  { name: "issued in the future (iat 1 s beyond the skew)", reason: Reason.TokenIatInTheFuture, send: async (c) => ({ token: await c.token({ claims: { iat: c.clock.seconds + 6 } }) }) },
];

const ISSUERS: Attack[] = [
  ["another issuer", "https://evil.example"],
  ["a suffix variant (subdomain)", `${ISSUER}.evil.example`],
  ["a suffix variant (trailing slash)", `${ISSUER}/`],
  ["a suffix variant (path)", `${ISSUER}/evil`],
  ["a prefix variant", ISSUER.slice(0, -1)],
  ["a case variant", ISSUER.toUpperCase()],
  ["http instead of https", ISSUER.replace("https:", "http:")],
  ["trailing whitespace", `${ISSUER} `],
].map(([label, iss]) => ({ name: `iss: ${label}`, reason: Reason.TokenInvalidIssuer, send: async (c: Ctx) => ({ token: await c.token({ issuer: iss }) }) }));
ISSUERS.push(
  { name: "iss missing", reason: Reason.TokenInvalidIssuer, send: async (c) => ({ token: await c.token({ claims: { iss: undefined } }) }) },
  { name: "iss as an array holding the right issuer", reason: Reason.TokenInvalidIssuer, send: async (c) => ({ token: await c.token({ claims: { iss: [ISSUER] } }) }) },
);

const PARTIES: Attack[] = [
  ["not allowed", "https://evil.example.com"],
  ["a suffix variant of the allowed one", `${PARTY}.evil.example`],
  ["a prefix variant", PARTY.slice(0, -1)],
  ["missing while required", null],
].map(([label, azp]) => ({
  name: `azp ${label}`,
  reason: Reason.TokenInvalidAuthorizedParties,
  env: { CLERK_AUTHORIZED_PARTIES: PARTY },
  send: async (c: Ctx) => ({ token: await c.token({ azp }) }),
}));

const SESSION: Attack[] = [{ name: "sts: pending", reason: Reason.SessionTokenPending, send: async (c) => ({ token: await c.token({ pending: true }) }) }];

const KEYS: Attack[] = [
  {
    name: "signed by a 1024-bit RSA key that the JWKS publishes",
    reason: Reason.JwkKidMismatch,
    published: () => [key, weak],
    send: async (c) => ({ token: await mint(weak, { now: c.clock.seconds }) }),
  },
  {
    name: "a valid token for another Clerk instance (other issuer, other keys)",
    reason: Reason.JwkKidMismatch,
    send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, issuer: "https://other-instance.clerk.accounts.dev" }) }),
  },
  {
    name: "another instance's token reusing our kid",
    reason: Reason.TokenInvalidSignature,
    send: async (c) => ({ token: await mint(attacker, { now: c.clock.seconds, issuer: "https://other-instance.clerk.accounts.dev", header: { kid: key.kid } }) }),
  },
];

const ENCODING: Attack[] = [
  { name: "standard base64 '+' in the signature", reason: Reason.TokenInvalid, send: async (c) => ({ token: (await tokenWithSignatureChar(c, "-")).replace(/[^.]+$/, (s) => toStandardBase64(s, false)) }) },
  { name: "standard base64 '/' in the signature", reason: Reason.TokenInvalid, send: async (c) => ({ token: (await tokenWithSignatureChar(c, "_")).replace(/[^.]+$/, (s) => toStandardBase64(s, false)) }) },
  { name: "'=' padding on the signature", reason: Reason.TokenInvalid, send: async (c) => ({ token: (await c.token()).replace(/[^.]+$/, (s) => toStandardBase64(s, true).replace(/\+/g, "-").replace(/\//g, "_")) }) },
  {
    name: "'=' padding on the payload",
    reason: Reason.TokenInvalid,
    send: async (c) => {
      for (let i = 0; i < 8; i++) {
        const [h, p, s] = parts(await c.token({ sub: `user_pad${"x".repeat(i)}` }));
        if (p.length % 4 !== 0) return { token: `${h}.${p}${"=".repeat(4 - (p.length % 4))}.${s}` };
      }
      throw new Error("no payload needing padding");
    },
  },
  { name: "whitespace inside the bearer token", reason: Reason.TokenInvalid, send: async (c) => ({ headers: headerOf([["authorization", `Bearer ${(await c.token()).replace(".", ". ")}`]]) }) },
  { name: "a tab inside the bearer token", reason: Reason.TokenInvalid, send: async (c) => ({ headers: headerOf([["authorization", `Bearer ${(await c.token()).replace(".", ".\t")}`]]) }) },
  { name: "whitespace inside the cookie token", reason: Reason.TokenInvalid, send: async (c) => ({ headers: headerOf([["cookie", `__client_uat=1; __session=${(await c.token()).replace(".", ". ")}`]]) }) },
];

const TRANSPORT: Attack[] = [
  {
    name: "two Authorization headers, both valid (joined with ', ' by the Headers API)",
    reason: Reason.TokenInvalid,
    send: async (c) => {
      const h = new Headers();
      h.append("authorization", `Bearer ${await c.token({ sub: "user_a" })}`);
      h.append("authorization", `Bearer ${await c.token({ sub: "user_b" })}`);
      return { headers: h };
    },
  },
  {
    name: "two Authorization headers, the second empty",
    reason: Reason.TokenInvalid,
    send: async (c) => {
      const h = new Headers();
      h.append("authorization", `Bearer ${await c.token()}`);
      h.append("authorization", "Bearer");
      return { headers: h };
    },
  },
  {
    name: "an invalid header token with a valid cookie token (no fallback to the cookie)",
    reason: Reason.TokenInvalidSignature,
    send: async (c) => ({ headers: headerOf([["authorization", `Bearer ${(await c.token()).replace(/[^.]+$/, base64url.encode(new Uint8Array(256)))}`], ["cookie", `__client_uat=1; __session=${await c.token()}`]]) }),
  },
  {
    name: "a malformed Bearer header with a valid cookie token",
    reason: Reason.TokenInvalid,
    send: async (c) => ({ headers: headerOf([["authorization", "Bearer"], ["cookie", `__client_uat=1; __session=${await c.token()}`]]) }),
  },
  {
    name: "two different __session cookies",
    reason: Reason.TokenInvalid,
    send: async (c) => ({ headers: headerOf([["cookie", `__client_uat=1; __session=${await c.token({ sub: "a" })}; __client_uat=1; __session=${await c.token({ sub: "b" })}`]]) }),
  },
  {
    name: "two Cookie headers each with a __session (joined by the Headers API)",
    reason: Reason.TokenInvalid,
    send: async (c) => {
      const h = new Headers();
      h.append("cookie", `__client_uat=1; __session=${await c.token({ sub: "a" })}`);
      h.append("cookie", `__client_uat=1; __session=${await c.token({ sub: "b" })}`);
      return { headers: h };
    },
  },
];

/** Issue #13: machine tokens on a session-only route, and forged or misdirected ones where machines are accepted. */
const MACHINES = { ACCEPTS: "session,m2m,oauth" };
const MACHINE: Attack[] = [
  { name: "an M2M JWT on a session-only route", reason: Reason.TokenTypeMismatch, send: async (c) => ({ token: await c.m2m() }) },
  { name: "an OAuth access token on a session-only route", reason: Reason.TokenTypeMismatch, send: async (c) => ({ token: await c.oauth() }) },
  ...["mt_", "oat_", "ak_"].map((prefix): Attack => ({
    name: `an opaque ${prefix}… token on a session-only route (no Backend API call)`,
    reason: Reason.TokenTypeMismatch,
    send: async () => ({ token: `${prefix}${"A".repeat(40)}` }),
  })),
  { name: "an M2M JWT in the session cookie", reason: Reason.TokenTypeMismatch, env: MACHINES, send: async (c) => ({ headers: headerOf([["cookie", `__client_uat=1; __session=${await c.m2m()}`]]) }) },
  { name: "an M2M JWT signed by another key under our kid", reason: Reason.TokenInvalidSignature, env: MACHINES, send: async (c) => ({ token: await c.m2m({}, impostor) }) },
  { name: "an M2M JWT of another issuer", reason: Reason.TokenInvalidIssuer, env: MACHINES, send: async (c) => ({ token: await c.m2m({ issuer: "https://clerk.evil.example" }) }) },
  { name: "an expired M2M JWT", reason: Reason.TokenExpired, env: MACHINES, send: async (c) => ({ token: await c.m2m({ now: c.clock.seconds - 7200 }) }) },
  { name: "the M2M cat on a user's token (a session posing as a machine)", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.m2m({ machineId: "user_admin" }) }) },
  { name: "an M2M JWT under the session token's cat", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.m2m({ header: { cat: "cl_B7d4PD111AAA" } }) }) },
  { name: "an M2M JWT with an unknown cat", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.m2m({ header: { cat: "cl_X7d4PD999XXX" } }) }) },
  { name: "an M2M JWT in HS256 keyed with our public key", reason: Reason.TokenInvalidAlgorithm, env: MACHINES, send: async (c) => ({ token: await keyConfusionOf(await c.m2m()) }) },
  { name: "an OAuth token for another audience", reason: Reason.TokenInvalidAudience, env: MACHINES, send: async (c) => ({ token: await c.oauth({ aud: "https://evil.example" }) }) },
  { name: "an OAuth token with no audience", reason: Reason.TokenInvalidAudience, env: MACHINES, send: async (c) => ({ token: await c.oauth({ aud: undefined }) }) },
  { name: "an OAuth token for an MCP resource, on another route", reason: Reason.TokenInvalidAudience, env: MACHINES, send: async (c) => ({ token: await c.oauth({ aud: "https://gateway.test/api/mcp/weather/mcp" }) }) },
  { name: "an OAuth token with an empty-string audience among others", reason: Reason.TokenInvalidAudience, env: MACHINES, send: async (c) => ({ token: await c.oauth({ aud: ["", "https://gateway.test"] }) }) },
  { name: "an OAuth token whose sub is a machine", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.oauth({ sub: "mch_1" }) }) },
  { name: "an OAuth token carrying the session cat", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.oauth({ header: { cat: "cl_B7d4PD111AAA" } }) }) },
  { name: "an OAuth token carrying the M2M cat", reason: Reason.TokenInvalid, env: MACHINES, send: async (c) => ({ token: await c.oauth({ header: { cat: "cl_B7d4PD333AAA" } }) }) },
  { name: "an OAuth token signed by another key under our kid", reason: Reason.TokenInvalidSignature, env: MACHINES, send: async (c) => ({ token: await c.oauth({}, impostor) }) },
  { name: "an OAuth token that is not yet valid", reason: Reason.TokenNotActiveYet, env: MACHINES, send: async (c) => ({ token: await c.oauth({ claims: { nbf: c.clock.seconds + 600 } }) }) },
];

/** HS256 over a machine token's own header and claims, keyed with the SPKI of our public key. */
async function keyConfusionOf(token: string): Promise<string> {
  const [h, p] = parts(token);
  const input = `${seg({ ...decodeSeg(h), alg: "HS256" })}.${p}`;
  return `${input}.${await hmac((await publicKeyBytes(key)).der, input)}`;
}

const CATALOGUE: [string, Attack[]][] = [
  ["alg", ALG],
  ["signature", SIGNATURE],
  ["embedded keys and key URLs", EMBEDDED_KEYS],
  ["kid", KID],
  ["structure", STRUCTURE],
  ["size", SIZE],
  ["claim types", CLAIMS],
  ["time", TIME],
  ["issuer", ISSUERS],
  ["authorized parties", PARTIES],
  ["session status", SESSION],
  ["keys and instances", KEYS],
  ["base64url and whitespace", ENCODING],
  ["headers and cookies", TRANSPORT],
  ["machine tokens", MACHINE],
];

// ------------------------------------------------------------------------------------ the world

/** An in-process Mastra on the MASTRA binding: anything that reaches it is recorded. */
function recordingUpstream() {
  const seen: { url: string; authorization: string | null; cookie: string | null; userId: string | null }[] = [];
  const fetcher = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      const h = request.headers;
      seen.push({ url: request.url, authorization: h.get("authorization"), cookie: h.get("cookie"), userId: h.get("x-clerk-user-id") });
      return Response.json({ text: "The weather in London is sunny." });
    },
  } as unknown as Fetcher;
  return { seen, fetcher };
}

function world(extra: GatewayEnv = {}, published: SigningKey[] = [key]) {
  const clock = new Clock();
  const origin = new FakeOrigin(...published);
  const up = recordingUpstream();
  const env = uniqueJwksEnv({ MASTRA: up.fetcher, ...extra });
  const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: null });
  const ctx: Ctx = {
    clock,
    token: (options = {}) => mint(key, { now: clock.seconds, azp: PARTY, ...options }),
    m2m: (options = {}, signer = key) => mintM2MToken(signer, { issuer: ISSUER, now: clock.seconds, machineId: "mch_attack", ...options }),
    oauth: (options = {}, signer = key) => mintOAuthAccessToken(signer, { issuer: ISSUER, now: clock.seconds, sub: "user_1", aud: "https://gateway.test", ...options }),
  };
  const send = (sent: Sent) => {
    const headers = "headers" in sent ? new Headers(sent.headers) : new Headers({ authorization: `Bearer ${sent.token}` });
    headers.set("content-type", "application/json");
    return h.request(ROUTE, { method: "POST", headers, body: JSON.stringify({ messages: "Weather in London?" }) });
  };
  return { ...h, clock, origin, up, ctx, send, jwksUrl: env.CLERK_JWKS_URI! };
}

// Nothing in the gateway may reach the network except through the injected JWKS fetch and the
// MASTRA binding; a followed jku/x5u would land here.
let globalFetches: string[];
beforeEach(() => {
  globalFetches = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
    globalFetches.push(new Request(input as RequestInfo).url);
    throw new TypeError("attack tests: no network");
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function expectRejected(w: ReturnType<typeof world>, response: Response, reason: ReasonCode, sentToken: string | null) {
  const json = await body(response);
  expect({ status: response.status, reason: json.reason }).toEqual({ status: 401, reason });
  expect(json.error).toBe("unauthorized");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="mastra"/);
  expect(w.up.seen).toHaveLength(0);
  for (const r of w.origin.requests) expect(r.url).toBe(w.jwksUrl);
  expect(globalFetches).toEqual([]);
  const rejected = w.logger.events("auth.rejected");
  expect(rejected.at(-1)).toMatchObject({ status: 401, reason });
  if (sentToken && sentToken.length > 40) expect(JSON.stringify(w.logger.lines)).not.toContain(sentToken);
}

const sentToken = (sent: Sent) => ("token" in sent ? sent.token : null);

for (const [group, attacks] of CATALOGUE) {
  describe(`attack catalogue: ${group}`, () => {
    it.each(attacks.map((a) => [a.name, a] as const))("%s → 401 (cold gateway)", async (_name, attack) => {
      const w = world(attack.env, attack.published?.());
      const sent = await attack.send(w.ctx);
      await expectRejected(w, await w.send(sent), attack.reason, sentToken(sent));
    });

    it.each(attacks.map((a) => [a.name, a] as const))("%s → 401 (warm gateway)", async (_name, attack) => {
      const w = world(attack.env, attack.published?.());
      // Keys loaded and a verified token cached: the attack meets the hot path, not a cold load.
      const ok = await w.send({ token: await w.ctx.token({ sub: "user_warm" }) });
      expect(ok.status).toBe(200);
      expect(w.up.seen).toHaveLength(1);
      w.up.seen.length = 0;
      const sent = await attack.send(w.ctx);
      await expectRejected(w, await w.send(sent), attack.reason, sentToken(sent));
      // And the gateway still serves valid traffic afterwards.
      expect((await w.send({ token: await w.ctx.token({ sub: "user_after" }) })).status).toBe(200);
    });
  });
}

describe("key confusion with a PEM key source (CLERK_JWT_KEY)", () => {
  it.each(["der", "pem", "jwk"] as const)("HS256 keyed with the PEM's %s bytes → 401 token-invalid-algorithm, no fetch at all", async (which) => {
    const { pem } = await publicKeyBytes(key);
    const w = world({ CLERK_JWT_KEY: new TextDecoder().decode(pem), CLERK_JWKS_URI: undefined });
    expect((await w.send({ token: await w.ctx.token() })).status).toBe(200);
    w.up.seen.length = 0;
    const response = await w.send({ token: await keyConfusion(w.ctx, which) });
    await expectRejected(w, response, Reason.TokenInvalidAlgorithm, null);
    expect(w.origin.count).toBe(0);
  });
});

describe("a header token and a different cookie token", () => {
  // The issue's catalogue lists this as an attack; the README (and @clerk/backend) let the header
  // win. What must hold either way: the identity forwarded is the header's, which was verified.
  // A 401 would also break real browser apps, whose cookie and getToken() tokens are refreshed
  // separately and so often differ while naming the same session.
  it("the header wins and only its identity and its credential reach the upstream", async () => {
    const w = world();
    const header = await w.ctx.token({ sub: "user_header" });
    const cookie = await w.ctx.token({ sub: "user_cookie" });
    const response = await w.send({ headers: headerOf([["authorization", `Bearer ${header}`], ["cookie", `theme=dark; __client_uat=1; __session=${cookie}`]]) });
    expect(response.status).toBe(200);
    expect(w.up.seen).toHaveLength(1);
    // __client_uat is not a credential: it stays; the session cookie that lost to the header goes.
    expect(w.up.seen[0]).toMatchObject({ authorization: `Bearer ${header}`, userId: "user_header", cookie: "theme=dark; __client_uat=1" });
  });

  it("the same token in header and cookie is forwarded as it came", async () => {
    const w = world();
    const token = await w.ctx.token({ sub: "user_same" });
    await w.send({ headers: headerOf([["authorization", `Bearer ${token}`], ["cookie", `__client_uat=1; __session=${token}; theme=dark`]]) });
    expect(w.up.seen[0]).toMatchObject({ cookie: `__client_uat=1; __session=${token}; theme=dark`, userId: "user_same" });
  });
});
