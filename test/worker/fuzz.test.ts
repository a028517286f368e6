// Property-based fuzzing of the whole gateway (createGateway through the harness, inside workerd):
// every answer is a real HTTP response. Inputs: valid Clerk tokens mutated in every way we could
// think of (bytes flipped per segment, segments swapped/duplicated/dropped/spliced, claims and header
// fields changed and re-encoded WITHOUT re-signing), random junk tokens, random Authorization header
// values and cookies, random paths and methods. Properties:
//
//   1. never a 2xx unless the request carries one of the valid tokens, unmodified, the way the README
//      says a token is taken (a model below decides); 200 answers carry that token's identity;
//   2. never a 5xx (the origin serves keys, so not even the documented 503);
//   3. every answer is JSON; a 401 has `error: "unauthorized"`, a known `reason`, a message and a
//      Bearer challenge; a 400 is only `path-invalid`; a 404 only ever reaches an authenticated request;
//   4. the JWKS origin is asked only for the configured URL, at most once per refetch cooldown;
//   5. no log line ever contains the token;
//   6. in front of an upstream (a fake Mastra on a service binding, the shipped PUBLIC_PATHS): an
//      unauthenticated request reaches it only on a public path, as the upstream will route it, and
//      the x-clerk-* identity headers it sees are the gateway's, never a client's.
//
// The Clock is fixed (tokens cannot expire mid-run) except in the cooldown property, which moves it
// on purpose with long-lived tokens. Seeds: printed before each property and in fast-check's failure
// report; replay with VITE_FUZZ_SEED=<seed> VITE_FUZZ_PATH=<path> (see test/support/fast-check.ts).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { Reason } from "../../src/core/errors.js";
import { checkProperty, describeBudget, type RunBudget, timeoutFor } from "../support/fast-check.js";
import { b64u, nonCanonicalSpellings, sameSignedMessage } from "../support/jws.js";
import { Clock, FakeOrigin, harness, type Harness, ISSUER, mint, newKey, type SigningKey, uniqueJwksEnv } from "./helpers.js";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { mintM2MToken, mintOAuthAccessToken } from "../../scripts/lib/clerk-token.mjs";

// Sized by time (test/support/fast-check.ts): on a quiet machine every property runs maxRuns times
// (mutations take ~4.5 s for 10,000 runs on a 2-core machine with nothing else running); on a
// loaded one it stops at timeMs, and fewer than minRuns passed runs fail the test.
const RUNS = {
  mutations: { maxRuns: 10_000, timeMs: 8_000, minRuns: 1_000 },
  junk: { maxRuns: 4_000, timeMs: 4_000, minRuns: 400 },
  authorization: { maxRuns: 3_000, timeMs: 3_000, minRuns: 300 },
  benign: { maxRuns: 100, timeMs: 2_000, minRuns: 50 },
  cookies: { maxRuns: 2_000, timeMs: 3_000, minRuns: 200 },
  routes: { maxRuns: 2_000, timeMs: 3_000, minRuns: 200 },
  proxied: { maxRuns: 2_000, timeMs: 3_000, minRuns: 200 },
  unicode: { maxRuns: 40, timeMs: 2_000, minRuns: 20 },
  cooldown: { maxRuns: 1_000, timeMs: 3_000, minRuns: 200 },
  machineJwts: { maxRuns: 4_000, timeMs: 4_000, minRuns: 400 },
  opaque: { maxRuns: 2_000, timeMs: 3_000, minRuns: 200 },
} satisfies Record<string, RunBudget>;

const PARTY = "https://app.example.com";
const COOLDOWN_S = 30;
const REJECT_REASONS: ReadonlySet<string> = new Set(Object.values(Reason).filter((r) => r !== Reason.JwkRemoteFailedToLoad));
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

interface Valid {
  token: string;
  sub: string;
}

const clock = new Clock();
let key: SigningKey;
let valid: Valid[];

beforeAll(async () => {
  key = await newKey();
  const base = { now: clock.seconds, azp: PARTY };
  valid = [
    { sub: "user_fuzz_v2_org", token: await mint(key, { ...base, sub: "user_fuzz_v2_org", org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run"] } }) },
    { sub: "user_fuzz_v1", token: await mint(key, { ...base, sub: "user_fuzz_v1", version: 1 }) },
    { sub: "user_fuzz_plain", token: await mint(key, { ...base, sub: "user_fuzz_plain", email: "a@example.com" }) },
  ];
});

/** A fresh gateway (own JWKS URL, own isolate-memory state) whose origin is a counting FakeOrigin. */
function world(now: () => number = clock.now, extra: GatewayEnv = {}) {
  const origin = new FakeOrigin(key);
  const env = uniqueJwksEnv({ CLERK_AUTHORIZED_PARTIES: PARTY, JWKS_REFETCH_COOLDOWN_S: String(COOLDOWN_S), ...extra });
  const fetchedAt: number[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    fetchedAt.push(now());
    return origin.fetch(input, init);
  };
  const h = harness(env, { fetch, now, kv: null });
  return { h, origin, url: env.CLERK_JWKS_URI!, fetchedAt };
}

/** Property 4, with a fixed clock: only the configured URL, and at most one fetch in all. */
function expectOriginDiscipline(w: ReturnType<typeof world>, maxFetches = 1) {
  for (const r of w.origin.requests) expect(r.url).toBe(w.url);
  expect(w.origin.count).toBeLessThanOrEqual(maxFetches);
}

// ------------------------------------------------------------------------------------------ model

/** The valid token a candidate stands for: the same signed message (see sameSignedMessage). */
function meant(candidate: string): Valid | undefined {
  return valid.find((v) => sameSignedMessage(candidate, v.token));
}

/**
 * Which valid token, if any, the README allows a request to authenticate with: `Authorization:
 * Bearer <one token>` (scheme in any case) first; a blank header or another scheme falls through to
 * the `__session` cookie(s), which must all be that token. Deliberately generous (a superset of what
 * the gateway accepts): the property is that every 2xx is allowed here, not the converse.
 */
function modelMayAccept(authorization: string | undefined, cookie: string | undefined): Valid | undefined {
  const auth = authorization?.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  if (auth && auth.trim() !== "") {
    const parts = auth.split(/[ \t]+/);
    if (parts[0]!.toLowerCase() === "bearer") return parts.length === 2 ? meant(parts[1]!) : undefined;
    // A bare compact JWS is the token too (@clerk/backend's parseAuthorizationHeader).
    if (parts.length === 1 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(parts[0]!)) return meant(parts[0]!);
  }
  if (!cookie) return undefined;
  const values = cookieValues(cookie, "__session");
  const first = values[0] === undefined ? undefined : meant(values[0]);
  if (!first || !values.every((v) => meant(v) === first)) return undefined;
  // Clerk's rule: a cookie token counts only beside a __client_uat (one value) no later than its iat.
  const uats = cookieValues(cookie, "__client_uat");
  const uat = Number.parseInt(uats[0] ?? "", 10) || 0;
  return uats.every((u) => u === uats[0]) && uat > 0 && iatOf(first.token) >= uat ? first : undefined;
}

/** The non-empty values of a cookie name, unquoted, in order. */
function cookieValues(cookie: string, wanted: string): string[] {
  const values: string[] = [];
  for (const part of cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== wanted) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value !== "") values.push(value);
  }
  return values;
}

function iatOf(token: string): number {
  return (b64u.json(token.split(".")[1]!) as { iat: number }).iat;
}

// ------------------------------------------------------------------------------- the HTTP checks

interface Sent {
  method?: string;
  path?: string;
  authorization?: string;
  cookie?: string;
  body?: string;
  /** Other request headers (spoofed identity headers and the like). */
  headers?: Record<string, string>;
}

/** What the gateway may answer in these runs (no AUTH_RULES, an upstream that never fails). */
const STATUSES = [200, 400, 401, 404];

/** Sends one request and checks properties 2, 3 and 5; returns what came back. */
async function send(h: Harness, s: Sent): Promise<{ status: number; json: Record<string, unknown> | null }> {
  const method = (s.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = { ...s.headers };
  if (s.authorization !== undefined) headers.authorization = s.authorization;
  if (s.cookie !== undefined) headers.cookie = s.cookie;
  const logged = h.logger.lines.length;
  const response = await h.request(s.path ?? "/auth/me", { method: s.method ?? "GET", headers, body: s.body });

  expect(response.status, "never a 5xx").toBeLessThan(500);
  expect(STATUSES).toContain(response.status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  let json: Record<string, unknown> | null = null;
  if (method !== "HEAD") {
    const text = await response.text();
    json = JSON.parse(text) as Record<string, unknown>;
  }
  if (response.status === 400 && json) {
    // Only a path the gateway refuses to match (README "Which paths need what").
    expect(json).toMatchObject({ error: "bad_request", reason: "path-invalid" });
  }
  if (response.status === 401) {
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="mastra"(, error="invalid_token", error_description="[^"]*")?$/);
    if (json) {
      expect(json.error).toBe("unauthorized");
      expect(REJECT_REASONS.has(json.reason as string), `unknown reason ${String(json.reason)}`).toBe(true);
      expect(typeof json.message).toBe("string");
    }
  }
  // Property 5: whatever was sent, no log line repeats a token.
  const lines = JSON.stringify(h.logger.lines.slice(logged));
  for (const secret of [s.authorization, s.cookie].flatMap((v) => (v ? v.split(/[\s;=,]+/) : []))) {
    if (secret.length >= 24 && secret.includes(".")) expect(lines.includes(secret), "a log line contains the token").toBe(false);
  }
  h.logger.lines.length = 0;
  return { status: response.status, json };
}

/** Property 1 for /auth/me: a 2xx only for a token the model allows, with that token's identity. */
function expectOnlyValidAccepted(answer: { status: number; json: Record<string, unknown> | null }, s: Sent) {
  const allowed = modelMayAccept(s.authorization, s.cookie);
  if (answer.status >= 200 && answer.status < 300) {
    expect(allowed, `2xx for a request the model rejects: ${JSON.stringify(s).slice(0, 400)}`).toBeDefined();
    if (answer.json) expect(answer.json.userId).toBe(allowed!.sub);
  }
  if (s.authorization !== undefined && s.authorization.trim() === `Bearer ${allowed?.token}`) {
    // The exact, unmodified token must get in.
    expect(answer.status).toBe(200);
  }
}

// ------------------------------------------------------------------------------ token mutations

type Edit = { key: string; value?: unknown };
type Op =
  | { k: "char"; seg: number; pos: number; ch: string }
  | { k: "insert"; pos: number; s: string }
  | { k: "delete"; pos: number; len: number }
  | { k: "byte"; seg: number; pos: number; xor: number }
  | { k: "shape"; order: (number | "")[] }
  | { k: "claims"; edits: Edit[] }
  | { k: "header"; edits: Edit[] }
  | { k: "reserialise"; seg: 0 | 1; indent: number }
  | { k: "splice"; seg: number; from: number }
  | { k: "truncate"; len: number }
  | { k: "append"; s: string }
  | { k: "case"; seg: number; upper: boolean }
  | { k: "noncanonical"; n: number };

const interestingValue = (now: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom<unknown>(
      undefined, null, "", 0, -1, 1e300, 1e11 + 1, now, now + 6, now - 6, now + 86_400, String(now + 3600), now + 0.5,
      ISSUER, `${ISSUER}/`, "https://evil.example", PARTY, "https://evil.example.com", [PARTY],
      "pending", "active", "none", "None", "HS256", "RS384", "ES256", "JWT", "jwt", "at+jwt",
      "user_admin", "mch_1", ["exp-ext"], ["b64"], { kty: "RSA", n: "x", e: "AQAB" }, ["MIIB"], "https://evil.example/jwks.json",
      "cl_B7d4PD333AAA", "a\r\nb", "k".repeat(300),
    ),
  );

const CLAIM_KEYS = ["sub", "iss", "exp", "nbf", "iat", "azp", "sts", "sid", "v", "o", "fea", "org_id", "org_role", "aud", "jti", "__proto__", "constructor"];
const HEADER_KEYS = ["alg", "kid", "typ", "crit", "jku", "jwk", "x5c", "x5u", "x5t", "x5t#S256", "cty", "b64", "cat", "enc", "zip", "exp-ext", "__proto__"];

function editsArb(keys: string[]): fc.Arbitrary<Edit[]> {
  const edit = fc.record({
    key: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
    value: interestingValue(clock.seconds),
  });
  return fc.array(edit, { minLength: 1, maxLength: 3 });
}

/** Characters safe in a header value (no NUL/CR/LF), ASCII only (workerd warns on every non-ASCII one). */
const headerChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...B64URL) },
  { weight: 2, arbitrary: fc.constantFrom(".", "=", "+", "/", " ", "\t", ",", ";", '"', "%", "\\", "\x0b", "\x7f") },
  { weight: 1, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
);
const headerString = (maxLength: number) => fc.string({ unit: headerChar, maxLength });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("char" as const), seg: fc.nat(4), pos: fc.nat(2000), ch: headerChar }),
  fc.record({ k: fc.constant("insert" as const), pos: fc.nat(2000), s: headerString(4).filter((s) => s.length > 0) }),
  fc.record({ k: fc.constant("delete" as const), pos: fc.nat(2000), len: fc.integer({ min: 1, max: 8 }) }),
  { weight: 3, arbitrary: fc.record({ k: fc.constant("byte" as const), seg: fc.nat(2), pos: fc.nat(400), xor: fc.integer({ min: 1, max: 255 }) }) },
  fc.record({ k: fc.constant("shape" as const), order: fc.array(fc.oneof(fc.nat(2), fc.constant("" as const)), { maxLength: 6 }) }),
  { weight: 3, arbitrary: fc.record({ k: fc.constant("claims" as const), edits: editsArb(CLAIM_KEYS) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("header" as const), edits: editsArb(HEADER_KEYS) }) },
  fc.record({ k: fc.constant("reserialise" as const), seg: fc.constantFrom(0 as const, 1 as const), indent: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ k: fc.constant("splice" as const), seg: fc.nat(2), from: fc.nat(2) }),
  fc.record({ k: fc.constant("truncate" as const), len: fc.nat(2000) }),
  fc.record({ k: fc.constant("append" as const), s: headerString(12).filter((s) => s.length > 0) }),
  fc.record({ k: fc.constant("case" as const), seg: fc.nat(2), upper: fc.boolean() }),
  fc.record({ k: fc.constant("noncanonical" as const), n: fc.nat(15) }),
);

function setOwn(object: Record<string, unknown>, edit: Edit) {
  if (edit.value === undefined) delete object[edit.key];
  // defineProperty, so "__proto__" becomes a real member of the JSON, as an attacker would send it.
  else Object.defineProperty(object, edit.key, { value: edit.value, enumerable: true, configurable: true, writable: true });
}

function editJson(segment: string | undefined, edits: Edit[]): string {
  let object: Record<string, unknown> = {};
  try {
    const parsed = b64u.json(segment ?? "");
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) object = parsed as Record<string, unknown>;
  } catch {
    // not JSON any more (an earlier op): start from an empty object
  }
  for (const edit of edits) setOwn(object, edit);
  return b64u.encode(JSON.stringify(object));
}

function applyOp(token: string, op: Op): string {
  const segs = token.split(".");
  const at = (i: number) => i % segs.length;
  const pos = (p: number) => (token.length === 0 ? 0 : p % (token.length + 1));
  switch (op.k) {
    case "char": {
      const i = at(op.seg);
      const s = segs[i]!;
      if (s.length === 0) return token;
      const p = op.pos % s.length;
      segs[i] = s.slice(0, p) + op.ch + s.slice(p + 1);
      return segs.join(".");
    }
    case "insert":
      return token.slice(0, pos(op.pos)) + op.s + token.slice(pos(op.pos));
    case "delete":
      return token.slice(0, pos(op.pos)) + token.slice(pos(op.pos) + op.len);
    case "byte": {
      const i = at(op.seg);
      let bytes: Uint8Array;
      try {
        bytes = b64u.decode(segs[i]!);
      } catch {
        return token;
      }
      if (bytes.length === 0) return token;
      bytes[op.pos % bytes.length] = bytes[op.pos % bytes.length]! ^ op.xor;
      segs[i] = b64u.encode(bytes);
      return segs.join(".");
    }
    case "shape":
      return op.order.map((i) => (i === "" ? "" : (segs[at(i)] ?? ""))).join(".");
    case "claims":
      if (segs.length < 2) return token;
      segs[1] = editJson(segs[1], op.edits);
      return segs.join(".");
    case "header":
      segs[0] = editJson(segs[0], op.edits);
      return segs.join(".");
    case "reserialise": {
      if (segs.length <= op.seg) return token;
      try {
        segs[op.seg] = b64u.encode(JSON.stringify(b64u.json(segs[op.seg]!), null, op.indent || " "));
      } catch {
        return token;
      }
      return segs.join(".");
    }
    case "splice": {
      const donor = valid[op.from % valid.length]!.token.split(".");
      segs[at(op.seg)] = donor[op.seg % 3]!;
      return segs.join(".");
    }
    case "truncate":
      return token.slice(0, op.len % (token.length + 1));
    case "append":
      return token + op.s;
    case "case": {
      const i = at(op.seg);
      segs[i] = op.upper ? segs[i]!.toUpperCase() : segs[i]!.toLowerCase();
      return segs.join(".");
    }
    case "noncanonical": {
      if (segs.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(segs[2]!)) return token;
      const spellings = nonCanonicalSpellings(segs[2]!);
      if (spellings.length === 0) return token;
      segs[2] = spellings[op.n % spellings.length]!;
      return segs.join(".");
    }
  }
}

// ------------------------------------------------------------------------- routes and methods

const pathArb = fc.oneof(
  fc.constantFrom(
    "/auth/me", "/healthz", "/", "/healthz/", "/auth/me/", "//auth/me", "/AUTH/ME", "/auth/me?x=1", "/%61uth/me", "/%68ealthz", "/auth/./me",
    "/x/../auth/me", "/healthz?x=1", "/api", "/api/", "/api/auth/x", "/api/auth/../agents", "/api/auth/%2e%2e/agents", "/api/auth/%2E%2E/agents",
    "//api/agents", "/api/auth%2f../agents", "/api/auth/..%2fagents", "/api/./auth/x", "/api/auth/%252e%252e/agents", "/api/authx", "/api/auth",
    "/api/agents", "/api%2fauth/x", "/api/auth/.%2e/agents", "/api/auth/%2e./agents", "/api\\auth/x",
  ),
  fc
    .array(
      fc.oneof(
        fc.constantFrom("api", "auth", "agents", "me", "healthz", "..", ".", "%2e%2e", "%2E", "%61uth", "%68ealthz", "auth%2fme", "", "ME", "x?y=1", "#f", "%00", "%zz", "%", ";a=1", "~", "%7e", "%25", "%20"),
        fc.string({ unit: fc.constantFrom(..."abcmeauthz.-_%~"), maxLength: 6 }),
      ),
      { maxLength: 5 },
    )
    .map((s) => `/${s.join("/")}`),
);
const methodArb = fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "PROPFIND", "TRACE", "get", "post");
const credentialArb = () =>
  fc.oneof(
    fc.constant<Sent>({}),
    fc.nat(2).map<Sent>((i) => ({ authorization: `Bearer ${valid[i]!.token}` })),
    fc.nat(2).map<Sent>((i) => ({ cookie: `__session=${valid[i]!.token}` })),
    fc.tuple(fc.nat(2), opArb).map<Sent>(([i, op]) => ({ authorization: `Bearer ${applyOp(valid[i]!.token, op)}` })),
    headerString(30).map<Sent>((junk) => ({ authorization: `Bearer ${junk}` })),
  );

/** One percent-decoding, as a router does (a malformed escape is left as it is). */
function decodeOnce(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

function resolveDots(path: string): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return `/${out.join("/")}${path.length > 1 && path.endsWith("/") && out.length > 0 ? "/" : ""}`;
}

/** The shipped PUBLIC_PATHS "/api,/api/auth/*", read independently of src/authorize. */
function isShippedPublic(path: string): boolean {
  return path === "/api" || path === "/api/" || path.startsWith("/api/auth/");
}

// --------------------------------------------------------------------------------- properties

describe("fuzz: the gateway never lets an invalid token through (fixed clock)", () => {
  it(`mutated valid tokens, as Bearer tokens (${describeBudget(RUNS.mutations)})`, async () => {
    const w = world();
    let accepted = 0;
    let changed = 0;
    const runs = await checkProperty(
      fc.asyncProperty(fc.nat(2), fc.array(opArb, { minLength: 1, maxLength: 3 }), async (which, ops) => {
        const original = valid[which % valid.length]!.token;
        const mutated = ops.reduce(applyOp, original);
        if (mutated !== original) changed++;
        const sent: Sent = { authorization: `Bearer ${mutated}` };
        const answer = await send(w.h, sent);
        if (answer.status === 200) accepted++;
        expectOnlyValidAccepted(answer, sent);
      }),
      "mutations",
      RUNS.mutations,
    );
    expectOriginDiscipline(w);
    // The mutations must mostly change the token, and the unmodified ones must get in.
    expect(changed).toBeGreaterThan(runs * 0.9);
    console.log(`[fuzz] mutations: ${changed} changed tokens, ${accepted} accepted (unchanged or same signed message)`);
  }, timeoutFor(RUNS.mutations));

  it(`random junk tokens, as Bearer tokens and cookies (${describeBudget(RUNS.junk)})`, async () => {
    const w = world();
    const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => b64u.encode(b));
    const jsonSegment = fc.jsonValue({ maxDepth: 2 }).map((v) => b64u.encode(JSON.stringify(v) ?? "null"));
    const headerSegment = fc
      .record(
        {
          alg: fc.constantFrom("RS256", "RS256", "none", "HS256", "RS512", "ES256", ""),
          kid: fc.oneof(fc.constant(key.kid), fc.string({ maxLength: 40 }), fc.constant(`${key.kid} `)),
          typ: fc.constantFrom("JWT", "jwt", "at+jwt"),
          crit: fc.constant(["exp-ext"]),
          jku: fc.constant("https://evil.example/jwks.json"),
        },
        { requiredKeys: [] },
      )
      .map((h) => b64u.encode(JSON.stringify(h)));
    const claimsSegment = fc
      .record(
        {
          sub: fc.constantFrom("user_1", "user_fuzz_plain"),
          iss: fc.constant(ISSUER),
          azp: fc.constant(PARTY),
          exp: fc.constant(clock.seconds + 60),
          nbf: fc.constant(clock.seconds - 10),
          iat: fc.constant(clock.seconds),
        },
        { requiredKeys: [] },
      )
      .map((c) => b64u.encode(JSON.stringify(c)));
    const junk = fc.oneof(
      headerString(300),
      fc.string({ unit: fc.constantFrom(...B64URL, "."), maxLength: 400 }),
      fc.tuple(bytes(300), bytes(300), bytes(300)).map((s) => s.join(".")),
      fc.tuple(fc.oneof(headerSegment, jsonSegment), fc.oneof(claimsSegment, jsonSegment), fc.oneof(bytes(300), bytes(256))).map((s) => s.join(".")),
      fc.tuple(fc.integer({ min: 8180, max: 8200 }), fc.constantFrom("a", ".", "A.")).map(([n, c]) => c.repeat(Math.ceil(n / c.length)).slice(0, n)),
      fc.array(bytes(40), { minLength: 4, maxLength: 7 }).map((s) => s.join(".")),
    );
    const transport = fc.constantFrom("bearer", "cookie", "quoted-cookie");
    await checkProperty(
      fc.asyncProperty(junk, transport, async (token, how) => {
        const sent: Sent =
          how === "bearer" ? { authorization: `Bearer ${token}` } : { cookie: how === "cookie" ? `__session=${token}` : `__session="${token}"` };
        const answer = await send(w.h, sent);
        expect(answer.status, `junk accepted: ${token.slice(0, 200)}`).not.toBe(200);
        expectOnlyValidAccepted(answer, sent);
      }),
      "junk",
      RUNS.junk,
    );
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.junk));

  it(`random Authorization header values (${describeBudget(RUNS.authorization)})`, async () => {
    const w = world();
    const ws = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 });
    const scheme = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR") },
      { weight: 2, arbitrary: fc.constantFrom("Basic", "Token", "JWT", "Bearer:", "Bearer,", "Bearerx", "Bear", "Digest", "") },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."BEARbearxyz-_:,="), maxLength: 8 }) },
    );
    const tokenPart = fc.oneof(
      { weight: 4, arbitrary: fc.nat(2).map((i) => valid[i]!.token) },
      { weight: 3, arbitrary: fc.tuple(fc.nat(2), opArb).map(([i, op]) => applyOp(valid[i]!.token, op)) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(2), fc.nat(2)).map(([a, b]) => `${valid[a]!.token}, ${valid[b]!.token}`) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(2), fc.nat(2)).map(([a, b]) => `${valid[a]!.token} ${valid[b]!.token}`) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(2), fc.nat(2)).map(([a, b]) => `${valid[a]!.token}, Bearer ${valid[b]!.token}`) },
      { weight: 1, arbitrary: fc.nat(2).map((i) => `${valid[i]!.token},`) },
      { weight: 1, arbitrary: headerString(40) },
      { weight: 1, arbitrary: fc.constant("") },
    );
    const header = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(ws, scheme, ws, tokenPart, ws).map(([a, s, b, t, c]) => `${a}${s}${b}${t}${c}`) },
      { weight: 2, arbitrary: fc.tuple(scheme, fc.constantFrom(" ", "  ", "\t"), tokenPart).map(([s, sep, t]) => `${s}${sep}${t}`) },
      { weight: 1, arbitrary: headerString(60) },
    );
    const cookie = fc.option(fc.oneof(fc.nat(2).map((i) => `__session=${valid[i]!.token}`), fc.constant("__session=nope")), { nil: undefined });
    await checkProperty(
      fc.asyncProperty(header, cookie, async (authorization, cookie) => {
        const sent: Sent = { authorization, cookie };
        expectOnlyValidAccepted(await send(w.h, sent), sent);
      }),
      "authorization",
      RUNS.authorization,
    );
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.authorization));

  it("a valid token with any scheme case and surrounding spaces/tabs is accepted (the converse, on benign variants)", async () => {
    const w = world();
    const benign = fc.tuple(
      fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 }),
      fc.constantFrom("Bearer", "bearer", "BEARER", "BeArEr"),
      fc.string({ unit: fc.constantFrom(" ", "\t"), minLength: 1, maxLength: 3 }),
      fc.nat(2),
      fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 }),
    );
    await checkProperty(
      fc.asyncProperty(benign, async ([a, scheme, b, i, c]) => {
        const answer = await send(w.h, { authorization: `${a}${scheme}${b}${valid[i]!.token}${c}` });
        expect(answer.status).toBe(200);
        expect(answer.json!.userId).toBe(valid[i]!.sub);
      }),
      "benign authorization",
      RUNS.benign,
    );
  }, timeoutFor(RUNS.benign));

  it(`random cookies, without and with a non-Bearer Authorization (${describeBudget(RUNS.cookies)})`, async () => {
    const w = world();
    const value = fc.oneof(
      { weight: 4, arbitrary: fc.nat(2).map((i) => valid[i]!.token) },
      { weight: 1, arbitrary: fc.nat(2).map((i) => `"${valid[i]!.token}"`) },
      { weight: 2, arbitrary: fc.tuple(fc.nat(2), opArb).map(([i, op]) => applyOp(valid[i]!.token, op)) },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...B64URL, ".", "=", " ", '"', ","), maxLength: 30 }) },
      { weight: 1, arbitrary: fc.constant("") },
    );
    // Clerk's __client_uat beside the session cookie: present, absent, zero, later than the token's iat.
    const uat = fc.constantFrom("1", "0", "", "x", String(clock.seconds), String(clock.seconds + 1), `"${clock.seconds - 5}"`);
    const name = fc.oneof(
      { weight: 4, arbitrary: fc.constant("__session") },
      { weight: 2, arbitrary: fc.constantFrom(" __session", "__session ", "__Session", "__session_abc", "session", "__client_uat", "__session\t") },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."_sesionabc-"), maxLength: 10 }) },
    );
    const pair = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(name, value).map(([n, v]) => `${n}=${v}`) },
      { weight: 3, arbitrary: uat.map((v) => `__client_uat=${v}`) },
      { weight: 1, arbitrary: headerString(20) },
    );
    const cookie = fc.tuple(fc.array(pair, { maxLength: 4 }), fc.constantFrom(";", "; ", " ;", ";;")).map(([pairs, sep]) => pairs.join(sep));
    const authorization = fc.option(fc.constantFrom("Basic dXNlcjpwYXNz", "", "   ", "Token abc", "Digest x=1"), { nil: undefined });
    let accepted = 0;
    await checkProperty(
      fc.asyncProperty(cookie, authorization, async (cookie, authorization) => {
        const sent: Sent = { cookie, authorization };
        const answer = await send(w.h, sent);
        if (answer.status === 200) accepted++;
        expectOnlyValidAccepted(answer, sent);
        // The converse on the plain case: exactly one __session cookie carrying a valid token, beside
        // exactly one __client_uat no later than its iat, gets in.
        const sessions = cookie.split(";").filter((p) => p.includes("=") && p.slice(0, p.indexOf("=")).trim() === "__session");
        const only = sessions.length === 1 ? sessions[0]!.slice(sessions[0]!.indexOf("=") + 1).trim() : undefined;
        const uats = cookie.split(";").filter((p) => p.includes("=") && p.slice(0, p.indexOf("=")).trim() === "__client_uat");
        const uatValue = uats.length === 1 ? Number.parseInt(uats[0]!.slice(uats[0]!.indexOf("=") + 1).trim(), 10) || 0 : 0;
        if (only !== undefined && valid.some((v) => v.token === only) && uatValue > 0 && iatOf(only) >= uatValue) expect(answer.status).toBe(200);
      }),
      "cookies",
      RUNS.cookies,
    );
    expect(accepted).toBeGreaterThan(0);
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.cookies));

  it(`random paths and methods, pure auth service (${describeBudget(RUNS.routes)})`, async () => {
    const w = world();
    await checkProperty(
      fc.asyncProperty(pathArb, methodArb, credentialArb(), fc.option(headerString(50), { nil: undefined }), async (p, m, cred, payload) => {
        const upper = m.toUpperCase();
        const sent: Sent = { ...cred, path: p, method: m, body: ["POST", "PUT", "PATCH", "PROPFIND"].includes(upper) ? payload : undefined };
        const answer = await send(w.h, sent);
        const allowed = modelMayAccept(sent.authorization, sent.cookie);
        if (answer.status === 404) expect(allowed, `404 reached without authentication: ${m} ${p}`).toBeDefined();
        if (answer.status === 200) {
          expect(["GET", "HEAD"]).toContain(upper);
          if (!allowed) {
            // Only the public health route answers without a token, and with its status only.
            const json = answer.json ?? (await send(w.h, { path: p, method: "GET" })).json;
            expect(json, `2xx without authentication: ${m} ${p}`).toEqual({ status: "ok" });
          } else if (answer.json && "userId" in answer.json) {
            expect(answer.json.userId).toBe(allowed.sub);
          }
        }
      }),
      "routes",
      RUNS.routes,
    );
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.routes));

  it(`random paths, methods and spoofed identity headers in front of an upstream (${describeBudget(RUNS.proxied)})`, async () => {
    // The shipped PUBLIC_PATHS, and a fake Mastra behind a service binding that records what reaches it.
    const reached: { method: string; path: string; headers: [string, string][] }[] = [];
    const upstream = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const r = new Request(input, init);
        reached.push({ method: r.method, path: new URL(r.url).pathname, headers: [...r.headers] });
        return Response.json({ upstream: true });
      },
    } as unknown as Fetcher;
    const w = world(clock.now, { MASTRA: upstream, PUBLIC_PATHS: "/api,/api/auth/*" });
    const spoofed = fc.dictionary(
      fc.constantFrom("x-clerk-user-id", "X-Clerk-User-Id", "x_clerk_user_id", "x-clerk-org-role", "x-clerk-org-id", "x-gateway-assertion", "forwarded", "x-forwarded-host"),
      fc.constantFrom("user_admin", "org:admin", "org_evil", "for=1.2.3.4"),
      { maxKeys: 3 },
    );
    let forwarded = 0;
    await checkProperty(
      fc.asyncProperty(pathArb, methodArb, credentialArb(), spoofed, async (p, m, cred, headers) => {
        const sent: Sent = { ...cred, path: p, method: m, headers };
        const before = reached.length;
        const answer = await send(w.h, sent);
        const allowed = modelMayAccept(sent.authorization, sent.cookie);
        const hit = reached.slice(before);
        expect(hit.length).toBeLessThanOrEqual(1);
        if (hit.length === 0) return;
        forwarded++;
        const [{ path, headers: got }] = hit as [(typeof hit)[0]];
        // What the upstream will route on: one percent-decoding, then dot segments resolved.
        const routed = resolveDots(decodeOnce(path));
        if (!allowed) {
          expect(isShippedPublic(path) && isShippedPublic(routed), `unauthenticated request forwarded to a protected path: ${m} ${p} → ${path}`).toBe(true);
        }
        expect(routed, `the upstream would route ${path} elsewhere`).toBe(decodeOnce(path));
        // Identity headers: only ever the gateway's, from the verified token; a client's are gone.
        const identity = got.filter(([n]) => /^x-clerk-|^x-gateway-assertion$/.test(n.toLowerCase().replace(/_/g, "-")));
        const userId = identity.find(([n]) => n.toLowerCase() === "x-clerk-user-id")?.[1];
        // A public path forwards a valid credential's identity too (issue #12); an unverified
        // request reaches the upstream with no identity and no credential at all.
        if (!allowed) {
          expect(identity, `identity headers on an unauthenticated request: ${JSON.stringify(identity)}`).toEqual([]);
          expect(got.filter(([n]) => n === "authorization" || (n === "cookie" && /__session/.test(got.find(([c]) => c === "cookie")![1]))), "an unverified credential forwarded").toEqual([]);
        } else if (userId !== undefined || !isShippedPublic(path)) {
          // The model says the token may be accepted; on a public path a refused one passes anonymous.
          expect(userId).toBe(allowed.sub);
        }
        for (const [n, v] of identity) expect(n.includes("_") || v === "user_admin" || v === "org_evil", `spoofed ${n}: ${v}`).toBe(false);
        expect(answer.status).toBe(200);
      }),
      "proxied routes",
      RUNS.proxied,
    );
    expect(forwarded).toBeGreaterThan(0);
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.proxied));

  it(`non-ASCII in tokens, schemes and cookies (${describeBudget(RUNS.unicode)})`, async () => {
    // Few runs: workerd prints a warning for every non-ASCII header value it encodes as UTF-8.
    const w = world();
    const unicode = fc.constantFrom("é", "\u00a0", "ÿ", "\u2028", "\u200b", "𝐁", "Ｂ", "\ufeff", "İ", "ı");
    const sent = fc.oneof(
      fc.tuple(fc.nat(2), fc.nat(2000), unicode).map<Sent>(([i, p, u]) => {
        const t = valid[i]!.token;
        return { authorization: `Bearer ${t.slice(0, p % t.length)}${u}${t.slice(p % t.length)}` };
      }),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ authorization: `Bearer${u}${valid[i]!.token}` })),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ authorization: `${u}Bearer ${valid[i]!.token}` })),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ authorization: `Bearer ${valid[i]!.token}${u}` })),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ authorization: `Bearer ${valid[i]!.token}`.replace("B", u) })),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ cookie: `__session${u}=${valid[i]!.token}` })),
      fc.tuple(fc.nat(2), unicode).map<Sent>(([i, u]) => ({ cookie: `__session=${valid[i]!.token}${u}` })),
    );
    await checkProperty(
      fc.asyncProperty(sent, async (s) => {
        const answer = await send(w.h, s);
        // No non-ASCII variant of a valid token is that token (JS trim() would strip U+00A0/U+FEFF; see the report).
        if (answer.status === 200) {
          const allowed = modelMayAccept(s.authorization, s.cookie);
          expect(allowed, `2xx for ${JSON.stringify(s).slice(0, 200)}`).toBeDefined();
        }
      }),
      "unicode",
      RUNS.unicode,
    );
    expectOriginDiscipline(w);
  }, timeoutFor(RUNS.unicode));
});

describe("fuzz: the JWKS origin is asked at most once per cooldown (moving clock)", () => {
  it(`random kids, mutated and valid tokens while time passes (${describeBudget(RUNS.cooldown)})`, async () => {
    const moving = new Clock(clock.ms);
    const w = world(moving.now);
    // Valid for the whole run: at most 45 s per step, well under the 3 days of the token and the
    // 86400 s stale bound, so keys stay servable and every valid token must get in.
    const longLived = await mint(key, { now: moving.seconds, sub: "user_long", azp: PARTY, ttlSeconds: 3 * 86_400 });
    const start = moving.ms;
    const request = fc.oneof(
      fc.constant<Sent>({ authorization: `Bearer ${longLived}` }),
      fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 12 }).map<Sent>((kid) => ({
        authorization: `Bearer ${b64u.encode(JSON.stringify({ alg: "RS256", kid, typ: "JWT" }))}.${longLived.split(".")[1]}.${longLived.split(".")[2]}`,
      })),
      opArb.map<Sent>((op) => ({ authorization: `Bearer ${applyOp(longLived, op)}` })),
    );
    let accepted = 0;
    await checkProperty(
      fc.asyncProperty(fc.integer({ min: 0, max: 45 }), request, async (step, sent) => {
        moving.advance(step);
        const answer = await send(w.h, sent);
        if (answer.status === 200) {
          accepted++;
          expect(sameSignedMessage(sent.authorization!.slice("Bearer ".length).trim(), longLived)).toBe(true);
        }
        if (sent.authorization === `Bearer ${longLived}`) expect(answer.status).toBe(200);
      }),
      "cooldown",
      RUNS.cooldown,
    );
    for (const r of w.origin.requests) expect(r.url).toBe(w.url);
    for (let i = 1; i < w.fetchedAt.length; i++) {
      expect(w.fetchedAt[i]! - w.fetchedAt[i - 1]!, `origin fetches ${i - 1} and ${i} closer than the cooldown`).toBeGreaterThanOrEqual(COOLDOWN_S * 1000);
    }
    const elapsedS = (moving.ms - start) / 1000;
    expect(w.origin.count).toBeLessThanOrEqual(1 + Math.floor(elapsedS / COOLDOWN_S));
    // The run must have gone past the TTL and seen unknown kids, so refetches were really possible.
    expect(elapsedS).toBeGreaterThan(600);
    expect(w.origin.count).toBeGreaterThan(1);
    expect(accepted).toBeGreaterThan(0);
    console.log(`[fuzz] cooldown: ${elapsedS} s simulated, ${w.origin.count} origin fetches, ${accepted} accepted`);
  }, timeoutFor(RUNS.cooldown));
});

// ------------------------------------------------------------------------------ machine tokens (issue #13)

describe("fuzz: machine tokens (M2M and OAuth JWTs, opaque tokens through a Backend API stand-in)", () => {
  const API = "https://api.clerk.test";
  const KNOWN: Record<string, Record<string, unknown>> = {
    ak_known_fuzz_key_0001: { id: "ak_id", subject: "user_key", scopes: [], claims: null, revoked: false, expired: false, expiration: null },
    mt_known_fuzz_token_001: { id: "mt_id", subject: "mch_fuzz", scopes: [], claims: null, revoked: false, expired: false, expiration: null },
    oat_known_fuzz_token_01: { id: "oat_id", subject: "user_oauth", client_id: "client_1", scopes: [], revoked: false, expired: false, expiration: null, aud: ["https://gateway.test"] },
  };

  /** A gateway taking every class, its Backend API stand-in counting each lookup. */
  function machineWorld() {
    const origin = new FakeOrigin(key);
    const lookups: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      if (!request.url.startsWith(API)) return origin.fetch(request);
      const body = (await request.json()) as Record<string, string>;
      const token = body.secret ?? body.access_token ?? body.token ?? "";
      lookups.push(token);
      const answer = KNOWN[token];
      return answer ? Response.json(answer) : Response.json({ errors: [] }, { status: 404 });
    };
    const h = harness(uniqueJwksEnv({ ACCEPTS: "any", CLERK_SECRET_KEY: "sk_test_fuzz", CLERK_API_URL: API, MACHINE_TOKEN_CACHE_TTL_S: "3600", MACHINE_TOKEN_LOOKUPS_PER_MINUTE: "100000" }), { fetch, now: clock.now, kv: null });
    return { h, origin, lookups };
  }

  it(`mutated M2M and OAuth JWTs: only the unmodified (same signed message) get in, as the machine they are (${describeBudget(RUNS.machineJwts)})`, async () => {
    const machines = [
      { type: "m2m_token", token: await mintM2MToken(key, { issuer: ISSUER, now: clock.seconds, machineId: "mch_fuzz", scopes: ["mch_a"] }) },
      { type: "oauth_token", token: await mintOAuthAccessToken(key, { issuer: ISSUER, now: clock.seconds, sub: "user_oauth", aud: "https://gateway.test", scopes: ["read"] }) },
    ];
    const w = machineWorld();
    let accepted = 0;
    await checkProperty(
      fc.asyncProperty(fc.nat(1), fc.array(opArb, { minLength: 0, maxLength: 3 }), async (which, ops) => {
        const original = machines[which]!;
        const mutated = ops.reduce(applyOp, original.token);
        const response = await w.h.request("/auth/me", { headers: { authorization: `Bearer ${mutated}`, "cf-connecting-ip": "198.51.100.7" } });
        expect(response.status, "never a 5xx").toBeLessThan(500);
        const json = (await response.json()) as Record<string, unknown>;
        if (response.status === 200) {
          accepted++;
          // What the gateway received: an HTTP field value without its leading and trailing
          // SP/HTAB (RFC 9110 §5.5; Headers strips them), so a token with a tab appended is that token.
          const same = machines.find((m) => sameSignedMessage(mutated.replace(/^[\t ]+|[\t ]+$/g, ""), m.token));
          expect(same, `accepted a machine token that is not a valid one: ${mutated.slice(0, 300)}`).toBeDefined();
          expect(json.tokenType).toBe(same!.type);
        } else {
          expect(response.status).toBe(401);
          expect(REJECT_REASONS.has(json.reason as string), `unknown reason ${String(json.reason)}`).toBe(true);
        }
        if (mutated === original.token) expect(response.status).toBe(200);
        expect(JSON.stringify(w.h.logger.lines)).not.toContain(original.token.split(".")[2]!);
        w.h.logger.lines.length = 0;
      }),
      "machineJwts",
      RUNS.machineJwts,
    );
    expect(accepted).toBeGreaterThan(0);
    for (const r of w.origin.requests) expect(r.url.startsWith(`${ISSUER}/.well-known/jwks.json`)).toBe(true);
  }, timeoutFor(RUNS.machineJwts));

  it(`random opaque tokens: accepted only when Clerk knows them, one lookup per distinct token, none logged (${describeBudget(RUNS.opaque)})`, async () => {
    const w = machineWorld();
    const sent = new Set<string>();
    const opaque = fc.oneof(
      fc.tuple(fc.constantFrom("mt_", "oat_", "ak_"), fc.string({ unit: fc.constantFrom(...B64URL, "+", "/", "="), minLength: 1, maxLength: 60 })).map(([p, s]) => p + s),
      fc.constantFrom(...Object.keys(KNOWN)),
      fc.constantFrom(...Object.keys(KNOWN)).map((t) => t.slice(0, -1) + "X"),
    );
    await checkProperty(
      fc.asyncProperty(opaque, async (token) => {
        sent.add(token);
        const response = await w.h.request("/auth/me", { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": "198.51.100.8" } });
        const json = (await response.json()) as Record<string, unknown>;
        if (token in KNOWN) {
          expect(response.status).toBe(200);
          expect(json.subject).toBe(KNOWN[token]!.subject);
        } else {
          expect({ status: response.status, reason: json.reason }).toEqual({ status: 401, reason: Reason.TokenInvalid });
        }
        expect(JSON.stringify(w.h.logger.lines)).not.toContain(token);
      }),
      "opaque",
      RUNS.opaque,
    );
    // Answers (either way) are cached: never two lookups of one token.
    expect(w.lookups.length).toBe(new Set(w.lookups).size);
    expect(w.lookups.length).toBeLessThanOrEqual(sent.size);
  }, timeoutFor(RUNS.opaque));
});
