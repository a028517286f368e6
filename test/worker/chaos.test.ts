// Chaos in the outside world the gateway depends on for keys: the JWKS origin (refusing, hanging,
// failing, serving garbage or an unusable set), key rotation, and the KV binding (throwing,
// hanging, corrupt). Traffic is interleaved valid and invalid requests through the gateway with a
// recording MASTRA upstream, and every single response is checked against the invariants:
//
//   - no valid token is rejected while a usable key exists (in memory within the stale bound, or
//     at a reachable origin);
//   - no invalid token is ever accepted, and nothing invalid reaches the upstream;
//   - no 5xx but the documented 503 (no usable key at all);
//   - no unhandled promise rejection in the isolate.
//
// Existing single-fault cases live in keys.test.ts; these add the traffic mix, the time line and
// the KV faults.
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { jwksCacheKey } from "../../src/keys/remote-store.js";
import { body, Clock, countingKv, failOnUnhandledRejections, FakeOrigin, harness, ISSUER, mint, newKey, newWeakKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

const ROUTE = "/api/agents/weatherAgent/generate";

let key: SigningKey;
let attacker: SigningKey;
let weak: SigningKey;

beforeAll(async () => {
  key = await newKey();
  attacker = await newKey();
  weak = await newWeakKey();
});

// ------------------------------------------------------------------ unhandled rejections

failOnUnhandledRejections();

// ------------------------------------------------------------------------------ the world

function recordingUpstream() {
  const seen: string[] = [];
  const fetcher = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      seen.push(request.headers.get("x-clerk-user-id") ?? "(none)");
      return Response.json({ ok: true });
    },
  } as unknown as Fetcher;
  return { seen, fetcher };
}

const OUTAGE_ENV: GatewayEnv = {
  JWKS_CACHE_TTL_S: "600",
  JWKS_MAX_STALE_S: "3600",
  JWKS_REFETCH_COOLDOWN_S: "30",
  JWKS_FETCH_TIMEOUT_MS: "20",
};

/** One gateway ("isolate") over shared time, origin, upstream and (optionally) a KV. */
function world(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const up = recordingUpstream();
  const env = uniqueJwksEnv({ MASTRA: up.fetcher, ...OUTAGE_ENV, ...extra });
  const isolate = (kv: KVNamespace | null = countingKv().kv) => harness(env, { fetch: origin.fetch, now: clock.now, kv });
  return { clock, origin, up, env, isolate };
}

type World = ReturnType<typeof world>;
type Isolate = ReturnType<World["isolate"]>;

/**
 * An isolate's first request, alone. Concurrent requests on a cold isolate each load the keys
 * themselves (no request may await another's I/O), which is measured on its own below; the
 * fetch-count assertions elsewhere start from a loaded isolate.
 */
async function warm(w: World, g: Isolate) {
  const response = await g.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${await mint(key, { now: w.clock.seconds, sub: "user_warm" })}` }, body: "{}" });
  expect(response.status).toBe(200);
  w.up.seen.length = 0;
}

interface Probe {
  label: string;
  /** The user the upstream must see, or null when the request must not reach it. */
  user: string | null;
  token: string | null;
}

/**
 * One round of mixed traffic, sent concurrently: fresh valid tokens (full verification), a token
 * verified before (the cache), and the usual invalid ones. `validSigners` are the keys the
 * gateway must currently accept; `rejectedSigners` those it must not.
 */
async function round(w: World, g: Isolate, opts: { validSigners: SigningKey[]; rejectedSigners?: SigningKey[]; cached?: string; keysUsable?: boolean }) {
  const now = w.clock.seconds;
  const n = crypto.randomUUID().slice(0, 8);
  const probes: Probe[] = [];
  for (const [i, signer] of opts.validSigners.entries()) {
    const user = `user_${n}_${i}`;
    probes.push({ label: `valid (${signer.kid})`, user, token: await mint(signer, { now, sub: user, ttlSeconds: 3600 }) });
  }
  if (opts.cached) probes.push({ label: "valid, cached", user: "user_cached", token: opts.cached });
  for (const signer of opts.rejectedSigners ?? []) {
    probes.push({ label: `signed by a retired or foreign key (${signer.kid})`, user: null, token: await mint(signer, { now, sub: "user_evil" }) });
  }
  const good = await mint(key, { now, sub: "user_evil" });
  probes.push(
    { label: "bad signature, known kid", user: null, token: good.replace(/[^.]+$/, "A".repeat(342)) },
    { label: "expired", user: null, token: await mint(key, { now: now - 3600, sub: "user_evil" }) },
    { label: "unknown kid", user: null, token: await mint(attacker, { now, sub: "user_evil", header: { kid: `ins_unknown_${n}` } }) },
    { label: "alg none", user: null, token: await mint(key, { now, sub: "user_evil", header: { alg: "none" } }) },
    { label: "no token", user: null, token: null },
  );

  const seenBefore = w.up.seen.length;
  const responses = await Promise.all(
    probes.map((p) =>
      g.request(ROUTE, { method: "POST", headers: p.token ? { authorization: `Bearer ${p.token}` } : {}, body: "{}" }),
    ),
  );
  const outcomes = await Promise.all(responses.map(async (r, i) => ({ probe: probes[i]!, status: r.status, json: await body(r), retryAfter: r.headers.get("retry-after") })));
  const keysUsable = opts.keysUsable ?? true;
  for (const { probe, status, json, retryAfter } of outcomes) {
    const where = `${probe.label} at t+${w.clock.seconds - now}s`;
    if (probe.user !== null && keysUsable) {
      expect(status, where).toBe(200);
    } else if (probe.user !== null) {
      expect({ status, error: json.error, retryAfter: retryAfter !== null }, where).toEqual({ status: 503, error: "jwks_unavailable", retryAfter: true });
    } else {
      // Never accepted; 503 only when there is no usable key to judge it with.
      expect(status === 401 || (!keysUsable && status === 503), `${where}: ${status} ${JSON.stringify(json)}`).toBe(true);
    }
  }
  const reached = w.up.seen.slice(seenBefore).sort();
  const expected = keysUsable ? probes.filter((p) => p.user !== null).map((p) => p.user!).sort() : [];
  expect(reached).toEqual(expected);
  return outcomes;
}

// ------------------------------------------------------------------------- JWKS origin

const FAULTS = [
  ["refuses connections", { kind: "refuse" as const }],
  ["hangs past the timeout", { kind: "hang" as const }],
  ["answers 500", { kind: "status" as const, status: 500 }],
  ["answers 404", { kind: "status" as const, status: 404 }],
  ["serves invalid JSON", { kind: "body" as const, body: "<html>502 Bad Gateway</html>" }],
  ["serves an empty key set", { kind: "body" as const, body: '{"keys":[]}' }],
  ["serves JSON that is not a key set", { kind: "body" as const, body: '{"error":"maintenance"}' }],
] as const;

describe("JWKS origin faults after warm-up, under mixed traffic", () => {
  it.each(FAULTS)("the origin %s: valid tokens keep passing on stale keys up to the bound, invalid never", async (_label, mode) => {
    const w = world();
    const g = w.isolate();
    const cachedToken = await mint(key, { now: w.clock.seconds, sub: "user_cached", ttlSeconds: 7200 });
    await warm(w, g);
    await round(w, g, { validSigners: [key], cached: cachedToken });
    const before = w.origin.count;

    w.origin.mode = mode;
    // Across the cooldown, the TTL and most of the stale bound (3600 s).
    const steps = [0, 31, 300, 601, 900, 1800, 3000, 3590];
    let at = 0;
    for (const t of steps) {
      w.clock.advance(t - at);
      at = t;
      await round(w, g, { validSigners: [key], cached: cachedToken });
    }
    // No retry storm: per step, at most the background refresh and the one unknown-kid lookup of
    // the round. Both can go in one step: the refresh records its attempt only when it reaches the
    // origin (after its KV read), so an unknown kid arriving meanwhile still finds the slot free.
    expect(w.origin.count - before).toBeLessThanOrEqual(2 * steps.length);
    expect(w.origin.count - before).toBeGreaterThan(0);
    expect(await body(await g.health())).toMatchObject({ keys: { state: "stale" } });

    // The origin comes back: the next refresh picks it up and nothing was lost.
    w.origin.mode = { kind: "serve" };
    w.clock.advance(31);
    await round(w, g, { validSigners: [key], cached: cachedToken });
    expect(await body(await g.health())).toMatchObject({ keys: { state: "fresh" } });
  });

  it.each(FAULTS)("the origin %s past the stale bound: 503 for everything that needs a key, 401 for what does not, none accepted", async (_label, mode) => {
    const w = world();
    const g = w.isolate(null);
    await warm(w, g);
    w.origin.mode = mode;
    w.clock.advance(3601);
    const outcomes = await round(w, g, { validSigners: [key], keysUsable: false });
    // A request without a token, or with alg none, is judged without keys: still a plain 401.
    for (const o of outcomes.filter((o) => o.probe.label === "no token" || o.probe.label === "alg none")) expect(o.status).toBe(401);
    w.origin.mode = { kind: "serve" };
    w.clock.advance(31);
    await round(w, g, { validSigners: [key] });
  });

  it("an unusable set (only a 1024-bit key) never replaces the good one", async () => {
    const w = world();
    const g = w.isolate();
    await warm(w, g);
    w.origin.keys = [weak];
    w.clock.advance(601);
    await round(w, g, { validSigners: [key], rejectedSigners: [weak] });
    w.clock.advance(601);
    await round(w, g, { validSigners: [key], rejectedSigners: [weak] });
    expect(await body(await g.health())).toMatchObject({ keys: { kids: [key.kid] } });
  });
});

// ------------------------------------------------------------------------------- rotation

describe("key rotation", () => {
  it("overlap: old and new both accepted, across two isolates sharing KV; the removed kid stops after the next refresh", async () => {
    const w = world();
    const a = w.isolate();
    const next = await newKey();
    const oldCached = await mint(key, { now: w.clock.seconds, sub: "user_cached", ttlSeconds: 7200 });
    await warm(w, a);
    await round(w, a, { validSigners: [key], cached: oldCached });

    // Clerk publishes the new key next to the old one, then starts signing with it.
    w.origin.keys = [key, next];
    w.clock.advance(31);
    await round(w, a, { validSigners: [key, next], cached: oldCached });
    // A cold isolate gets the overlapping set from KV, written by the first isolate's refetch.
    const b = w.isolate();
    const fetchesBeforeB = w.origin.count;
    await warm(w, b);
    expect(w.origin.count).toBe(fetchesBeforeB);
    expect(await body(await b.health())).toMatchObject({ keys: { loadedFrom: "kv" } });
    await round(w, b, { validSigners: [key, next], cached: oldCached });

    // The old key is retired. Until each isolate's set passes its TTL it is still trusted...
    w.origin.keys = [next];
    w.clock.advance(300);
    await round(w, a, { validSigners: [key, next], cached: oldCached });
    // ...and after the refresh it is gone, for fresh tokens and for ones verified before alike.
    w.clock.advance(301);
    await a.health();
    await round(w, a, { validSigners: [next] }); // the request that triggers the background refresh
    await round(w, a, { validSigners: [next], rejectedSigners: [key] });
    const old = await a.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${oldCached}` }, body: "{}" });
    expect(await body(old)).toMatchObject({ reason: "jwk-kid-mismatch" });

    // The second isolate refreshes on its own schedule, from KV when another isolate already did.
    w.clock.advance(601);
    await round(w, b, { validSigners: [next] });
    await round(w, b, { validSigners: [next], rejectedSigners: [key] });
  });

  it("a new kid first seen within the cooldown of the last origin fetch is rejected until that cooldown ends, then accepted (documented trade-off)", async () => {
    const w = world();
    const a = w.isolate(null);
    await warm(w, a); // the origin fetch at t+0
    const next = await newKey();
    w.origin.keys = [key, next];
    const early = await mint(next, { now: w.clock.seconds, sub: "user_early", ttlSeconds: 3600 });
    w.clock.advance(10);
    const fetches = w.origin.count;
    const response = await a.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${early}` }, body: "{}" });
    expect(await body(response)).toMatchObject({ reason: "jwk-kid-mismatch" });
    // The origin's set was seen 10 s ago: no lookup before the cooldown (t+30) passes.
    w.clock.advance(19);
    expect(await body(await a.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${early}` }, body: "{}" }))).toMatchObject({ reason: "jwk-kid-mismatch" });
    expect(w.origin.count).toBe(fetches);
    // At t+30 one lookup is allowed, and the new kid is accepted on it.
    w.clock.advance(1);
    expect((await a.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${early}` }, body: "{}" })).status).toBe(200);
    expect(w.origin.count).toBe(fetches + 1);
    await round(w, a, { validSigners: [key, next] });
  });

  it("a kid removed while the origin then fails: the last good set (without it) is kept", async () => {
    const w = world();
    const a = w.isolate();
    const next = await newKey();
    w.origin.keys = [key, next];
    await warm(w, a);
    await round(w, a, { validSigners: [key, next] });
    w.origin.keys = [next];
    w.clock.advance(601);
    await a.health();
    await round(w, a, { validSigners: [next] });
    w.origin.mode = { kind: "status", status: 503 };
    for (const step of [31, 601, 1200]) {
      w.clock.advance(step);
      await round(w, a, { validSigners: [next], rejectedSigners: [key] });
    }
  });
});

// ------------------------------------------------------------------------------------- KV

/** A KV binding with one fault; puts and gets not faulted pass through to the real binding. */
function faultyKv(fault: "get-throws" | "get-hangs" | "put-throws" | "put-hangs" | "both-hang") {
  const real = countingKv().kv;
  const calls = { gets: 0, puts: 0 };
  const hang = () => new Promise<never>(() => {});
  const kv = {
    get: (...args: Parameters<KVNamespace["get"]>) => {
      calls.gets++;
      if (fault === "get-throws") return Promise.reject(new Error("KV GET failed: 500"));
      if (fault === "get-hangs" || fault === "both-hang") return hang();
      return (real.get as (...a: unknown[]) => Promise<unknown>)(...args);
    },
    put: (...args: Parameters<KVNamespace["put"]>) => {
      calls.puts++;
      if (fault === "put-throws") return Promise.reject(new Error("KV PUT failed: 500"));
      if (fault === "put-hangs" || fault === "both-hang") return hang();
      return real.put(...args);
    },
  } as unknown as KVNamespace;
  return { kv, calls };
}

describe("KV binding faults", () => {
  it.each(["get-throws", "get-hangs", "put-throws", "put-hangs", "both-hang"] as const)(
    "KV %s: cold isolates fall back to the origin and keep serving; no request hangs",
    async (fault) => {
      const w = world();
      const { kv, calls } = faultyKv(fault);
      const a = w.isolate(kv);
      await warm(w, a);
      expect(w.origin.count).toBe(1);
      await round(w, a, { validSigners: [key] });
      // Another cold isolate with the same faulty KV (reads fail, or nothing was ever written): the origin again, and served.
      const b = w.isolate(kv);
      await warm(w, b);
      expect(w.origin.count).toBe(2);
      await round(w, b, { validSigners: [key] });
      // Past TTL, the background refresh also goes through the faulty KV.
      w.clock.advance(601);
      await round(w, a, { validSigners: [key] });
      await round(w, a, { validSigners: [key] });
      expect(calls.gets).toBeGreaterThan(0);
      expect(a.logger.events("jwks.kv_read_failed").length + a.logger.events("jwks.kv_write_failed").length).toBeGreaterThan(0);
    },
  );

  it("a KV read that fails only after its deadline: served from the origin, and the late failure goes nowhere", async () => {
    const w = world();
    const late: ((error: Error) => void)[] = [];
    const kv = {
      get: () => new Promise((_, reject) => late.push(reject)),
      put: () => new Promise((_, reject) => late.push(reject)),
    } as unknown as KVNamespace;
    const a = w.isolate(kv);
    await warm(w, a);
    await round(w, a, { validSigners: [key] });
    expect(late.length).toBeGreaterThanOrEqual(2);
    for (const reject of late) reject(new Error("KV: too late"));
    await round(w, a, { validSigners: [key] });
  });

  it("KV hangs and the origin is down: the keys in memory keep serving up to the stale bound", async () => {
    const w = world();
    const { kv } = faultyKv("both-hang");
    const a = w.isolate(kv);
    await warm(w, a);
    w.origin.mode = { kind: "hang" };
    for (const step of [31, 601, 1200, 1700]) {
      w.clock.advance(step);
      await round(w, a, { validSigners: [key] });
    }
  });

  it("a corrupt KV entry is a cache miss: the origin is asked and the entry rewritten", async () => {
    const w = world();
    const { kv, counts } = countingKv();
    await kv.put(await jwksCacheKey(ISSUER, w.env.CLERK_JWKS_URI!), "{not json");
    const a = w.isolate(kv);
    await warm(w, a);
    expect(w.origin.count).toBe(1);
    expect(counts.writes).toBe(2);
    await round(w, a, { validSigners: [key] });
    const b = w.isolate(kv);
    const before = w.origin.count;
    await warm(w, b);
    expect(w.origin.count).toBe(before);
  });

  it("a KV entry of the right shape but with no usable key is a cache miss", async () => {
    const w = world();
    const { kv } = countingKv();
    await kv.put(await jwksCacheKey(ISSUER, w.env.CLERK_JWKS_URI!), JSON.stringify({ v: 1, fetchedAt: w.clock.ms, jwks: { keys: [weak.publicJwk] } }));
    const a = w.isolate(kv);
    await warm(w, a);
    expect(w.origin.count).toBe(1);
    await round(w, a, { validSigners: [key], rejectedSigners: [weak] });
  });
});

// ------------------------------------------------------------------------------ concurrency

describe("concurrent requests on one isolate", () => {
  it("a cold isolate under a burst: every request served with one origin fetch and one KV read", async () => {
    const w = world();
    const burst = async (g: Isolate) => {
      const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => mint(key, { now: w.clock.seconds, sub: `user_burst_${i}` })));
      const responses = await Promise.all(tokens.map((t) => g.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${t}` }, body: "{}" })));
      expect(responses.map((r) => r.status)).toEqual(tokens.map(() => 200));
    };
    const { kv, counts } = countingKv();
    await burst(w.isolate(kv));
    // One request loads; the others wait for it on their own timers (no request awaits another's I/O).
    expect(w.origin.count).toBe(1);
    expect(counts.reads).toBe(1);
    await burst(w.isolate(kv));
    expect(w.origin.count).toBe(1);
    expect(counts.reads).toBe(2);
  });

  // RemoteKeyStore#unknownKid claims the cooldown slot before its first await; without that,
  // concurrent requests with unknown kids all passed the check and each went to the origin.
  it("a concurrent flood of unknown kids costs at most one origin fetch per cooldown", async () => {
    const w = world();
    const g = w.isolate(null);
    await warm(w, g);
    const before = w.origin.count;
    w.clock.advance(31);
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => mint(attacker, { now: w.clock.seconds, header: { kid: `ins_flood_${i}` } })));
    const responses = await Promise.all(tokens.map((t) => g.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${t}` }, body: "{}" })));
    expect(responses.map((r) => r.status)).toEqual(tokens.map(() => 401));
    expect(w.origin.count - before).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------- the three key-store failures (issue #10 §1)

describe("key store: one freshness rule (issue #10)", () => {
  const post = (g: Isolate, token: string) => g.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });

  it("rotation: a set past its TTL and a token with a new kid the origin serves: accepted on first sight", async () => {
    const w = world();
    const a = w.isolate();
    await warm(w, a);
    const next = await newKey();
    w.origin.keys = [key, next];
    w.clock.advance(601);
    // One request: its lookup is the refresh; no background refresh may take the lookup's turn.
    const response = await post(a, await mint(next, { now: w.clock.seconds, sub: "user_rotated" }));
    expect(response.status).toBe(200);
    expect(w.up.seen).toEqual(["user_rotated"]);
    expect(a.logger.events("jwks.fetched").length).toBe(2);
  });

  it("rotation: a refresh that adopts another isolate's fresher KV copy (without the new kid) does not make the new kid fail", async () => {
    const w = world();
    const { kv } = countingKv();
    const a = w.isolate(kv);
    await warm(w, a);
    w.clock.advance(601);
    // Another isolate starts cold and refreshes the shared copy before the rotation.
    const b = w.isolate(kv);
    await warm(w, b);
    await round(w, b, { validSigners: [key] });
    expect(w.origin.count).toBe(2);
    // Clerk rotates. Isolate a's stale set is refreshed in the background from b's fresher KV copy.
    const next = await newKey();
    w.origin.keys = [key, next];
    w.clock.advance(5);
    expect((await post(a, await mint(key, { now: w.clock.seconds, sub: "user_old" }))).status).toBe(200);
    expect(await body(await a.health())).toMatchObject({ keys: { state: "fresh", loadedFrom: "kv" } });
    // The new kid: looked up (KV lacks it, the origin has it) and accepted, not refused for a cooldown.
    const response = await post(a, await mint(next, { now: w.clock.seconds, sub: "user_new" }));
    expect(response.status).toBe(200);
    expect(w.origin.count).toBe(3);
  });

  it("KV: gateways of two Clerk instances with the same Backend API URL share a namespace without loading each other's keys", async () => {
    const instances = await Promise.all(
      ["a", "b"].map(async (name) => {
        const signer = await newKey();
        const origin = new FakeOrigin(signer);
        return { name, signer, origin, issuer: `https://${name}.clerk.test` };
      }),
    );
    // The Backend API answers each instance by its secret key, at the same URL.
    const backend: typeof fetch = async (input, init) => {
      const secret = new Headers(init?.headers).get("authorization");
      return instances.find((i) => secret === `Bearer sk_test_${i.name}`)!.origin.fetch(input, init);
    };
    const apiUrl = `https://api.clerk.test/${crypto.randomUUID()}`;
    const clock = new Clock();
    const up = recordingUpstream();
    const gatewayOf = (i: (typeof instances)[number]) =>
      harness({ CLERK_SECRET_KEY: `sk_test_${i.name}`, CLERK_API_URL: apiUrl, CLERK_ISSUER: i.issuer, MASTRA: up.fetcher }, { fetch: backend, now: clock.now, kv: countingKv().kv });
    const ask = async (i: (typeof instances)[number], g: Isolate) =>
      g.request(ROUTE, { method: "POST", headers: { authorization: `Bearer ${await mint(i.signer, { now: clock.seconds, issuer: i.issuer })}` }, body: "{}" });

    const [a, b] = instances as [(typeof instances)[number], (typeof instances)[number]];
    expect((await ask(a, gatewayOf(a))).status).toBe(200);
    expect((await ask(b, gatewayOf(b))).status).toBe(200);
    expect([a.origin.count, b.origin.count]).toEqual([1, 1]);
    // New isolates of each find their own instance's keys in KV: no origin fetch, no refusal.
    for (const i of [a, b]) {
      const cold = gatewayOf(i);
      expect((await ask(i, cold)).status).toBe(200);
      expect(await body(await cold.health())).toMatchObject({ keys: { loadedFrom: "kv" } });
    }
    expect([a.origin.count, b.origin.count]).toEqual([1, 1]);
  });

  it.each([
    ["a cold isolate", 0],
    ["an isolate whose set is past JWKS_MAX_STALE_S", 3601],
  ])("origin failing, %s: one KV read and one origin attempt per cooldown, the rest answered 503 at once", async (_label, age) => {
    const w = world();
    const { kv, counts } = countingKv();
    const a = w.isolate(kv);
    if (age) {
      await warm(w, a);
      w.clock.advance(age);
    }
    w.origin.mode = { kind: "refuse" };
    const before = { fetches: w.origin.count, reads: counts.reads };
    // Valid tokens and junk alike: no valid signature is needed to reach this path.
    const tokens = [await mint(key, { now: w.clock.seconds }), await mint(attacker, { now: w.clock.seconds, header: { kid: "ins_junk" } }), "a.b.c"];
    for (let i = 0; i < 12; i++) {
      const response = await post(a, tokens[i % tokens.length]!);
      if (i % 3 === 2) continue; // "a.b.c" is refused before any key is needed
      expect(response.status).toBe(503);
      expect(await body(response)).toMatchObject({ error: "jwks_unavailable" });
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    expect(w.origin.count - before.fetches).toBe(1);
    expect(counts.reads - before.reads).toBe(1);
    // After the cooldown, one more attempt; when the origin is back, keys load and requests pass.
    w.clock.advance(30);
    w.origin.mode = { kind: "serve" };
    expect((await post(a, await mint(key, { now: w.clock.seconds }))).status).toBe(200);
    expect(w.origin.count - before.fetches).toBe(2);
  });
});
