// Rules and limits in Mastra's vocabulary, through the gateway in workerd: a rule about an agent
// holds on every route that runs it (path spellings, A2A, the agent card, /v1/responses naming it
// in the body), permissions come from ROLE_PERMISSIONS, unknown routes follow UNKNOWN_ROUTES, and
// an `execute` limit counts every route that runs something.

import { env as workerEnv } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import { grantedPermissions, matchesPermission, parseRolePermissions } from "../../src/authorize/permissions.js";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";
import { routeTable } from "../../src/routes/table.js";
import { body, Clock, expectMisconfigured, FakeOrigin, harness, mint, newKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

const unique = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

function setup(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const seen: string[] = [];
  const upstream = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      // The gateway's agent directory reads the agent list (test/worker/agent-directory.test.ts): not a user's request.
      const pathname = new URL(request.url).pathname;
      if (request.method === "GET" && !request.headers.has("authorization")) {
        if (pathname === "/api/agents") return Response.json({ "weather-agent": { id: "weather-agent", name: "Weather Agent", agents: {} } });
        if (pathname === "/api/.well-known/weatherAgent/agent-card.json") return Response.json({ name: "weather-agent" });
        if (/^\/api\/\.well-known\/[^/]+\/agent-card\.json$/.test(pathname)) return Response.json({ error: "not found" }, { status: 404 });
      }
      // The upstream still gets the whole body, after the gateway read it.
      const text = request.body ? await request.text() : "";
      seen.push(`${request.method} ${new URL(request.url).pathname} ${text}`.trim());
      return Response.json({ ok: true });
    },
  } as unknown as Fetcher;
  const env = uniqueJwksEnv({ MASTRA: upstream, SPEND_COUNTER: (workerEnv as unknown as GatewayEnv).SPEND_COUNTER, ...extra });
  const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: null });
  const token = (role: string | null, sub = unique("user")) =>
    mint(key, { now: clock.seconds, ttlSeconds: 3600, sub, ...(role ? { org: { id: "org_acme", role } } : {}) });
  const send = (method: string, path: string, bearer: string, payload?: unknown, headers: Record<string, string> = {}) =>
    h.request(path, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(payload !== undefined ? { body: typeof payload === "string" ? payload : JSON.stringify(payload) } : {}),
    });
  return { ...h, seen, token, send };
}

/** Every spelling that runs weatherAgent (or shows it), by key and by id. */
const SPELLINGS: [string, string, unknown?][] = [
  ["POST", "/api/agents/weatherAgent/generate", {}],
  ["POST", "/api/agents/weatherAgent/stream", {}],
  ["POST", "/api/agents/weatherAgent/generate/vnext", {}],
  ["POST", "/api/agents/weather-agent/stream/vnext", {}],
  ["POST", "/api/agents/weatherAgent/stream-until-idle", {}],
  ["POST", "/api/agents/weatherAgent/network", {}],
  ["POST", "/api/agents/weatherAgent/approve-tool-call", {}],
  ["POST", "/api/agents/weatherAgent/voice/speak", {}],
  ["POST", "/api/agents/weather-agent/generate-legacy", {}],
  ["POST", "/api/agents/weatherAgent/generate/", {}],
  ["POST", "/api/agents//weatherAgent/generate", {}],
  ["POST", "/api/agents/weather%2Dagent/generate", {}],
  ["POST", "/api/a2a/weatherAgent", { jsonrpc: "2.0", id: 1, method: "message/send", params: {} }],
  ["GET", "/api/.well-known/weather-agent/agent-card.json"],
  ["POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "hi" }],
  ["POST", "/api/v1/responses", { agent_id: "weather-agent", input: "hi" }],
  // Continuing a stored response names no agent: the edge cannot tell which, so the rule applies.
  ["POST", "/api/v1/responses", { previous_response_id: "resp_1", input: "hi" }],
  ["POST", "/api/v1/conversations", { agent_id: "weatherAgent" }],
  ["GET", "/api/v1/conversations/conv_1"],
];

describe("a rule about an agent holds on every route that runs it", () => {
  it("refuses a member on every spelling, before the upstream is reached", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]) });
    const member = await s.token("member");
    for (const [method, path, payload] of SPELLINGS) {
      const response = await s.send(method, path, member, payload);
      expect([method, path, response.status, await body(response)]).toEqual([method, path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" }]);
    }
    expect(s.seen).toEqual([]);
  });

  it("serves an admin on every spelling, forwarding the body it read untouched", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]) });
    const admin = await s.token("admin");
    for (const [method, path, payload] of SPELLINGS) {
      const response = await s.send(method, path, admin, payload);
      expect([method, path, response.status]).toEqual([method, path, 200]);
    }
    expect(s.seen).toContain(`POST /api/v1/responses ${JSON.stringify({ agent_id: "weatherAgent", input: "hi" })}`);
  });

  it("a member still reaches other agents, by path and by body", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]) });
    const member = await s.token("member");
    for (const [method, path, payload] of [
      ["POST", "/api/agents/helperAgent/generate", {}],
      ["POST", "/api/a2a/helperAgent", {}],
      ["POST", "/api/v1/responses", { agent_id: "helperAgent", input: "hi" }],
      ["GET", "/api/agents"],
      ["GET", "/api/workflows"],
    ] as const) {
      const response = await s.send(method, path, member, payload);
      expect([method, path, response.status]).toEqual([method, path, 200]);
    }
  });

  it("refuses a body it must read but cannot: not JSON (400), over the bound (413)", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]) });
    const member = await s.token("member");
    const bad = await s.send("POST", "/api/v1/responses", member, "{not json");
    expect(bad.status).toBe(400);
    expect(await body(bad)).toMatchObject({ error: "bad_request", reason: "body-unreadable" });
    const big = await s.send("POST", "/api/v1/responses", member, JSON.stringify({ agent_id: "helperAgent", input: "x".repeat(1024 * 1024 + 10) }));
    expect(big.status).toBe(413);
    expect(await body(big)).toMatchObject({ error: "payload_too_large", reason: "body-too-large" });
    const none = await s.send("POST", "/api/v1/responses", member);
    expect(none.status).toBe(400);
    expect(s.seen).toEqual([]);
  });

  it("reads no body when no rule or limit names a target", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([{ id: "r", resources: ["memory"], require: { orgRoles: ["admin"] } }]) });
    const response = await s.send("POST", "/api/v1/responses", await s.token("member"), "{not json");
    expect(response.status).toBe(200);
  });

  it("follows MASTRA_API_PREFIX", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]), MASTRA_API_PREFIX: "/mastra/" });
    const member = await s.token("member");
    expect((await s.send("POST", "/mastra/agents/weatherAgent/generate", member, {})).status).toBe(403);
    expect((await s.send("POST", "/mastra/a2a/weather-agent", member, {})).status).toBe(403);
    // /api is then not Mastra's: an agent rule has nothing to match there.
    expect((await s.send("POST", "/api/agents/weatherAgent/generate", member, {})).status).toBe(200);
  });
});

describe("resources, actions and Mastra permissions", () => {
  const ROLE_PERMISSIONS = JSON.stringify({ "org:admin": ["*"], member: ["agents:read", "agents:execute", "memory:*"], _default: ["agents:read"] });

  it("require.permissions through ROLE_PERMISSIONS, with _default for the unmapped", async () => {
    const rules = [
      { id: "workflows", resources: ["workflows"], actions: ["execute"], require: { permissions: ["workflows:execute"] } },
      { id: "agents", resources: ["agents", "a2a"], require: { permissions: ["agents:execute"] } },
    ];
    const s = setup({ AUTH_RULES: JSON.stringify(rules), ROLE_PERMISSIONS });
    const member = await s.token("member");
    const viewer = await s.token("viewer");
    const admin = await s.token("admin");
    const start = "/api/workflows/weatherWorkflow/start-async";
    expect(await body(await s.send("POST", start, member, {}))).toEqual({ error: "forbidden", reason: "permission-missing:workflows:execute", rule: "workflows" });
    expect((await s.send("POST", start, admin, {})).status).toBe(200);
    // Reading runs is not an execute action: the rule does not apply.
    expect((await s.send("GET", "/api/workflows/weatherWorkflow/runs", member)).status).toBe(200);
    expect((await s.send("POST", "/api/agents/x/generate", member, {})).status).toBe(200);
    expect(await body(await s.send("POST", "/api/a2a/x", viewer, {}))).toEqual({ error: "forbidden", reason: "permission-missing:agents:execute", rule: "agents" });
    expect((await s.send("POST", "/api/a2a/x", await s.token(null), {})).status).toBe(403);
  });

  it("Mastra's permission matching and role mapping", () => {
    const table = routeTable();
    expect(matchesPermission("*", "memory:delete")).toBe(true);
    expect(matchesPermission("memory:*", "memory:delete")).toBe(true);
    expect(matchesPermission("*:read", "memory:read")).toBe(true);
    expect(matchesPermission("*:read", "memory:write")).toBe(false);
    expect(matchesPermission("stored:read", "stored-agents:read")).toBe(true);
    expect(matchesPermission("agents:execute:weatherAgent", "agents:execute")).toBe(false);
    expect(matchesPermission("agents:read", "memory:*")).toBe(false);
    const mapping = parseRolePermissions(ROLE_PERMISSIONS, table);
    const identity = (claims: Record<string, unknown>) => toIdentity({ sub: "u", iss: "x", exp: 0, iat: 0, nbf: 0, ...claims } as ClerkClaims);
    expect(grantedPermissions(identity({ org_id: "o", org_role: "org:member" }), mapping)).toEqual(["agents:read", "agents:execute", "memory:*"]);
    expect(grantedPermissions(identity({}), mapping)).toEqual(["agents:read"]);
    expect(grantedPermissions(identity({ org_id: "o", org_role: "org:guest" }), mapping)).toEqual(["agents:read"]);
  });

  it("evaluateRules classifies the request itself when the caller has not", () => {
    const rules = compileRules([ADMINS_ONLY]);
    const member = toIdentity({ sub: "u", iss: "x", exp: 0, iat: 0, nbf: 0, v: 2, o: { id: "org", rol: "member" } } as unknown as ClerkClaims);
    expect(evaluateRules(rules, "POST", "/api/agents/weatherAgent/stream/vnext", member)).toEqual({ allowed: false, reason: "org-role-not-allowed", rule: "admins-only" });
    expect(evaluateRules(rules, "GET", "/api/agents", member)).toEqual({ allowed: true, rule: null });
  });
});

describe("UNKNOWN_ROUTES", () => {
  it("allow (default): a custom route under the prefix is served to any signed-in user", async () => {
    const s = setup();
    expect((await s.send("POST", "/api/custom/report", await s.token("member"), {})).status).toBe(200);
  });

  it("deny: refused unless a path rule names it; Mastra's routes and paths outside the prefix pass", async () => {
    const s = setup({ UNKNOWN_ROUTES: "deny", AUTH_RULES: JSON.stringify([{ id: "reports", path: "/api/custom/report", require: { orgRoles: ["admin"] } }]) });
    const member = await s.token("member");
    expect(await body(await s.send("POST", "/api/custom/other", member, {}))).toEqual({ error: "forbidden", reason: "unknown-route", rule: null });
    expect((await s.send("POST", "/api/custom/report", member, {})).status).toBe(403);
    expect((await s.send("POST", "/api/custom/report", await s.token("admin"), {})).status).toBe(200);
    expect((await s.send("POST", "/api/agents/a/generate", member, {})).status).toBe(200);
    expect((await s.send("GET", "/auth/me", member)).status).toBe(200);
  });
});

describe("an execute limit counts every route that runs something", () => {
  it("a user's third call is 429 whichever route carries it", async () => {
    const s = setup({ RATE_LIMITS: JSON.stringify([{ id: "llm", key: "user", limit: 2, period: 60, actions: ["execute"] }]) });
    const routes: [string, unknown][] = [
      ["/api/agents/weatherAgent/generate", {}],
      ["/api/a2a/weatherAgent", { jsonrpc: "2.0", id: 1, method: "message/send", params: {} }],
      ["/api/v1/responses", { agent_id: "weatherAgent", input: "hi" }],
      ["/api/agents/weatherAgent/stream-until-idle", {}],
      ["/api/workflows/w/time-travel-stream", {}],
      ["/api/agents/weatherAgent/approve-tool-call", {}],
    ];
    // Every pair of routes, each for a fresh user: two pass, the third is refused.
    for (const [i, [first]] of routes.entries()) {
      const [second] = routes[(i + 1) % routes.length]!;
      const [third, payload] = routes[(i + 2) % routes.length]!;
      const user = await s.token("member");
      expect((await s.send("POST", first, user, {})).status).toBe(200);
      expect((await s.send("POST", second, user, {})).status).toBe(200);
      const refused = await s.send("POST", third, user, payload);
      expect([third, refused.status]).toEqual([third, 429]);
      expect(await body(refused)).toMatchObject({ error: "rate_limited", policy: "llm" });
    }
    // Reading is not counted.
    const user = await s.token("member");
    for (let i = 0; i < 3; i++) expect((await s.send("GET", "/api/agents/weatherAgent", user)).status).toBe(200);
  });
});

describe("bad configuration is the misconfigured 500 naming the rule", () => {
  it.each([
    ["an unknown selector", "AUTH_RULES", [{ id: "r", agent: ["a"] }], /^AUTH_RULES: rule "r": unknown key "agent"/],
    ["an unknown resource", "AUTH_RULES", [{ id: "r", resources: ["agent"] }], /^AUTH_RULES: rule "r": unknown resource "agent"/],
    ["an unknown action", "AUTH_RULES", [{ id: "r", actions: ["run"] }], /^AUTH_RULES: rule "r": unknown action "run"/],
    ["an agent rule with no target", "AUTH_RULES", [{ id: "r", agents: [] }], /^AUTH_RULES: rule "r": agents must be a non-empty array of names/],
    ["a rule selecting nothing", "AUTH_RULES", [{ id: "r", require: { orgRoles: ["admin"] } }], /^AUTH_RULES: rule "r": needs a path, resources/],
    ["permissions without ROLE_PERMISSIONS", "AUTH_RULES", [{ id: "r", resources: ["agents"], require: { permissions: ["agents:execute"] } }], /^AUTH_RULES: rule "r": require.permissions needs ROLE_PERMISSIONS/],
    ["an unknown permission resource", "AUTH_RULES", [{ id: "r", resources: ["agents"], require: { permissions: ["agent:execute"] } }], /^AUTH_RULES: rule "r": permission "agent:execute": unknown resource/],
    ["a limit with an unknown action", "RATE_LIMITS", [{ id: "l", key: "user", limit: 1, period: 60, actions: ["spend"] }], /^RATE_LIMITS: entry "l": unknown action "spend"/],
    ["a limit on no agent", "RATE_LIMITS", [{ id: "l", key: "user", limit: 1, period: 60, agents: [""] }], /^RATE_LIMITS: entry "l": agents must be/],
  ])("%s", async (_label, variable, value, message) => {
    const s = setup({ [variable]: JSON.stringify(value), ROLE_PERMISSIONS: variable === "AUTH_RULES" && /permission "/.test(message.source) ? '{"_default":[]}' : undefined });
    const response = await s.send("POST", "/api/agents/a/generate", await s.token("admin"), {});
    await expectMisconfigured(response, s.logger, variable, message);
    expect(s.seen).toEqual([]);
  });

  it.each([
    ["ROLE_PERMISSIONS", '{"admin": ["agents:run"]}', /^ROLE_PERMISSIONS: "admin": permission "agents:run": unknown action/],
    ["ROLE_PERMISSIONS", '["*"]', /^ROLE_PERMISSIONS: must be a JSON object/],
    ["UNKNOWN_ROUTES", "block", /^UNKNOWN_ROUTES: must be "allow" or "deny"/],
    ["MASTRA_API_PREFIX", "api", /^MASTRA_API_PREFIX: "api" is not a path/],
  ])("%s=%s", async (variable, value, message) => {
    const s = setup({ [variable]: value });
    const response = await s.send("POST", "/api/agents/a/generate", await s.token("admin"), {});
    await expectMisconfigured(response, s.logger, variable, message);
  });
});
