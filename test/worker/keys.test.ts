import { describe, expect, it } from "vitest";
import { body, Clock, countingKv, FakeOrigin, harness, mint, newKey, newWeakKey, uniqueJwksEnv } from "./helpers.js";

/** Two isolates = two gateways built from the same env and the same real KV namespace. */
async function world(extra = {}) {
  const key = await newKey();
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const env = uniqueJwksEnv(extra);
  const isolate = () => {
    const { kv, counts } = countingKv();
    return { ...harness(env, { fetch: origin.fetch, now: clock.now, kv }), kvCounts: counts };
  };
  return { key, clock, origin, env, isolate };
}

describe("the hot path touches no slow layer", () => {
  it("1,000 verifications after warm-up: 0 origin fetches, 0 KV reads", async () => {
    const { key, clock, origin, isolate } = await world();
    const a = isolate();
    const warm = await mint(key, { now: clock.seconds });
    expect((await a.withToken(warm)).status).toBe(200);
    expect(origin.count).toBe(1);
    const fetchesBefore = origin.count;
    const readsBefore = a.kvCounts.reads;

    // Half the same token (the verified-token cache), half new tokens (keys in memory).
    for (let i = 0; i < 1000; i++) {
      const token = i % 2 === 0 ? warm : await mint(key, { now: clock.seconds, sub: `user_${i}` });
      const response = await a.withToken(token);
      expect(response.status).toBe(200);
    }
    expect(origin.count - fetchesBefore).toBe(0);
    expect(a.kvCounts.reads - readsBefore).toBe(0);
    expect(a.gateway.keys!.counters).toMatchObject({ originFetches: 1, kvReads: 1 });
  });

  it("the real Worker entry builds its gateway once per isolate (no per-request KV read)", async () => {
    const { exports } = await import("cloudflare:workers");
    const { gatewayFor } = await import("../../src/index.js");
    const { env } = await import("cloudflare:workers");
    const first = gatewayFor(env);
    await exports.default.fetch("https://gateway.test/healthz");
    await exports.default.fetch("https://gateway.test/healthz");
    expect(gatewayFor(env)).toBe(first);
  });

  it("the Worker's own bindings get the gateway built at start-up: a request's env (another object, the same bindings) is served by it; any other value gets its own", async () => {
    const { exports, env } = await import("cloudflare:workers");
    const { gatewayFor } = await import("../../src/index.js");
    // workerd hands each request an env object of its own, holding the very bindings of the
    // module's `env`: a shallow copy stands for one.
    const requestEnv = { ...env };
    expect(requestEnv).not.toBe(env);
    const shared = gatewayFor(requestEnv);
    expect(gatewayFor({ ...env })).toBe(shared);
    expect(gatewayFor(env)).toBe(shared);
    // The gateway that answered a real request through the entry is that one: its counters moved.
    const deniedBefore = shared.metrics.denied.get("session-token-missing") ?? 0;
    const denied = await exports.default.fetch("https://gateway.test/api/agents");
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ reason: "session-token-missing" });
    expect(shared.metrics.denied.get("session-token-missing")).toBe(deniedBefore + 1);
    // One value apart (a var, or a binding missing) is another configuration, built on its own.
    const other = gatewayFor({ ...env, LOG_LEVEL: "debug" });
    expect(other).not.toBe(shared);
    const { JWKS_CACHE: _kv, ...withoutKv } = env as unknown as Record<string, unknown>;
    expect(gatewayFor(withoutKv as unknown as typeof env)).not.toBe(shared);
  });
});

describe("KV layer", () => {
  it("a cold isolate with a warm KV makes no origin fetch", async () => {
    const { key, clock, origin, isolate } = await world();
    const a = isolate();
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(1);
    expect(a.kvCounts.writes).toBe(1);

    const b = isolate();
    expect((await b.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(1);
    expect(b.kvCounts.reads).toBe(1);
    // KV is written only after a real origin fetch.
    expect(b.kvCounts.writes).toBe(0);
    expect(await body(await b.health())).toMatchObject({
      status: "ok",
      keys: { source: "jwks-uri", state: "fresh", kids: [key.kid], loadedFrom: "kv" },
    });
  });

  it("a KV entry past the stale bound is ignored and the origin is asked", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_MAX_STALE_S: "3600" });
    await isolate().withToken(await mint(key, { now: clock.seconds }));
    clock.advance(3700);
    const b = isolate();
    expect((await b.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(2);
  });

  it("a failing KV binding falls back to the origin and keeps serving", async () => {
    const { key, clock, origin, env } = await world();
    const broken = {
      get: async () => {
        throw new Error("KV GET failed: 500 Internal Server Error");
      },
      put: async () => {
        throw new Error("KV PUT failed: 500 Internal Server Error");
      },
    } as unknown as KVNamespace;
    const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: broken });
    expect((await h.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(1);
    expect(h.logger.events("jwks.kv_read_failed")).toHaveLength(1);
    expect(h.logger.events("jwks.kv_write_failed")).toHaveLength(1);
  });
});

describe("freshness, stale-if-error and outages", () => {
  it("past TTL: served at once from memory while one background refresh runs", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_CACHE_TTL_S: "600" });
    const a = isolate();
    await a.withToken(await mint(key, { now: clock.seconds }));
    clock.advance(601);
    expect(await body(await a.health())).toMatchObject({ keys: { state: "stale" } });
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    // The harness waited for waitUntil: the background refresh has happened, exactly once.
    expect(origin.count).toBe(2);
    expect(await body(await a.health())).toMatchObject({ keys: { state: "fresh", ageSeconds: 0 } });
    await a.withToken(await mint(key, { now: clock.seconds }));
    expect(origin.count).toBe(2);
  });

  it("exactly one origin fetch per TTL while requests keep coming", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_CACHE_TTL_S: "600" });
    const a = isolate();
    // One hour of traffic, one request every 10 s.
    for (let t = 0; t < 360; t++) {
      expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
      clock.advance(10);
    }
    // Initial load plus one refresh per elapsed TTL (3600 / 600 = 6, the last one due at the end).
    expect(origin.count).toBeGreaterThanOrEqual(6);
    expect(origin.count).toBeLessThanOrEqual(7);
  });

  it("GET /healthz is public and says only ok, degraded or unavailable, from what is held and with no I/O", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_CACHE_TTL_S: "600", JWKS_MAX_STALE_S: "3600", JWKS_REFETCH_COOLDOWN_S: "30" });
    const a = isolate();
    const status = async () => {
      const response = await a.request("/healthz");
      return { code: response.status, body: await body(response) };
    };
    // Nothing loaded yet, nothing failed: ok, and the probe itself fetches nothing.
    expect(await status()).toEqual({ code: 200, body: { status: "ok" } });
    expect([origin.count, a.kvCounts.reads]).toEqual([0, 0]);
    await a.withToken(await mint(key, { now: clock.seconds }));
    expect(await status()).toEqual({ code: 200, body: { status: "ok" } });
    // Past the TTL with the origin down: still served, degraded.
    origin.mode = { kind: "status", status: 500 };
    clock.advance(1800);
    await a.withToken(await mint(key, { now: clock.seconds }));
    expect(await status()).toEqual({ code: 200, body: { status: "degraded" } });
    // Past the stale bound: nothing usable, 503.
    clock.advance(1801);
    expect(await status()).toEqual({ code: 503, body: { status: "unavailable" } });
    // The details are for the METRICS_TOKEN bearer only.
    expect(await body(await a.health())).toMatchObject({ status: "unavailable", keys: { state: "expired", failing: true, kids: [key.kid] } });
    const fetches = origin.count;
    await status();
    expect(origin.count).toBe(fetches);
  });

  it("GET /healthz on a cold isolate whose first load failed: unavailable", async () => {
    const { key, clock, origin, isolate } = await world();
    const a = isolate();
    origin.mode = { kind: "refuse" };
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(503);
    const response = await a.request("/healthz");
    expect(response.status).toBe(503);
    expect(await body(response)).toEqual({ status: "unavailable" });
    // The log names the JWKS URL that failed (not secret; its query string is left out).
    expect(a.logger.events("jwks.fetch_failed")[0]).toMatchObject({ source: "jwks-uri", url: "https://clerk.test.example/.well-known/jwks.json" });
  });

  it("origin down within the stale bound: keep serving stale keys, say so in the log", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_CACHE_TTL_S: "600", JWKS_MAX_STALE_S: "3600" });
    const a = isolate();
    await a.withToken(await mint(key, { now: clock.seconds }));
    origin.mode = { kind: "status", status: 500 };
    clock.advance(1800);
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(a.logger.events("jwks.refresh_failed").length).toBeGreaterThan(0);
    expect(await body(await a.health())).toMatchObject({ keys: { state: "stale", ageSeconds: 1800 } });
  });

  it("origin down past the stale bound: fail closed with 503 and Retry-After, not 401", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_CACHE_TTL_S: "600", JWKS_MAX_STALE_S: "3600", JWKS_REFETCH_COOLDOWN_S: "30" });
    const a = isolate();
    await a.withToken(await mint(key, { now: clock.seconds }));
    origin.mode = { kind: "refuse" };
    clock.advance(3601);
    const response = await a.withToken(await mint(key, { now: clock.seconds }));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("30");
    expect(await body(response)).toMatchObject({ error: "jwks_unavailable", reason: "jwk-remote-failed-to-load" });
    expect(response.headers.get("www-authenticate")).toBeNull();

    // While the door is closed, requests are answered 503 at once, counting down Retry-After, and
    // the origin is not asked again: one attempt per cooldown per isolate while it fails.
    const fetches = origin.count;
    clock.advance(10);
    const again = await a.withToken(await mint(key, { now: clock.seconds }));
    expect(again.status).toBe(503);
    expect(again.headers.get("retry-after")).toBe("20");
    expect(origin.count).toBe(fetches);

    // The origin comes back: the first request after the cooldown recovers by itself.
    origin.mode = { kind: "serve" };
    clock.advance(20);
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(fetches + 1);
  });

  it.each([
    ["refused", { kind: "refuse" as const }],
    ["HTTP 500", { kind: "status" as const, status: 500 }],
    ["invalid JSON", { kind: "body" as const, body: "<html>" }],
    ["an empty key set", { kind: "body" as const, body: '{"keys":[]}' }],
    ["hanging past the timeout", { kind: "hang" as const }],
  ])("never-loaded keys and an origin %s: 503, no crash", async (_label, mode) => {
    const { key, clock, origin, isolate } = await world({ JWKS_FETCH_TIMEOUT_MS: "50" });
    origin.mode = mode;
    const response = await isolate().withToken(await mint(key, { now: clock.seconds }));
    expect(response.status).toBe(503);
    expect(await body(response)).toMatchObject({ error: "jwks_unavailable", reason: "jwk-remote-failed-to-load" });
  });

  it("a key under 2048 bits in the JWKS is never used", async () => {
    const { clock, origin, isolate } = await world();
    const weak = await newWeakKey();
    origin.keys = [weak];
    const response = await isolate().withToken(await mint(weak, { now: clock.seconds }));
    // The set has no usable key at all, so it is an unusable origin, not a verified token.
    expect(response.status).toBe(503);
  });
});

describe("rotation and unknown kids", () => {
  it("a new kid after rotation is fetched once and accepted; a removed kid stops working after refresh", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_REFETCH_COOLDOWN_S: "30" });
    const a = isolate();
    const oldToken = await mint(key, { now: clock.seconds, ttlSeconds: 3600 });
    expect((await a.withToken(oldToken)).status).toBe(200);

    const next = await newKey();
    origin.keys = [key, next]; // overlap: both published
    clock.advance(31);
    expect((await a.withToken(await mint(next, { now: clock.seconds }))).status).toBe(200);
    expect(origin.count).toBe(2);
    expect((await a.withToken(oldToken)).status).toBe(200);

    origin.keys = [next]; // old key retired
    clock.advance(601); // past TTL: the background refresh picks up the removal
    await a.health();
    await a.withToken(await mint(next, { now: clock.seconds }));
    expect(origin.count).toBe(3);
    const response = await a.withToken(oldToken);
    expect(response.status).toBe(401);
    expect(await body(response)).toMatchObject({ reason: "jwk-kid-mismatch" });
  });

  it("a flood of unknown kids costs at most one origin fetch per cooldown", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_REFETCH_COOLDOWN_S: "30" });
    const a = isolate();
    await a.withToken(await mint(key, { now: clock.seconds }));
    expect(origin.count).toBe(1);
    const attacker = await newKey();
    // 200 requests over 60 s, each with a fresh random kid.
    for (let i = 0; i < 200; i++) {
      const token = await mint(attacker, { now: clock.seconds, header: { kid: `ins_random_${i}` } });
      const response = await a.withToken(token);
      expect(response.status).toBe(401);
      expect(await body(response)).toMatchObject({ reason: "jwk-kid-mismatch" });
      clock.ms += 300;
    }
    // t = 0..60 s with a 30 s cooldown counted from the first fetch: at most 2 more fetches.
    expect(origin.count - 1).toBeLessThanOrEqual(2);
    expect(origin.count - 1).toBeGreaterThanOrEqual(1);
    // Valid traffic is unaffected throughout.
    expect((await a.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
  });

  it("the same unknown kid is remembered: no KV read, no fetch while it is known bad", async () => {
    const { key, clock, origin, isolate } = await world({ JWKS_REFETCH_COOLDOWN_S: "30" });
    const a = isolate();
    await a.withToken(await mint(key, { now: clock.seconds }));
    clock.advance(31);
    const stranger = await newKey();
    const token = await mint(stranger, { now: clock.seconds });
    await a.withToken(token);
    const fetches = origin.count;
    const reads = a.kvCounts.reads;
    for (let i = 0; i < 50; i++) await a.withToken(token);
    expect(origin.count).toBe(fetches);
    expect(a.kvCounts.reads).toBe(reads);
  });
});

describe("key sources", () => {
  it("the publishable key derives the JWKS URL and the issuer", async () => {
    const { publishableKeyFor } = await import("../../scripts/lib/clerk-token.mjs" as string);
    const key = await newKey();
    const clock = new Clock();
    const origin = new FakeOrigin(key);
    const host = `pk-${crypto.randomUUID().slice(0, 8)}.clerk.accounts.dev`;
    const h = harness({ CLERK_PUBLISHABLE_KEY: publishableKeyFor(host) }, { fetch: origin.fetch, now: clock.now, kv: null });
    const response = await h.withToken(await mint(key, { now: clock.seconds, issuer: `https://${host}` }));
    expect(response.status).toBe(200);
    expect(origin.requests[0]!.url).toBe(`https://${host}/.well-known/jwks.json`);
    expect(h.gateway.config!.issuer).toBe(`https://${host}`);
    expect(await body(await h.health())).toMatchObject({ keys: { source: "publishable-key" } });
  });

  it("the secret key fetches the Backend API JWKS with a Bearer secret, and never logs it", async () => {
    const key = await newKey();
    const clock = new Clock();
    const origin = new FakeOrigin(key);
    const secret = "sk_test_abcdefghijklmnopqrstuvwxyz0123";
    const h = harness({ CLERK_SECRET_KEY: secret, CLERK_ISSUER: "https://clerk.test.example", CLERK_API_URL: "https://api.clerk.test" }, { fetch: origin.fetch, now: clock.now, kv: null });
    expect((await h.withToken(await mint(key, { now: clock.seconds }))).status).toBe(200);
    expect(origin.requests[0]).toEqual({ url: "https://api.clerk.test/v1/jwks", authorization: `Bearer ${secret}` });
    origin.mode = { kind: "status", status: 401 };
    clock.advance(100000);
    await h.withToken(await mint(key, { now: clock.seconds }));
    expect(JSON.stringify(h.logger.lines)).not.toContain(secret);
  });

  it("defaults the Backend API to https://api.clerk.com", async () => {
    const origin = new FakeOrigin();
    origin.mode = { kind: "refuse" };
    const clock = new Clock();
    const h = harness({ CLERK_SECRET_KEY: "sk_live_abc123", CLERK_ISSUER: "https://clerk.example.com" }, { fetch: origin.fetch, now: clock.now, kv: null });
    await h.withToken(await mint(await newKey(), { now: clock.seconds }));
    expect(origin.requests[0]!.url).toBe("https://api.clerk.com/v1/jwks");
  });

  it("CLERK_JWKS_URI overrides the URL derived from the publishable key", async () => {
    const { publishableKeyFor } = await import("../../scripts/lib/clerk-token.mjs" as string);
    const key = await newKey();
    const origin = new FakeOrigin(key);
    const clock = new Clock();
    const h = harness(
      { CLERK_PUBLISHABLE_KEY: publishableKeyFor("derived.clerk.accounts.dev"), CLERK_JWKS_URI: "https://keys.example.com/jwks.json" },
      { fetch: origin.fetch, now: clock.now, kv: null },
    );
    await h.withToken(await mint(key, { now: clock.seconds, issuer: "https://derived.clerk.accounts.dev" }));
    expect(origin.requests[0]!.url).toBe("https://keys.example.com/jwks.json");
  });
});
