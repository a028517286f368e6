// Issue #11 §3, the second line of defence: MastraAuthGateway and MastraAuthClerk enforce AUTH_RULES
// in-process with the gateway's compiled rules, and mastraRulesMiddleware resolves the agent a
// request names as Mastra does (key, id, sub-agent key) so a rule holds on every spelling.

import { Hono } from "hono";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import { ConfigError } from "../../src/core/errors.js";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";
import {
  AssertionKey,
  MastraAuthClerk,
  MastraAuthGateway,
  mastraRulesMiddleware,
  mintAssertion,
  type ClerkUser,
  type GatewayUser,
  type MastraAuthClerkOptions,
  type MastraAuthGatewayOptions,
} from "../../src/lib.js";
import type { RouteRequest } from "../../src/routes/selector.js";
import { FakeOrigin, ISSUER, JWKS_URL, MemoryLogger, mint, newKey, type SigningKey } from "./helpers.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };

const identityOf = (role: string | null) =>
  toIdentity({ sub: "user_1", iss: "https://clerk.example.com", exp: 2e9, iat: 1e9, ...(role ? { org_id: "org_acme", org_role: `org:${role}` } : {}) } as ClerkClaims);

describe("selectors: a target is selected by any of its names", () => {
  it("a rule naming weatherAgent holds on `helper` when the request knows helper is weatherAgent; not otherwise", () => {
    const rules = compileRules([ADMINS_ONLY]);
    const member = identityOf("member");
    const path = "/api/agents/helper/generate";
    expect(evaluateRules(rules, "POST", path, member)).toEqual({ allowed: true, rule: null });
    const aliased: RouteRequest = { method: "POST", path, aliases: (kind, name) => (kind === "agent" && name === "helper" ? ["helper", "weather-agent"] : undefined) };
    expect(evaluateRules(rules, "POST", path, member, aliased)).toEqual({ allowed: false, reason: "org-role-not-allowed", rule: "admins-only" });
    const other: RouteRequest = { method: "POST", path, aliases: () => ["travel-agent"] };
    expect(evaluateRules(rules, "POST", path, member, other)).toEqual({ allowed: true, rule: null });
    expect(evaluateRules(rules, "POST", path, identityOf("admin"), { ...aliased, classified: undefined })).toEqual({ allowed: true, rule: "admins-only" });
  });
});

// ---- the providers ------------------------------------------------------------------------------

const ASSERTION_SECRET = "a-test-secret-that-is-long-enough-0123456789";
const UPSTREAM = "https://mastra.internal";
const DENIED = { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" };

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});
afterEach(() => {
  vi.unstubAllEnvs();
});

const uniqueUrl = () => `${JWKS_URL}?provider-rules=${crypto.randomUUID()}`;
const unique = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

function clerk(options: MastraAuthClerkOptions = {}) {
  const origin = new FakeOrigin(key);
  const logger = new MemoryLogger();
  const auth = new MastraAuthClerk({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch, logger, env: {}, ...options });
  return { auth, logger };
}

function gateway(options: Partial<MastraAuthGatewayOptions> = {}) {
  const logger = new MemoryLogger();
  const auth = new MastraAuthGateway({ secret: ASSERTION_SECRET, audience: UPSTREAM, env: {}, logger, ...options });
  return { auth, logger };
}

/** A request as Mastra hands it to authorizeUser (`adaptToMastraAuthRequest` in @mastra/server: `{ raw, headers, header }`). */
function mastraRequest(raw: Request) {
  return { raw, headers: raw.headers, header: (name: string) => raw.headers.get(name) ?? undefined };
}

function post(path: string, payload?: unknown, headers: Record<string, string> = {}) {
  return new Request(`${UPSTREAM}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: payload === undefined ? undefined : typeof payload === "string" ? payload : JSON.stringify(payload),
  });
}

/** The user Mastra got from authenticateToken, for a member or an admin of org_acme. */
async function clerkUser(auth: MastraAuthClerk, role: string | null) {
  const token = await mint(key, { sub: unique("user"), ttlSeconds: 600, ...(role ? { org: { id: "org_acme", role } } : {}) });
  const user = await auth.authenticateToken(`Bearer ${token}`, new Request(`${UPSTREAM}/api/agents`));
  expect(user).not.toBeNull();
  return user!;
}

describe("the rules option: validated once, as the gateway validates AUTH_RULES", () => {
  it("a bad rule throws a ConfigError naming the option and the rule, with the gateway's message", () => {
    const bad = [{ id: "typo", agents: ["weatherAgent"], require: { orgRole: ["admin"] } }] as never[];
    let gatewayMessage = "";
    try {
      compileRules(bad, "AUTH_RULES");
    } catch (error) {
      gatewayMessage = (error as ConfigError).message;
    }
    expect(gatewayMessage).toMatch(/rule "typo": unknown requirement "orgRole"/);
    for (const make of [() => clerk({ rules: bad }), () => gateway({ rules: bad })]) {
      expect(make).toThrowError(ConfigError);
      expect(make).toThrowError(gatewayMessage.replace("AUTH_RULES", "rules"));
    }
    // From the env: named AUTH_RULES, exactly as the gateway names it.
    expect(() => clerk({ env: { AUTH_RULES: JSON.stringify(bad) } })).toThrowError(gatewayMessage);
    expect(() => gateway({ env: { AUTH_RULES: "[{" } })).toThrowError(/AUTH_RULES: is not valid JSON/);
    expect(() => clerk({ rules: [{ id: "no-target", require: { orgRoles: ["admin"] } }] })).toThrowError(/rules: rule "no-target": needs a path, resources, actions, agents, workflows or tools/);
    expect(() => clerk({ rules: [{ resources: ["agentz"] }] as never })).toThrowError(/unknown resource "agentz"/);
    expect(() => gateway({ rules: [{ actions: ["execute"], require: { permissions: ["agents:execute"] } }] })).toThrowError(/require.permissions needs ROLE_PERMISSIONS/);
    expect(() => gateway({ rules: [{ actions: ["execute"], require: { permissions: ["agents:execute"] } }], rolePermissions: { "org:admin": ["*"], _default: [] } })).not.toThrow();
    expect(() => clerk({ rolePermissions: "{" })).toThrowError(/rolePermissions: is not valid JSON/);
    expect(() => clerk({ apiPrefix: "no-slash" })).toThrowError(/apiPrefix: "no-slash" is not a path like \/api/);
    expect(() => clerk({ env: { MASTRA_API_PREFIX: "a b" } })).toThrowError(/MASTRA_API_PREFIX/);
    expect(() => gateway({ unknownRoutes: "block" as never })).toThrowError(/unknownRoutes: must be "allow" or "deny"/);
  });

  it("the option names sit beside @mastra/auth-clerk's: a misspelling is refused with a suggestion", () => {
    expect(() => clerk({ rule: [] } as never)).toThrowError(/rule: is not an option of MastraAuthClerk \(did you mean "rules"\?\)/);
    expect(() => gateway({ rolePermission: {} } as never)).toThrowError(/did you mean "rolePermissions"/);
    expect(() => gateway({ apiprefix: "/api" } as never)).toThrowError(/did you mean "apiPrefix"/);
  });

  it("defaults to AUTH_RULES, ROLE_PERMISSIONS, MASTRA_API_PREFIX of env (a Worker's env, else process.env)", async () => {
    const { auth } = clerk({ env: { AUTH_RULES: JSON.stringify([ADMINS_ONLY]), MASTRA_API_PREFIX: "/mastra" } });
    const member = await clerkUser(auth, "member");
    expect(await auth.authorizeUser(member, mastraRequest(post("/mastra/agents/weatherAgent/generate", {})))).toBe(false);
    // Under another prefix it is not Mastra's route at all.
    expect(await auth.authorizeUser(member, mastraRequest(post("/api/agents/weatherAgent/generate", {})))).toBe(true);
    vi.stubEnv("AUTH_RULES", JSON.stringify([{ id: "deny-all", path: "/api/*", allow: false }]));
    const fromProcess = new MastraAuthGateway({ secret: ASSERTION_SECRET, audience: UPSTREAM });
    expect(await fromProcess.authorizeUser({ identity: identityOf("admin") } as GatewayUser, mastraRequest(post("/api/agents", {})))).toBe(false);
  });

  it("no rules: authorizeUser stays synchronous and allows (no request is read)", async () => {
    const { auth } = clerk();
    const user = await clerkUser(auth, "member");
    expect(auth.authorizeUser(user, mastraRequest(post("/api/agents/weatherAgent/generate", {})))).toBe(true);
  });
});

describe("authorizeUser enforces the rules in-process, with the gateway's compiled rules", () => {
  it("a member is refused on every spelling of weatherAgent a request carries, with the refusal logged; an admin is allowed; other agents are not covered", async () => {
    for (const { auth, logger, user } of [
      await (async () => { const c = clerk({ rules: [ADMINS_ONLY] }); return { ...c, user: (role: string) => clerkUser(c.auth, role) }; })(),
      (() => { const g = gateway({ rules: [ADMINS_ONLY] }); return { ...g, user: async (role: string) => ({ identity: identityOf(role) }) as unknown as never }; })(),
    ]) {
      const member = await user("member");
      const admin = await user("admin");
      const authorize = (u: unknown, raw: Request) => (auth as MastraAuthClerk).authorizeUser(u as ClerkUser, mastraRequest(raw));
      for (const raw of [
        post("/api/agents/weatherAgent/generate", {}),
        post("/api/agents/weather-agent/stream/vnext", {}),
        post("/api/agents/weatherAgent/generate/vnext", {}),
        post("/api/agents/weatherAgent/stream-until-idle", {}),
        post("/api/agents/weather%2Dagent/generate", {}),
        post("/api/a2a/weatherAgent", { jsonrpc: "2.0", id: 1, method: "message/send", params: {} }),
        new Request(`${UPSTREAM}/api/.well-known/weatherAgent/agent-card.json`),
        post("/api/v1/responses", { agent_id: "weatherAgent", input: "hi" }),
        post("/api/v1/responses", { previous_response_id: "resp_1", input: "hi" }),
        post("/api/v1/conversations", { agent_id: "weather-agent" }),
      ]) {
        expect([raw.method, raw.url, await authorize(member, raw.clone())]).toEqual([raw.method, raw.url, false]);
        expect([raw.method, raw.url, await authorize(admin, raw)]).toEqual([raw.method, raw.url, true]);
      }
      expect(await authorize(member, post("/api/agents/travelAgent/generate", {}))).toBe(true);
      expect(await authorize(member, post("/api/v1/responses", { agent_id: "travelAgent", input: "hi" }))).toBe(true);
      expect(logger.events("auth.forbidden")[0]).toMatchObject({ level: "warn", status: 403, reason: "org-role-not-allowed", rule: "admins-only", method: "POST", path: "/api/agents/weatherAgent/generate" });
    }
  });

  it("/v1/responses: the body is read from a clone (Mastra still reads it whole); an unreadable or oversized body is refused", async () => {
    const { auth, logger } = clerk({ rules: [ADMINS_ONLY] });
    const admin = await clerkUser(auth, "admin");
    const raw = post("/api/v1/responses", { agent_id: "weatherAgent", input: "hi" });
    expect(await auth.authorizeUser(admin, mastraRequest(raw))).toBe(true);
    expect(await raw.json()).toEqual({ agent_id: "weatherAgent", input: "hi" });
    expect(await auth.authorizeUser(admin, mastraRequest(post("/api/v1/responses", "not json")))).toBe(false);
    expect(logger.lines.at(-1)).toMatchObject({ event: "auth.rejected", status: 400, reason: "body-unreadable" });
    expect(await auth.authorizeUser(admin, mastraRequest(post("/api/v1/responses", { input: "x".repeat(1024 * 1024 + 1) })))).toBe(false);
    expect(logger.lines.at(-1)).toMatchObject({ event: "auth.rejected", status: 413, reason: "body-too-large" });
  });

  it("runs after the organization rules and before options.authorizeUser, which a refusal never reaches", async () => {
    const seen: string[] = [];
    const { auth } = clerk({ rules: [ADMINS_ONLY], organizationId: "org_acme", authorizeUser: (_user, request) => (seen.push(String((request as { raw: Request }).raw.url)), true) });
    const member = await clerkUser(auth, "member");
    expect(await auth.authorizeUser(member, mastraRequest(post("/api/agents/weatherAgent/generate", {})))).toBe(false);
    expect(await auth.authorizeUser(member, mastraRequest(post("/api/agents/travelAgent/generate", {})))).toBe(true);
    expect(seen).toEqual([`${UPSTREAM}/api/agents/travelAgent/generate`]);
    const outsider = await clerkUser(auth, null);
    expect(await auth.authorizeUser(outsider, mastraRequest(post("/api/agents/travelAgent/generate", {})))).toBe(false);
  });

  it("unknownRoutes: deny refuses a custom route under the prefix unless a path rule names it; a request shape without a URL is refused", async () => {
    const { auth, logger } = gateway({ unknownRoutes: "deny", rules: [{ id: "custom", path: "/api/custom/ok" }] });
    const user = { identity: identityOf("member") } as GatewayUser;
    expect(await auth.authorizeUser(user, mastraRequest(post("/api/custom/other", {})))).toBe(false);
    expect(logger.lines.at(-1)).toMatchObject({ event: "auth.forbidden", reason: "unknown-route" });
    expect(await auth.authorizeUser(user, mastraRequest(post("/api/custom/ok", {})))).toBe(true);
    expect(await auth.authorizeUser(user, mastraRequest(post("/api/agents/x/generate", {})))).toBe(true);
    expect(await auth.authorizeUser(user, { headers: { authorization: "x" } })).toBe(false);
    expect(logger.lines.at(-1)).toMatchObject({ event: "auth.forbidden", reason: "request-unreadable" });
  });
});

// ---- the middleware -----------------------------------------------------------------------------

/** Agents as Mastra holds them: weatherAgent (id weather-agent), travelAgent listing it as `helper`, newsAgent, a stored agent. */
function fakeMastra(apiPrefix?: string) {
  const weather = { id: "weather-agent", listAgents: () => ({}) };
  const travel = { id: "travel-agent", listAgents: async () => ({ helper: weather }) };
  const news = { id: "news-agent", listAgents: () => ({}) };
  const agents: Record<string, object> = { weatherAgent: weather, travelAgent: travel, newsAgent: news };
  const stored = { id: "stored-weather", listAgents: () => ({ forecaster: weather }) };
  const workflow = { id: "weather-workflow" };
  Object.assign(news, { listWorkflows: async () => ({ forecast: workflow }) });
  return {
    listAgents: () => agents,
    listWorkflows: () => ({ weatherWorkflow: workflow }),
    getWorkflowById(id: string) {
      if (id === "weather-workflow" || id === "weatherWorkflow") return workflow;
      throw new Error(`Workflow with id ${id} not found`);
    },
    getAgentById(id: string) {
      const found = Object.values(agents).find((a) => (a as { id: string }).id === id) ?? agents[id];
      if (!found) throw new Error(`Agent with id ${id} not found`);
      return found;
    },
    getEditor: () => ({ agent: { getById: async (id: string) => (id === "stored-weather" ? stored : null) } }),
    getServer: () => (apiPrefix ? { apiPrefix } : {}),
  };
}

/**
 * A Hono app shaped as @mastra/hono builds it: its context middleware sets `mastra` and
 * `requestContext`, user middleware runs next, and each route authenticates then authorizes in
 * its handler (`checkRouteAuth`), answering false with 403 {"error":"Access denied"}. With
 * `authenticateFirst`, an adapter that authenticates before user middleware (the user in the
 * request context). The real server is in test/node/e2e/provider-rules.test.ts.
 */
function mastraApp(auth: MastraAuthClerk | MastraAuthGateway, mastra = fakeMastra(), { authenticateFirst = false, middleware = true, forged = null as object | null } = {}) {
  const served: string[] = [];
  const app = new Hono();
  const authenticate = async (raw: Request) => auth.authenticateToken((raw.headers.get("authorization") ?? "").replace("Bearer ", ""), mastraRequest(raw));
  app.use("*", async (c, next) => {
    const values = new Map<string, unknown>();
    c.set("mastra" as never, mastra as never);
    c.set("requestContext" as never, { get: (k: string) => values.get(k), set: (k: string, v: unknown) => values.set(k, v) } as never);
    // What a client could put in a request context (Mastra merges a body's requestContext; other middleware may set anything).
    if (forged) for (const k of ["user", "mastra__user"]) values.set(k, forged);
    if (authenticateFirst) {
      const user = await authenticate(c.req.raw);
      if (!user) return c.json({ error: "Invalid or expired token" }, 401);
      // Where Mastra's auth puts it (MASTRA_USER_KEY), and under "user", which a client's body can also set.
      values.set("mastra__user", user);
      values.set("user", user);
    }
    return next();
  });
  if (middleware) app.use("*", mastraRulesMiddleware(auth));
  app.all("*", async (c) => {
    const user = authenticateFirst ? (c.get("requestContext" as never) as { get(k: string): unknown }).get("mastra__user") : await authenticate(c.req.raw);
    if (!user) return c.json({ error: "Invalid or expired token" }, 401);
    if (!authenticateFirst && !(await auth.authorizeUser(user as never, mastraRequest(c.req.raw)))) return c.json({ error: "Access denied" }, 403, { "access-control-allow-origin": "*" });
    const body = c.req.method === "POST" ? await c.req.json() : null;
    served.push(`${c.req.method} ${c.req.path}`);
    return c.json({ served: c.req.path, body });
  });
  return { app, served };
}

describe("mastraRulesMiddleware: the agent resolved as Mastra resolves it, the gateway's 403", () => {
  it("refuses every name Mastra finds weatherAgent under (key, id, sub-agent key, a stored agent delegating to it) and the parent that can run it, with the gateway's JSON", async () => {
    const { auth } = clerk({ rules: [ADMINS_ONLY] });
    const { app, served } = mastraApp(auth);
    const token = async (role: string) => mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role } });
    const member = await token("member");
    const admin = await token("admin");
    const call = (bearer: string, path: string, payload: unknown = {}) => app.request(post(path, payload, { authorization: `Bearer ${bearer}` }));
    for (const [path, payload] of [
      ["/api/agents/weatherAgent/generate", {}],
      ["/api/agents/weather-agent/stream", {}],
      ["/api/agents/helper/generate", {}],
      ["/api/agents/helper/stream/vnext", {}],
      ["/api/agents/travelAgent/generate", {}],
      ["/api/agents/travel-agent/stream", {}],
      ["/api/agents/stored-weather/generate", {}],
      ["/api/a2a/helper", { jsonrpc: "2.0", id: 1, method: "message/send", params: {} }],
      ["/api/v1/responses", { agent_id: "helper", input: "hi" }],
      ["/api/v1/responses", { agent_id: "travelAgent", input: "hi" }],
    ] as const) {
      const response = await call(member, path, payload);
      expect([path, response.status, response.headers.get("content-type"), await response.json()]).toEqual([path, 403, "application/json; charset=utf-8", DENIED]);
      // Mastra's own headers stay (CORS here); the length is the new body's.
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
    }
    expect(served).toEqual([]);
    expect((await call(member, "/api/agents/newsAgent/generate")).status).toBe(200);
    expect((await call(member, "/api/agents/unknownAgent/generate")).status).toBe(200);
    const answered = await call(admin, "/api/v1/responses", { agent_id: "helper", input: "hi" });
    expect(await answered.json()).toEqual({ served: "/api/v1/responses", body: { agent_id: "helper", input: "hi" } });
    expect((await call(admin, "/api/agents/helper/generate")).status).toBe(200);
  });

  it("without the middleware the provider still refuses the spellings a rule lists (Mastra's own 403 body), not `helper`", async () => {
    const { auth } = gateway({ rules: [ADMINS_ONLY] });
    const { app } = mastraApp(auth, fakeMastra(), { middleware: false });
    const assertFor = async (path: string) => {
      const url = `${UPSTREAM}${path}`;
      const assertion = await mintAssertion(new AssertionKey(ASSERTION_SECRET), identityOf("member"), UPSTREAM, { method: "POST", url });
      return app.request(post(path, {}, { "x-gateway-assertion": assertion }));
    };
    const refused = await assertFor("/api/agents/weatherAgent/generate");
    expect([refused.status, await refused.json()]).toEqual([403, { error: "Access denied" }]);
    expect((await assertFor("/api/agents/helper/generate")).status).toBe(200);
    // With it, on MastraAuthGateway too.
    const withMiddleware = mastraApp(auth).app;
    const url = `${UPSTREAM}/api/agents/helper/generate`;
    const assertion = await mintAssertion(new AssertionKey(ASSERTION_SECRET), identityOf("member"), UPSTREAM, { method: "POST", url });
    const response = await withMiddleware.request(post("/api/agents/helper/generate", {}, { "x-gateway-assertion": assertion }));
    expect([response.status, await response.json()]).toEqual([403, DENIED]);
  });

  it("coverParents: false (or AGENT_RULES_COVER_PARENTS=false, as at the gateway): the parent is no longer covered, the sub-agent key still is", async () => {
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    for (const options of [{ coverParents: false }, { env: { AGENT_RULES_COVER_PARENTS: "false" } }] as MastraAuthClerkOptions[]) {
      const { app } = mastraApp(clerk({ rules: [ADMINS_ONLY], ...options }).auth);
      const status = async (path: string) => (await app.request(post(path, {}, { authorization: `Bearer ${member}` }))).status;
      expect([await status("/api/agents/helper/generate"), await status("/api/agents/travelAgent/generate")]).toEqual([403, 200]);
    }
    expect(() => clerk({ rules: [ADMINS_ONLY], coverParents: "no" as never })).toThrowError(/coverParents: must be true or false/);
    expect(() => clerk({ rules: [ADMINS_ONLY], env: { AGENT_RULES_COVER_PARENTS: "maybe" } })).toThrowError(/AGENT_RULES_COVER_PARENTS/);
  });

  it("a workflow rule holds on the workflow's id, key, and the key an agent lists it under; an agent that can run it is not covered", async () => {
    const rule = { id: "wf-admins", workflows: ["weatherWorkflow"], require: { orgRoles: ["admin"] } };
    const { auth } = clerk({ rules: [rule] });
    const { app } = mastraApp(auth);
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    for (const path of ["/api/workflows/weatherWorkflow/start-async", "/api/workflows/weather-workflow/create-run", "/api/workflows/forecast/stream"]) {
      const response = await app.request(post(path, {}, { authorization: `Bearer ${member}` }));
      expect([path, response.status, await response.json()]).toEqual([path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "wf-admins" }]);
    }
    for (const path of ["/api/workflows/otherWorkflow/start-async", "/api/agents/newsAgent/generate"]) {
      expect([path, (await app.request(post(path, {}, { authorization: `Bearer ${member}` }))).status]).toEqual([path, 200]);
    }
  });

  it("an adapter that authenticates before user middleware: the middleware decides from the user Mastra stored", async () => {
    const { auth } = clerk({ rules: [ADMINS_ONLY] });
    const { app, served } = mastraApp(auth, fakeMastra(), { authenticateFirst: true });
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    const response = await app.request(post("/api/agents/helper/generate", {}, { authorization: `Bearer ${member}` }));
    expect([response.status, await response.json()]).toEqual([403, DENIED]);
    expect((await app.request(post("/api/agents/newsAgent/generate", {}, { authorization: `Bearer ${member}` }))).status).toBe(200);
    expect(served).toEqual(["POST /api/agents/newsAgent/generate"]);
  });

  it("a user in the request context that this provider did not authenticate is not taken for the caller", async () => {
    const { auth } = clerk({ rules: [ADMINS_ONLY] });
    const forged = { sub: "user_admin", identity: identityOf("admin") };
    const { app, served } = mastraApp(auth, fakeMastra(), { forged });
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    const response = await app.request(post("/api/agents/helper/generate", {}, { authorization: `Bearer ${member}` }));
    expect([response.status, await response.json()]).toEqual([403, DENIED]);
    expect(served).toEqual([]);
  });

  it("an unauthenticated request is Mastra's to answer (401), before any rule or body is read", async () => {
    const { auth } = clerk({ rules: [ADMINS_ONLY] });
    const { app } = mastraApp(auth);
    const response = await app.request(post("/api/v1/responses", "not json"));
    expect([response.status, await response.json()]).toEqual([401, { error: "Invalid or expired token" }]);
  });

  it("Mastra's server.apiPrefix differing from the provider's apiPrefix is 500 misconfigured (the rules would match nothing); equal is fine", async () => {
    const { auth, logger } = clerk({ rules: [ADMINS_ONLY] });
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    const wrong = await mastraApp(auth, fakeMastra("/mastra")).app.request(post("/mastra/agents/weatherAgent/generate", {}, { authorization: `Bearer ${member}` }));
    expect([wrong.status, await wrong.json()]).toMatchObject([500, { error: "misconfigured", variable: "apiPrefix" }]);
    expect(logger.events("config.invalid")[0]).toMatchObject({ level: "error", variable: "apiPrefix" });
    const right = clerk({ rules: [ADMINS_ONLY], apiPrefix: "/mastra" });
    const response = await mastraApp(right.auth, fakeMastra("/mastra/")).app.request(post("/mastra/agents/helper/generate", {}, { authorization: `Bearer ${member}` }));
    expect([response.status, await response.json()]).toEqual([403, DENIED]);
  });

  it("takes only this package's providers; one without rules passes every request through", async () => {
    expect(() => mastraRulesMiddleware({ authenticateToken: async () => null })).toThrowError(/mastraRulesMiddleware: takes a MastraAuthClerk or MastraAuthGateway/);
    const { auth } = clerk();
    const member = await mint(key, { sub: unique("user"), ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
    expect((await mastraApp(auth).app.request(post("/api/agents/helper/generate", {}, { authorization: `Bearer ${member}` }))).status).toBe(200);
  });
});
