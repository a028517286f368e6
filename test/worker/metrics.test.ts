import { describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { body, expectMisconfigured, Clock, FakeOrigin, harness, mint, newKey, uniqueJwksEnv, withRefusedHttpUpstream } from "./helpers.js";

const METRICS_TOKEN = "metrics-secret-0123456789";

async function setup(extra: GatewayEnv = {}) {
  const key = await newKey();
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const points: AnalyticsEngineDataPoint[] = [];
  const analytics = { writeDataPoint: (p: AnalyticsEngineDataPoint) => points.push(p) } as AnalyticsEngineDataset;
  const upstream = { fetch: async () => new Response("ok") } as unknown as Fetcher;
  const h = harness(uniqueJwksEnv({ METRICS_TOKEN, AUTH_ANALYTICS: analytics, MASTRA: upstream, PUBLIC_PATHS: "/api", CORS_ORIGINS: "https://app.example.com", ...extra }), {
    fetch: origin.fetch,
    now: clock.now,
    kv: null,
  });
  const scrape = async () => {
    const response = await h.request("/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    return response.text();
  };
  return { ...h, key, clock, origin, points, scrape };
}

function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("GET /metrics", () => {
  it("counts what happened, Envoy jwt_authn style", async () => {
    const { key, clock, withToken, request, scrape, origin } = await setup();
    const token = await mint(key, { now: clock.seconds });
    await withToken(token, "/api/agents"); // miss, allowed
    await withToken(token, "/api/agents"); // hit, allowed
    await request("/api/agents"); // session-token-missing
    await withToken(await mint(key, { now: clock.seconds - 3600 }), "/api/agents"); // token-expired
    await request("/api"); // public
    await request("/api/agents", { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } });
    origin.mode = { kind: "refuse" };

    const text = await scrape();
    expect(sample(text, "jwt_authn_allowed_total")).toBe(2);
    expect(sample(text, "jwt_authn_public_total")).toBe(1);
    expect(sample(text, 'jwt_authn_denied_total{reason="session-token-missing"}')).toBe(1);
    expect(sample(text, 'jwt_authn_denied_total{reason="token-expired"}')).toBe(1);
    expect(sample(text, "jwt_authn_cors_preflight_total")).toBe(1);
    expect(sample(text, "jwt_authn_jwks_fetch_success_total")).toBe(1);
    expect(sample(text, "jwt_authn_jwks_fetch_failed_total")).toBe(0);
    expect(sample(text, "jwt_authn_jwt_cache_hit_total")).toBe(1);
    expect(sample(text, "jwt_authn_jwt_cache_miss_total")).toBe(2);
    expect(text).toContain("# TYPE jwt_authn_allowed_total counter");
    expect(text).not.toContain(token);
  });

  it("counts JWKS failures, stale serving and upstream errors", async () => {
    const { key, clock, withToken, scrape, origin } = await setup({ MASTRA: undefined, MASTRA_URL: "https://mastra.test", JWKS_CACHE_TTL_S: "60", JWKS_MAX_STALE_S: "3600" });
    const first = await mint(key, { now: clock.seconds });
    await withRefusedHttpUpstream(() => withToken(first, "/api/agents"));
    origin.mode = { kind: "status", status: 500 };
    clock.advance(120);
    const second = await mint(key, { now: clock.seconds });
    await withRefusedHttpUpstream(() => withToken(second, "/api/agents"));
    const text = await scrape();
    expect(sample(text, "jwt_authn_jwks_fetch_failed_total")).toBe(1);
    expect(sample(text, "jwt_authn_jwks_stale_served_total")).toBe(1);
    expect(sample(text, 'jwt_authn_upstream_errors_total{kind="unreachable"}')).toBe(2);
  });

  it("needs the metrics token; a Clerk token is not enough", async () => {
    const { key, clock, request, withToken } = await setup();
    const none = await request("/metrics");
    expect(none.status).toBe(401);
    const wrong = await request("/metrics", { headers: { authorization: "Bearer not-the-metrics-token" } });
    expect(wrong.status).toBe(401);
    expect(await body(wrong)).toMatchObject({ error: "unauthorized" });
    const clerk = await withToken(await mint(key, { now: clock.seconds }), "/metrics");
    expect(clerk.status).toBe(401);
  });

  it("without METRICS_TOKEN the route does not exist: /metrics is an ordinary protected path", async () => {
    const { request } = await setup({ METRICS_TOKEN: undefined });
    const response = await request("/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(401);
    expect(await body(response)).toMatchObject({ reason: "token-invalid" });
  });

  it("a short METRICS_TOKEN is a misconfiguration that does not echo it", async () => {
    const { request, logger } = await setup({ METRICS_TOKEN: "short" });
    const response = await request("/healthz");
    expect(JSON.stringify(await response.clone().json()) + JSON.stringify(logger.lines)).not.toContain('short"');
    await expectMisconfigured(response, logger, "METRICS_TOKEN", /^METRICS_TOKEN: must be at least 16 characters/);
  });

  it("writes one Analytics Engine data point per decision when AUTH_ANALYTICS is bound", async () => {
    const { key, clock, withToken, request, points } = await setup();
    await withToken(await mint(key, { now: clock.seconds }), "/api/agents");
    await request("/api/agents");
    expect(points).toEqual([
      { blobs: ["allowed", "", "GET", "/api/agents"], doubles: [1], indexes: ["allowed"] },
      { blobs: ["denied", "session-token-missing", "GET", "/api/agents"], doubles: [1], indexes: ["denied"] },
    ]);
  });
});
