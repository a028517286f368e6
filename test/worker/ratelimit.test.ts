import { abortAllDurableObjects } from "cloudflare:test";
import { env as workerEnv, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { body, expectMisconfigured, Clock, FakeOrigin, harness, mint, newKey, uniqueJwksEnv, type MintOptions, type SigningKey } from "./helpers.js";

// The real bindings of wrangler.toml, as Miniflare provides them: the Workers Rate Limiting
// binding RL_AGENT (simple = { limit = 30, period = 60 }) and the SpendCounter Durable Object.
const bindings = workerEnv as unknown as GatewayEnv;
const RL_AGENT = bindings.RL_AGENT!;
const SPEND_COUNTER = bindings.SPEND_COUNTER!;
const BINDING_LIMIT = 30;

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

/** Fresh ids per test: Durable Object storage and binding counters outlive a single test. */
const unique = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

interface Setup {
  limits?: object[];
  quotas?: object[];
  extra?: GatewayEnv;
  clock?: Clock;
}

/** A gateway (= one isolate's worth of state) on the real bindings, with an in-process upstream. */
function setup({ limits, quotas, extra, clock = new Clock() }: Setup = {}) {
  const origin = new FakeOrigin(key);
  const seen: string[] = [];
  const upstream = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      seen.push(`${request.method} ${new URL(request.url).pathname}`);
      return Response.json({ ok: true });
    },
  } as unknown as Fetcher;
  const env = uniqueJwksEnv({
    MASTRA: upstream,
    PUBLIC_PATHS: "/api,/api/auth/*,/public/*",
    RL_AGENT,
    SPEND_COUNTER,
    ...(limits ? { RATE_LIMITS: JSON.stringify(limits) } : {}),
    ...(quotas ? { QUOTAS: JSON.stringify(quotas) } : {}),
    ...extra,
  });
  const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: null });
  const token = (options: MintOptions) => mint(key, { now: clock.seconds, ttlSeconds: 3600, ...options });
  const post = async (path: string, bearer?: string, headers: Record<string, string> = {}) =>
    h.request(path, { method: "POST", headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), "content-type": "application/json", ...headers }, body: "{}" });
  return { ...h, env, clock, seen, token, post };
}

const GENERATE = "/api/agents/weather/generate";

/**
 * The Rate Limiting binding counts in fixed windows of wall-clock time (its local implementation
 * resets when `Date.now()` enters a new period). A run that straddles a boundary is repeated, with
 * a fresh key, rather than asserted on: the boundary is the binding's, not the gateway's.
 */
async function withinOneBindingWindow<T>(periodS: number, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = Math.floor(Date.now() / (periodS * 1000));
    const result = await run();
    if (Math.floor(Date.now() / (periodS * 1000)) === start) return result;
  }
  throw new Error("three runs in a row straddled a rate-limit window boundary");
}

describe("per-period limits on the Workers Rate Limiting binding", () => {
  const limits = [{ id: "agent-calls", binding: "RL_AGENT", key: "user", limit: BINDING_LIMIT, period: 60, methods: ["POST"], path: ["/api/agents/*/generate", "/api/agents/*/stream"] }];

  it("allows N, then answers 429 with the policy, Retry-After and CORS headers", async () => {
    const s = setup({ limits, extra: { CORS_ORIGINS: "https://app.example" } });
    await withinOneBindingWindow(60, async () => {
      s.seen.length = 0;
      const bearer = await s.token({ sub: unique("user") });
      for (let i = 0; i < BINDING_LIMIT; i++) {
        const ok = await s.post(i % 2 ? GENERATE : "/api/agents/weather/stream", bearer);
        expect(ok.status).toBe(200);
        expect(ok.headers.get("ratelimit-policy")).toBe('"agent-calls";q=30;w=60');
        // The binding answers yes or no: how many are left is not known, so not claimed.
        expect(ok.headers.get("ratelimit")).toBeNull();
      }
      const refused = await s.post(GENERATE, bearer, { origin: "https://app.example" });
      expect(refused.status).toBe(429);
      expect(await body(refused)).toEqual({ error: "rate_limited", limit: 30, period: 60, policy: "agent-calls" });
      expect(refused.headers.get("retry-after")).toBe("60");
      expect(refused.headers.get("ratelimit-policy")).toBe('"agent-calls";q=30;w=60');
      expect(refused.headers.get("ratelimit")).toBe('"agent-calls";r=0;t=60');
      expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(refused.headers.get("access-control-expose-headers")).toMatch(/Retry-After, RateLimit, RateLimit-Policy/);
      expect(s.seen).toHaveLength(BINDING_LIMIT);
    });
    expect(s.logger.events("ratelimit.exceeded")).toEqual([expect.objectContaining({ status: 429, policy: "agent-calls", key: "user", path: GENERATE })]);
  });

  it("separate users do not share a budget", async () => {
    const s = setup({ limits });
    await withinOneBindingWindow(60, async () => {
      const alice = await s.token({ sub: unique("user_alice") });
      const bob = await s.token({ sub: unique("user_bob") });
      for (let i = 0; i < BINDING_LIMIT; i++) expect((await s.post(GENERATE, alice)).status).toBe(200);
      expect((await s.post(GENERATE, alice)).status).toBe(429);
      expect((await s.post(GENERATE, bob)).status).toBe(200);
    });
  });

  it("401 and 403 answers spend nothing; routes no limit matches are untouched", async () => {
    const s = setup({ limits, extra: { AUTH_RULES: JSON.stringify([{ path: "/api/agents/*/generate", require: { emailVerified: true } }]) } });
    await withinOneBindingWindow(60, async () => {
      const sub = unique("user");
      const unverified = await s.token({ sub, emailVerified: false });
      const expired = await s.token({ sub, ttlSeconds: -120 });
      for (let i = 0; i < 10; i++) {
        expect((await s.post(GENERATE, unverified)).status).toBe(403);
        expect((await s.post(GENERATE, expired)).status).toBe(401);
        expect((await s.post(GENERATE)).status).toBe(401);
      }
      const verified = await s.token({ sub, emailVerified: true });
      for (let i = 0; i < 5; i++) {
        const other = await s.post("/api/agents/weather/tools", verified);
        expect(other.status).toBe(200);
        expect(other.headers.get("ratelimit-policy")).toBeNull();
      }
      for (let i = 0; i < BINDING_LIMIT; i++) expect((await s.post(GENERATE, verified)).status).toBe(200);
      expect((await s.post(GENERATE, verified)).status).toBe(429);
    });
  });
});

describe("exact limits and daily quotas in the SpendCounter Durable Object", () => {
  it("a per-period limit counts exactly: RateLimit says what is left and when the window ends", async () => {
    const s = setup({ limits: [{ id: "hourly", key: "user", limit: 3, period: 3600, path: "/api/agents/*/generate" }] });
    const sub = unique("user");
    const bearer = await s.token({ sub });
    // The clock is 12:00:00 UTC; the hour's window ends in 3600 s.
    for (const left of [2, 1, 0]) {
      const ok = await s.post(GENERATE, bearer);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"hourly";q=3;w=3600');
      expect(ok.headers.get("ratelimit")).toBe(`"hourly";r=${left};t=3600`);
    }
    s.clock.advance(600);
    const refused = await s.post(GENERATE, bearer);
    expect(refused.status).toBe(429);
    expect(await body(refused)).toEqual({ error: "rate_limited", limit: 3, period: 3600, policy: "hourly" });
    expect(refused.headers.get("retry-after")).toBe("3000");
    expect(refused.headers.get("ratelimit")).toBe('"hourly";r=0;t=3000');
    s.clock.advance(3000);
    const next = await s.post(GENERATE, await s.token({ sub }));
    expect(next.status).toBe(200);
    expect(next.headers.get("ratelimit")).toBe('"hourly";r=2;t=3600');
    expect(s.seen).toHaveLength(4);
  });

  it("an org quota is one budget for all the org's members, and only theirs", async () => {
    const quotas = [{ id: "org-daily", key: "org", limit: 3, path: "/api/agents/*/generate" }];
    const s = setup({ quotas });
    const org = unique("org");
    const member = async () => s.token({ sub: unique("user"), org: { id: org, role: "member" } });
    const expected = ['"org-daily";r=2;t=43200', '"org-daily";r=1;t=43200', '"org-daily";r=0;t=43200'];
    for (const state of expected) {
      const ok = await s.post(GENERATE, await member());
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"org-daily";q=3;w=86400');
      expect(ok.headers.get("ratelimit")).toBe(state);
    }
    const refused = await s.post(GENERATE, await member());
    expect(refused.status).toBe(429);
    expect(await body(refused)).toEqual({ error: "rate_limited", limit: 3, period: 86400, policy: "org-daily" });
    // Until the next UTC midnight, 12 hours away.
    expect(refused.headers.get("retry-after")).toBe("43200");
    expect(s.logger.events("ratelimit.exceeded")[0]).toMatchObject({ key: "org", org });

    // Another org, and a user outside any org (an org of one), have budgets of their own.
    expect((await s.post(GENERATE, await s.token({ sub: unique("user"), org: { id: unique("org"), role: "member" } }))).status).toBe(200);
    const loner = await s.token({ sub: unique("user") });
    for (let i = 0; i < 3; i++) expect((await s.post(GENERATE, loner)).status).toBe(200);
    expect((await s.post(GENERATE, loner)).status).toBe(429);
    expect((await s.post(GENERATE, await s.token({ sub: unique("user") }))).status).toBe(200);
    // The next UTC day is a new quota.
    s.clock.advance(43_200);
    expect((await s.post(GENERATE, await member())).status).toBe(200);
  });

  it("the quota survives an isolate restart: counts are in the Durable Object's SQLite storage", async () => {
    const quotas = [{ id: "daily", key: "user", limit: 3, path: "/api/agents/*/generate" }];
    const clock = new Clock();
    const sub = unique("user");
    const first = setup({ quotas, clock });
    for (let i = 0; i < 2; i++) expect((await first.post(GENERATE, await first.token({ sub }))).status).toBe(200);

    // Every Durable Object instance is thrown away (its memory with it), and a new gateway stands
    // for a new isolate of the Worker.
    await abortAllDurableObjects();
    const second = setup({ quotas, clock });
    const last = await second.post(GENERATE, await second.token({ sub }));
    expect(last.status).toBe(200);
    expect(last.headers.get("ratelimit")).toBe('"daily";r=0;t=43200');
    expect((await second.post(GENERATE, await second.token({ sub }))).status).toBe(429);
  });

  it("401 and 403 answers spend nothing of an exact budget", async () => {
    const s = setup({
      quotas: [{ id: "daily", key: "user", limit: 5, path: "/api/agents/*/generate" }],
      extra: { AUTH_RULES: JSON.stringify([{ path: "/api/agents/*/generate", require: { emailVerified: true } }]) },
    });
    const sub = unique("user");
    for (let i = 0; i < 4; i++) {
      expect((await s.post(GENERATE, await s.token({ sub, emailVerified: false }))).status).toBe(403);
      expect((await s.post(GENERATE, await s.token({ sub, ttlSeconds: -120 }))).status).toBe(401);
    }
    const ok = await s.post(GENERATE, await s.token({ sub, emailVerified: true }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("ratelimit")).toBe('"daily";r=4;t=43200');
  });

  it("every matching limit applies; a refusal by one key's counter is refunded to the others", async () => {
    const s = setup({
      limits: [{ id: "user-hourly", key: "user", limit: 10, period: 3600, path: "/api/agents/*" }],
      quotas: [{ id: "org-daily", key: "org", limit: 2, path: "/api/agents/*/generate" }],
    });
    const sub = unique("user");
    const org = unique("org");
    const inOrg = () => s.token({ sub, org: { id: org, role: "member" } });
    const first = await s.post(GENERATE, await inOrg());
    expect(first.headers.get("ratelimit-policy")).toBe('"user-hourly";q=10;w=3600, "org-daily";q=2;w=86400');
    expect(first.headers.get("ratelimit")).toBe('"user-hourly";r=9;t=3600, "org-daily";r=1;t=43200');
    expect((await s.post(GENERATE, await inOrg())).status).toBe(200);
    const refused = await s.post(GENERATE, await inOrg());
    expect(refused.status).toBe(429);
    expect(await body(refused)).toMatchObject({ policy: "org-daily" });
    // The user's own counter had counted the refused request, and gave it back.
    expect(refused.headers.get("ratelimit")).toBe('"user-hourly";r=8;t=3600, "org-daily";r=0;t=43200');
    const elsewhere = await s.post("/api/agents/weather/stream", await s.token({ sub }));
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.headers.get("ratelimit")).toBe('"user-hourly";r=7;t=3600');
  });

  it("within one key, a full window refuses without charging the others", async () => {
    const s = setup({
      limits: [{ id: "user-hourly", key: "user", limit: 10, period: 3600, path: "/api/agents/*" }],
      quotas: [{ id: "user-daily", key: "user", limit: 1, path: "/api/agents/*/generate" }],
    });
    const bearer = await s.token({ sub: unique("user") });
    expect((await s.post(GENERATE, bearer)).status).toBe(200);
    const refused = await s.post(GENERATE, bearer);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit")).toBe('"user-hourly";r=9;t=3600, "user-daily";r=0;t=43200');
    expect((await s.post("/api/agents/weather/stream", bearer)).headers.get("ratelimit")).toBe('"user-hourly";r=8;t=3600');
  });
});

describe("who pays", () => {
  it("public paths never spend a user's budget; an ip limit counts them by client address", async () => {
    const s = setup({
      limits: [
        { id: "per-user", key: "user", limit: 5, period: 3600, path: ["/public/*", "/api/agents/*/generate"] },
        { id: "per-ip", key: "ip", limit: 2, period: 60, path: "/public/*" },
      ],
    });
    const sub = unique("user");
    const bearer = await s.token({ sub });
    const ip = { "cf-connecting-ip": "203.0.113.7" };
    for (const left of [1, 0]) {
      const ok = await s.post("/public/search", bearer, ip);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"per-ip";q=2;w=60');
      expect(ok.headers.get("ratelimit")).toBe(`"per-ip";r=${left};t=60`);
    }
    const refused = await s.post("/public/search", undefined, ip);
    expect(refused.status).toBe(429);
    expect(await body(refused)).toEqual({ error: "rate_limited", limit: 2, period: 60, policy: "per-ip" });
    expect((await s.post("/public/search", undefined, { "cf-connecting-ip": "203.0.113.8" })).status).toBe(200);
    // The token sent to the public path was verified (its identity is forwarded), but a public
    // path counts only under ip limits: the user's budget is whole.
    expect((await s.post(GENERATE, bearer)).headers.get("ratelimit")).toBe('"per-user";r=4;t=3600');
  });

  it("preflights are answered before any counting", async () => {
    const s = setup({ limits: [{ id: "hourly", key: "ip", limit: 1, period: 3600, path: "/api/agents/*/generate" }], extra: { CORS_ORIGINS: "https://app.example" } });
    const ip = { "cf-connecting-ip": "198.51.100.1" };
    for (let i = 0; i < 5; i++) {
      const preflight = await s.request(GENERATE, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST", ...ip } });
      expect(preflight.status).toBe(204);
    }
    const ok = await s.post(GENERATE, await s.token({ sub: unique("user") }), ip);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("ratelimit")).toBe('"hourly";r=0;t=3600');
  });

  it("a session key separates one user's sessions", async () => {
    const s = setup({ limits: [{ id: "per-session", key: "session", limit: 1, period: 3600, path: GENERATE }] });
    const sub = unique("user");
    const one = await s.token({ sub, sid: unique("sess") });
    expect((await s.post(GENERATE, one)).status).toBe(200);
    expect((await s.post(GENERATE, one)).status).toBe(429);
    expect((await s.post(GENERATE, await s.token({ sub, sid: unique("sess") }))).status).toBe(200);
  });
});

describe("failures and configuration", () => {
  it("a counter that cannot be reached fails closed with 503, and the upstream is not called", async () => {
    const broken = { limit: async () => Promise.reject(new Error("rate limiter down")) } as unknown as RateLimit;
    const s = setup({ limits: [{ id: "x", binding: "RL_BROKEN", key: "user", limit: 5, period: 10, path: GENERATE }], extra: { RL_BROKEN: broken } as GatewayEnv });
    const response = await s.post(GENERATE, await s.token({ sub: unique("user") }));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(await body(response)).toMatchObject({ error: "rate_limiter_unavailable" });
    expect(s.seen).toHaveLength(0);
    expect(s.logger.events("ratelimit.unavailable")).toHaveLength(1);
  });

  const entry = { id: "e", key: "user", limit: 5, period: 60, path: GENERATE };
  it.each([
    ["invalid JSON", { RATE_LIMITS: "[{" }, /^RATE_LIMITS: is not valid JSON/],
    ["not an array", { RATE_LIMITS: "{}" }, /^RATE_LIMITS: must be a JSON array/],
    ["an entry that is not an object", { RATE_LIMITS: "[1]" }, /^RATE_LIMITS: entry #0 is not an object/],
    ["an unknown key", { RATE_LIMITS: JSON.stringify([{ ...entry, burst: 2 }]) }, /^RATE_LIMITS: entry "e": unknown key "burst"/],
    ["a bad pattern", { RATE_LIMITS: JSON.stringify([{ ...entry, path: "/api/a*b/generate" }]) }, /^RATE_LIMITS: entry "e": pattern "\/api\/a\*b\/generate"/],
    ["a bad key", { RATE_LIMITS: JSON.stringify([{ ...entry, key: "tenant" }]) }, /^RATE_LIMITS: entry "e": key must be one of user, org, session, ip/],
    ["a zero limit", { RATE_LIMITS: JSON.stringify([{ ...entry, limit: 0 }]) }, /^RATE_LIMITS: entry "e": limit must be a positive integer/],
    ["a fractional period", { RATE_LIMITS: JSON.stringify([{ ...entry, period: 1.5 }]) }, /^RATE_LIMITS: entry "e": period must be/],
    ["an entry named by index", { RATE_LIMITS: JSON.stringify([entry, { key: "user", limit: 1, period: 60 }]) }, /^RATE_LIMITS: entry #1: needs a path, resources, actions, agents, workflows or tools/],
    ["an unknown binding", { RATE_LIMITS: JSON.stringify([{ ...entry, binding: "RL_NOPE" }]) }, /^RATE_LIMITS: entry "e": binding "RL_NOPE" is not a \[\[ratelimits\]\] binding/],
    ["a binding with a period it cannot count", { RATE_LIMITS: JSON.stringify([{ ...entry, binding: "RL_AGENT", period: 3600 }]) }, /^RATE_LIMITS: entry "e": a Rate Limiting binding counts over 10 or 60 seconds only/],
    ["an id unfit for a header", { RATE_LIMITS: JSON.stringify([{ ...entry, id: 'a "b"' }]) }, /^RATE_LIMITS: entry #0: id must be/],
    ["a quota with a period", { QUOTAS: JSON.stringify([{ id: "q", key: "user", limit: 5, period: 60, path: GENERATE }]) }, /^QUOTAS: entry "q": unknown key "period"/],
    ["a quota by ip", { QUOTAS: JSON.stringify([{ id: "q", key: "ip", limit: 5, path: GENERATE }]) }, /^QUOTAS: entry "q": key must be one of user, org/],
    ["an id used twice", { RATE_LIMITS: JSON.stringify([entry]), QUOTAS: JSON.stringify([{ id: "e", key: "user", limit: 5, path: GENERATE }]) }, /^QUOTAS: entry "e": id already used in RATE_LIMITS/],
    ["no Durable Object binding", { RATE_LIMITS: JSON.stringify([entry]), SPEND_COUNTER: undefined }, /^RATE_LIMITS: entry "e" is counted by the SpendCounter Durable Object, but the Worker has no SPEND_COUNTER binding/],
  ])("%s is the misconfigured 500, naming the entry", async (_label, extra, message) => {
    const s = setup({ extra: extra as GatewayEnv });
    const response = await s.post(GENERATE, await s.token({ sub: unique("user") }));
    await expectMisconfigured(response, s.logger, message.source.match(/^\^(\w+)/)![1]!, message);
    expect(s.seen).toHaveLength(0);
  });

  it("the shipped wrangler.toml configuration is valid and guards the agent routes", async () => {
    const anonymous = await exports.default.fetch(`https://gateway.test${GENERATE}`, { method: "POST" });
    expect(anonymous.status).toBe(401);
    const { gatewayFor } = await import("../../src/index.js");
    const gateway = gatewayFor(bindings);
    expect(gateway.configError).toBeUndefined();
    expect(gateway.routing!.spendGuard.limits.map((l) => [l.id, l.key, l.limit, l.period, l.binding === RL_AGENT])).toEqual([["agent-calls", "user", 30, 60, true]]);
  });
});
