// Differential check against Clerk's own SDK: every token of test/support/corpus.ts (and a few
// hundred random ones) goes through this project's gateway (createGateway, real HTTP answers) and
// through @clerk/backend's verifyToken, on the same pinned clock, issuer, skew and authorized
// parties. Both must agree on accept vs reject unless the difference is listed in DIVERGENCES with
// its reason; reason codes are compared too.
//
// @clerk/backend imports cleanly inside workerd (its "worker" export condition uses Web Crypto), so
// this runs in the worker project, in the same runtime as production.
//
// Clerk's verifyToken has no clock option: Date is faked (vi.useFakeTimers, Date only) at the same
// instant the gateway's Clock is pinned to, so tokens are minted relative to one fixed "now".
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AUTHORIZED_PARTIES,
  claimsAt,
  CLERK_M2M_CATEGORY,
  CLOCK_SKEW_MS,
  CORPUS,
  type CorpusCase,
  type CorpusContext,
  decodeToken,
  DIVERGENCES,
  type DivergenceId,
  headerFor,
  type KeyMode,
  type Outcome,
} from "../support/corpus.js";
import { checkProperty, describeBudget, type RunBudget, timeoutFor } from "../support/fast-check.js";
import { b64u, type Json, nonCanonicalSpellings, pemOf, signRsa, split, withFields } from "../support/jws.js";
import { body, Clock, FakeOrigin, harness, type Harness, ISSUER, newKey, uniqueJwksEnv } from "./helpers.js";

type ClerkVerify = typeof import("@clerk/backend").verifyToken;

const CLERK_API_URL = "https://api.clerk.test";
const CLERK_SECRET_KEY = "sk_test_differential";
// Sized by time (test/support/fast-check.ts): 1,000 runs take ~2.2 s on a quiet 2-core machine.
const DIFF_RUNS: RunBudget = { maxRuns: 1000, timeMs: 5_000, minRuns: 200 };

const clock = new Clock();
let ctx: CorpusContext;
let pem: string;
let clerkVerify: ClerkVerify;
/** What Clerk's SDK fetched (only its JWKS, from the stub below: never the network). */
const clerkFetches: string[] = [];
let origin: FakeOrigin;
const gateways = new Map<string, Harness>();

beforeAll(async () => {
  const [key, rotated, attacker] = await Promise.all([newKey(), newKey(), newKey()]);
  ctx = { key, rotated, attacker, now: clock.seconds };
  pem = await pemOf(key);

  // Clerk binds `fetch` when its module is evaluated, so the stub goes in before the import. It
  // serves the same JWKS as our FakeOrigin and refuses anything else: no network at all.
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new Request(input, init).url;
    clerkFetches.push(url);
    if (url !== `${CLERK_API_URL}/v1/jwks`) throw new TypeError(`differential: unexpected fetch of ${url}`);
    return Response.json({ keys: [key.publicJwk, rotated.publicJwk] });
  });
  clerkVerify = (await import("@clerk/backend")).verifyToken;

  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(clock.ms);

  origin = new FakeOrigin(key, rotated);
  for (const mode of ["pem", "jwks"] as const) {
    for (const parties of [false, true]) {
      const extra = { CLERK_CLOCK_SKEW_MS: String(CLOCK_SKEW_MS), ...(parties ? { CLERK_AUTHORIZED_PARTIES: AUTHORIZED_PARTIES.join(",") } : {}) };
      const env = mode === "pem" ? { CLERK_JWT_KEY: pem, CLERK_ISSUER: ISSUER, ...extra } : uniqueJwksEnv(extra);
      gateways.set(`${mode}:${parties}`, harness(env, { fetch: origin.fetch, now: clock.now, kv: null }));
    }
  }
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

async function ours(token: string, mode: KeyMode, parties: boolean): Promise<Outcome> {
  const response = await gateways.get(`${mode}:${parties}`)!.withToken(token);
  if (response.status === 200) return "accept";
  expect(response.status, `gateway answered ${response.status} for a token`).toBe(401);
  const json = await body(response);
  expect(typeof json.reason).toBe("string");
  return json.reason as string;
}

async function clerk(token: string, mode: KeyMode, parties: boolean): Promise<Outcome> {
  const options = {
    issuer: ISSUER,
    clockSkewInMs: CLOCK_SKEW_MS,
    ...(parties ? { authorizedParties: AUTHORIZED_PARTIES } : {}),
    ...(mode === "pem" ? { jwtKey: pem } : { secretKey: CLERK_SECRET_KEY, apiUrl: CLERK_API_URL, skipJwksCache: true }),
  };
  try {
    await clerkVerify(token, options);
    return "accept";
  } catch (error) {
    const reason = (error as { reason?: unknown }).reason;
    if (typeof reason !== "string") throw error;
    return reason;
  }
}

/** The divergences that explain why ours says `o` and Clerk says `c` for this token, if any. */
function explanations(token: string, mode: KeyMode, o: Outcome, c: Outcome): DivergenceId[] {
  const decoded = decodeToken(token);
  const direction = o === "accept" ? "laxer" : "stricter";
  return (Object.keys(DIVERGENCES) as DivergenceId[]).filter((id) => {
    const d = DIVERGENCES[id] as (typeof DIVERGENCES)[DivergenceId] & { ourReasons?: string[] };
    if (d.direction !== direction || !d.applies(decoded, mode)) return false;
    return direction === "laxer" ? c !== "accept" : !d.ourReasons || d.ourReasons.includes(o);
  });
}

function describeToken(token: string): string {
  const { header, payload } = decodeToken(token);
  return JSON.stringify({ header, payload, length: token.length }).slice(0, 600);
}

interface Row {
  name: string;
  mode: KeyMode;
  ours: Outcome;
  clerk: Outcome;
  note: string;
}
const rows: Row[] = [];

describe("differential: this gateway vs @clerk/backend@3.25.0 verifyToken, on one corpus", () => {
  it.each(CORPUS.map((c) => [c.name, c] as [string, CorpusCase]))("%s", async (_name, c) => {
    const token = await c.make(ctx);
    const parties = c.parties === true;
    const [o, k] = [await ours(token, c.mode, parties), await clerk(token, c.mode, parties)];
    rows.push({ name: c.name, mode: c.mode, ours: o, clerk: k, note: c.divergence ?? c.reasonsDiffer ?? "" });

    // Both answers are pinned: a change on either side (ours, or a Clerk upgrade) shows up here.
    expect({ ours: o, clerk: k }, describeToken(token)).toEqual({ ours: c.ours, clerk: c.clerk });

    if ((o === "accept") !== (k === "accept")) {
      // A disagreement on accept vs reject must be a documented divergence that applies to this token.
      expect(c.divergence, `undocumented disagreement: ours=${o} clerk=${k}`).toBeDefined();
      expect(explanations(token, c.mode, o, k), "the named divergence does not explain this token").toContain(c.divergence);
    } else {
      expect(c.divergence, "both sides agree: the divergence note is stale").toBeUndefined();
      if (o !== "accept" && o !== k) expect(c.reasonsDiffer, `reason codes differ (ours=${o}, clerk=${k}) without a note`).toBeDefined();
      if (o === k) expect(c.reasonsDiffer, "reason codes agree: the note is stale").toBeUndefined();
    }
  });

  it("every documented divergence is exercised by the corpus", () => {
    const used = new Set(CORPUS.map((c) => c.divergence).filter(Boolean));
    expect((Object.keys(DIVERGENCES) as DivergenceId[]).filter((id) => !used.has(id))).toEqual([]);
  });

  it("Clerk was asked for its JWKS through the stub only (no network)", () => {
    expect(clerkFetches.length).toBeGreaterThan(0);
    expect(new Set(clerkFetches)).toEqual(new Set([`${CLERK_API_URL}/v1/jwks`]));
  });

  it("without `issuer`, Clerk's verifyToken accepts any iss: we always check it (so the corpus passes issuer to Clerk)", async () => {
    const token = await signRsa(ctx.key, headerFor(ctx.key), claimsAt(ctx.now, { issuer: "https://evil.example" }));
    await expect(clerkVerify(token, { jwtKey: pem, clockSkewInMs: CLOCK_SKEW_MS })).resolves.toMatchObject({ iss: "https://evil.example" });
    expect(await ours(token, "pem", false)).toBe("token-invalid-issuer");
  });

  afterAll(() => {
    if (rows.length === 0) return;
    const bothReject = rows.filter((r) => r.ours !== "accept" && r.clerk !== "accept");
    const sameReason = bothReject.filter((r) => r.ours === r.clerk);
    const agree = rows.filter((r) => (r.ours === "accept") === (r.clerk === "accept"));
    console.log(
      [
        `differential corpus: ${rows.length} tokens; accept/reject agree on ${agree.length}, differ (documented) on ${rows.length - agree.length}; ` +
          `both reject on ${bothReject.length}, same reason code on ${sameReason.length}`,
        ...rows.map((r) => `  ${r.ours === r.clerk ? "=" : (r.ours === "accept") === (r.clerk === "accept") ? "~" : "!"} [${r.mode}] ${r.name}: ours=${r.ours} clerk=${r.clerk}${r.note ? ` (${r.note.slice(0, 80)})` : ""}`),
      ].join("\n"),
    );
  });
});

// ------------------------------------------------------------------------------ random corpus

/** A time claim: typical (Clerk's own offsets), near the skew boundary (now ± 8 s, whole or half seconds), or broken. */
type Time = { typical: true } | { at: number } | "missing" | "string" | "huge" | "negative";
const time: fc.Arbitrary<Time> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ typical: true as const }) },
  { weight: 6, arbitrary: fc.integer({ min: -8, max: 8 }).map((at) => ({ at })) },
  { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }).map((n) => ({ at: n / 2 })) },
  { weight: 1, arbitrary: fc.constantFrom<Time>("missing", "string", "huge", "negative") },
);

function timeValue(t: Time, now: number, typical: number): unknown {
  if (t === "missing") return undefined;
  if (t === "string") return String(now + typical);
  if (t === "huge") return 1e300;
  if (t === "negative") return -5;
  return "at" in t ? now + t.at : now + typical;
}

/** Mostly the valid value, sometimes one of the faults: so that many runs are valid or off by one thing. */
function mostly<T>(valid: T, ...faults: T[]): fc.Arbitrary<T> {
  return fc.oneof({ weight: 10, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.constantFrom(...faults) });
}

const randomCase = fc.record({
  mode: fc.constantFrom<KeyMode>("pem", "jwks"),
  parties: fc.boolean(),
  alg: mostly<string | undefined>("RS256", "RS384", "none", "HS256", "ES256", undefined),
  kid: mostly("key", "rotated", "unknown", "missing", "number"),
  typ: mostly<string | number | undefined>("JWT", undefined, "jwt", "at+jwt", 1),
  extraHeader: fc.oneof(
    { weight: 6, arbitrary: fc.constant<string[]>([]) },
    { weight: 1, arbitrary: fc.subarray(["jku", "x5c", "crit", "cty", "b64", "cat-m2m", "cat-session", "foo"], { minLength: 1, maxLength: 2 }) },
  ),
  exp: time,
  nbf: time,
  iat: time,
  iss: mostly<unknown>(ISSUER, `${ISSUER}/`, "https://evil.example", undefined, [ISSUER]),
  azp: mostly<unknown>(AUTHORIZED_PARTIES[0], AUTHORIZED_PARTIES[1], "https://evil.example.com", "", undefined, 1),
  sub: mostly<unknown>("user_1", "mch_1", "", undefined, 42),
  pending: mostly(false, true),
  version: fc.constantFrom(1, 2),
  tamper: mostly("none", "pad", "non-canonical", "flip", "payload"),
});

async function mintRandom(r: typeof randomCase extends fc.Arbitrary<infer T> ? T : never): Promise<string> {
  const { key, rotated, now } = ctx;
  const extras: Json = {};
  for (const h of r.extraHeader) {
    if (h === "jku") extras.jku = "https://evil.example/jwks.json";
    if (h === "x5c") extras.x5c = ["MIIB"];
    if (h === "crit") Object.assign(extras, { crit: ["exp-ext"], "exp-ext": true });
    if (h === "cty") extras.cty = "JWT";
    if (h === "b64") extras.b64 = false;
    if (h === "cat-m2m") extras.cat = CLERK_M2M_CATEGORY;
    if (h === "cat-session") extras.cat = "cl_B7d4PD111AAA";
    if (h === "foo") extras.foo = 1;
  }
  const kid = { key: key.kid, rotated: rotated.kid, unknown: "ins_unknown", missing: undefined, number: 7 }[r.kid];
  const header = withFields({ alg: r.alg, kid, typ: r.typ }, extras);
  const claims = withFields(claimsAt(now, { version: r.version, pending: r.pending }), {
    exp: timeValue(r.exp, now, 60),
    nbf: timeValue(r.nbf, now, -10),
    iat: timeValue(r.iat, now, 0),
    iss: r.iss,
    azp: r.azp,
    sub: r.sub,
  });
  const token = await signRsa(key, header, claims);
  const [h, p, s] = split(token);
  switch (r.tamper) {
    case "pad":
      return `${token}=`;
    case "non-canonical":
      return `${h}.${p}.${nonCanonicalSpellings(s)[0]!}`;
    case "flip": {
      const bytes = b64u.decode(s);
      bytes[3] = bytes[3]! ^ 0x80;
      return `${h}.${p}.${b64u.encode(bytes)}`;
    }
    case "payload":
      return `${h}.${b64u.encode(JSON.stringify({ ...(b64u.json(p) as Json), sub: "user_admin" }))}.${s}`;
    default:
      return token;
  }
}

describe("differential: random Clerk-shaped tokens", () => {
  it(`agree with Clerk on accept vs reject, or differ only as documented (${describeBudget(DIFF_RUNS)})`, async () => {
    let disagreements = 0;
    let accepted = 0;
    const runs = await checkProperty(
      fc.asyncProperty(randomCase, async (r) => {
        const token = await mintRandom(r);
        const [o, k] = [await ours(token, r.mode, r.parties), await clerk(token, r.mode, r.parties)];
        if (o === "accept") accepted++;
        if ((o === "accept") === (k === "accept")) return;
        disagreements++;
        const why = explanations(token, r.mode, o, k);
        expect(why, `undocumented disagreement: ours=${o} clerk=${k} for ${describeToken(token)}`).not.toEqual([]);
      }),
      "differential random",
      DIFF_RUNS,
    );
    console.log(`differential random: ${runs} runs, ${accepted} accepted by us, ${disagreements} documented disagreements`);
    // The generator must actually produce both outcomes, or the property proves little.
    expect(accepted).toBeGreaterThan(runs / 20);
    expect(accepted).toBeLessThan(runs);
  }, timeoutFor(DIFF_RUNS));
});
