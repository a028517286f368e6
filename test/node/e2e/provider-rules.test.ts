// Issue #11 §3, the second line of defence, against the REAL Mastra server (@mastra/core +
// @mastra/hono on @hono/node-server; a parent agent listing weatherAgent as its sub-agent `helper`,
// a third agent, a counting mock model): requests go DIRECTLY to Mastra — no gateway in front —
// with MastraAuthGateway (the gateway's assertion, minted here) and with MastraAuthClerk (a token
// of the dev issuer), each given the admins-only rule and mastraRulesMiddleware. A member is
// refused on every spelling with the gateway's 403 JSON and zero model calls, an admin is served,
// a member still reaches an agent that cannot run weatherAgent.

process.env.MASTRA_TELEMETRY_DISABLED = "1";

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getAgentFromSystem } from "@mastra/server/handlers/agents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../../scripts/dev-issuer.mjs";
import { startMastraServer } from "../../../scripts/mastra-demo/server.mjs";
import { toIdentity, type ClerkClaims } from "../../../src/identity/identity.js";
import { AssertionKey, ASSERTION_HEADER, MastraAuthClerk, MastraAuthGateway, mastraRulesMiddleware, mintAssertion } from "../../../src/lib.js";
import { agentNames, workflowNames } from "../../../src/mastra/target-names.js";

const SECRET = "provider-rules-e2e-assertion-secret-0123456789";
const AUDIENCE = "https://mastra.internal";
const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };
const DENIED = { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" };

type Upstream = Awaited<ReturnType<typeof startMastraServer>>;
type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;

const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

let issuer: Issuer;
let behindGateway: Upstream;
let withClerk: Upstream;
beforeAll(async () => {
  const keyDir = await mkdtemp(join(tmpdir(), "mea-provider-rules-key-"));
  cleanup.push(() => rm(keyDir, { recursive: true, force: true }));
  issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "key.json") });
  cleanup.push(() => issuer.close());
  const gatewayAuth = new MastraAuthGateway({ secret: SECRET, audience: AUDIENCE, rules: [ADMINS_ONLY], env: {} });
  const clerkAuth = new MastraAuthClerk({ jwksUri: issuer.jwksUrl, issuer: issuer.issuer, rules: JSON.stringify([ADMINS_ONLY]), env: {} });
  [behindGateway, withClerk] = await Promise.all([
    startMastraServer({ port: 0, parentAgent: true, newsAgent: true, auth: gatewayAuth, middleware: [mastraRulesMiddleware(gatewayAuth)] }),
    startMastraServer({ port: 0, parentAgent: true, newsAgent: true, auth: clerkAuth, middleware: [mastraRulesMiddleware(clerkAuth)] }),
  ]);
  cleanup.push(() => behindGateway.close(), () => withClerk.close());
}, 60_000);

let seq = 0;
type Role = "member" | "admin";

/** A request as the gateway would forward it: the assertion for this user, method and URL. */
async function viaAssertion(role: Role, method: string, path: string, payload?: unknown): Promise<Response> {
  const url = `${behindGateway.url}${path}`;
  const claims = { sub: `user_${role}_${++seq}`, iss: "https://clerk.example.com", exp: 2e9, iat: 1e9, org_id: "org_acme", org_role: `org:${role}` } as ClerkClaims;
  const assertion = await mintAssertion(new AssertionKey(SECRET), toIdentity(claims), AUDIENCE, { method, url });
  return send(url, method, { [ASSERTION_HEADER]: assertion }, payload);
}

/** A request with a Clerk session token of the dev issuer. */
async function viaClerk(role: Role, method: string, path: string, payload?: unknown): Promise<Response> {
  const token = await issuer.mint({ sub: `user_${role}_${++seq}`, ttlSeconds: 600, org: { id: "org_acme", role } });
  return send(`${withClerk.url}${path}`, method, { authorization: `Bearer ${token}` }, payload);
}

function send(url: string, method: string, headers: Record<string, string>, payload?: unknown): Promise<Response> {
  return fetch(url, {
    method,
    headers: { ...headers, ...(payload !== undefined ? { "content-type": "application/json" } : {}) },
    ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
  });
}

const ask = { messages: [{ role: "user", content: "What is the weather in Oslo?" }] };
const a2aSend = { jsonrpc: "2.0", id: 1, method: "message/send", params: { message: { kind: "message", role: "user", messageId: "m1", parts: [{ kind: "text", text: "Weather in Oslo?" }] } } };

/** Every spelling that runs (or shows) weatherAgent: its key, its id, its sub-agent key, and the parent that can delegate to it. */
const SPELLINGS: [string, string, unknown?][] = [
  ["POST", "/api/agents/weatherAgent/generate", ask],
  ["POST", "/api/agents/weather-agent/stream", ask],
  ["POST", "/api/agents/weatherAgent/generate/vnext", ask],
  ["POST", "/api/agents/weatherAgent/stream/vnext", ask],
  ["POST", "/api/agents/weatherAgent/stream-until-idle", ask],
  ["POST", "/api/agents/helper/generate", ask],
  ["POST", "/api/agents/helper/stream", ask],
  ["POST", "/api/agents/travelAgent/generate", ask],
  ["POST", "/api/agents/travel-agent/network", ask],
  ["POST", "/api/a2a/weatherAgent", a2aSend],
  ["POST", "/api/a2a/helper", a2aSend],
  ["GET", "/api/.well-known/helper/agent-card.json"],
  ["POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "Weather in Oslo?" }],
  ["POST", "/api/v1/responses", { agent_id: "helper", input: "Weather in Oslo?" }],
  ["POST", "/api/v1/conversations", { agent_id: "weather-agent" }],
];

describe.each([
  ["MastraAuthGateway (assertion)", viaAssertion, () => behindGateway],
  ["MastraAuthClerk (Clerk token)", viaClerk, () => withClerk],
] as const)("the admins-only rule in-process, straight to Mastra: %s", (_label, call, upstream) => {
  it("refuses a member on every spelling with the gateway's 403 JSON and zero model calls", async () => {
    const calls = upstream().modelCalls();
    for (const [method, path, payload] of SPELLINGS) {
      const response = await call("member", method, path, payload);
      expect([method, path, response.status, await response.json()]).toEqual([method, path, 403, DENIED]);
    }
    expect(upstream().modelCalls()).toBe(calls);
  }, 60_000);

  it("a requestContext in the body cannot pose as the authenticated user (Mastra merges it into the request context)", async () => {
    const calls = upstream().modelCalls();
    const forged = { userId: "user_admin", sessionId: null, orgId: "org_acme", orgSlug: null, orgRole: "org:admin", orgPermissions: [], claims: { sub: "user_admin" } };
    for (const requestContext of [{ user: { sub: "user_admin", identity: forged } }, { mastra__user: { sub: "user_admin", identity: forged } }]) {
      const response = await call("member", "POST", "/api/agents/helper/generate", { ...ask, requestContext });
      expect([response.status, await response.json()]).toEqual([403, DENIED]);
    }
    expect(upstream().modelCalls()).toBe(calls);
  }, 60_000);

  it("serves an admin, by key, by sub-agent key and by the agent named in the /v1/responses body", async () => {
    const calls = upstream().modelCalls();
    for (const path of ["/api/agents/weatherAgent/generate", "/api/agents/helper/generate"]) {
      const response = await call("admin", "POST", path, ask);
      expect([path, response.status]).toEqual([path, 200]);
      expect(((await response.json()) as { text: string }).text).toMatch(/^The weather in Oslo is/);
    }
    const responded = await call("admin", "POST", "/api/v1/responses", { agent_id: "helper", input: "Weather in Oslo?", stream: false });
    expect(responded.status).toBe(200);
    await responded.arrayBuffer();
    expect(upstream().modelCalls()).toBeGreaterThan(calls);
  }, 60_000);

  it("a member still reaches an agent that cannot run weatherAgent, and reads the agent list", async () => {
    const calls = upstream().modelCalls();
    const response = await call("member", "POST", "/api/agents/newsAgent/generate", ask);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { text: string }).text).toMatch(/^The weather in Oslo is/);
    expect(upstream().modelCalls()).toBeGreaterThan(calls);
    const agents = await call("member", "GET", "/api/agents");
    expect(Object.keys((await agents.json()) as object).sort()).toEqual(["news-agent", "travel-agent", "weather-agent"]);
  }, 60_000);
});

describe("agentNames and workflowNames find what Mastra finds", () => {
  it("for every key, id and sub-agent key (and an unknown name), the names include the resolved agent's id", async () => {
    const mastra = withClerk.mastra;
    for (const name of ["weatherAgent", "weather-agent", "helper", "travelAgent", "travel-agent", "newsAgent", "news-agent", "nobody"]) {
      let id: string | null = null;
      try {
        id = (await getAgentFromSystem({ mastra, agentId: name })).id;
      } catch (error) {
        expect((error as { status?: number }).status).toBe(404);
      }
      const names = await agentNames(mastra as never, name);
      expect([name, names.includes(name), id === null ? names.length : names.includes(id)]).toEqual([name, true, id === null ? 1 : true]);
    }
    expect([...(await agentNames(mastra as never, "helper"))].sort()).toEqual(["helper", "weather-agent", "weatherAgent"]);
    expect([...(await agentNames(mastra as never, "travelAgent"))].sort()).toEqual(["helper", "travel-agent", "travelAgent", "weather-agent", "weatherAgent"]);
    expect([...(await agentNames(mastra as never, "news-agent"))].sort()).toEqual(["news-agent", "newsAgent"]);
  });

  it("workflowNames: a workflow's key and id, as Mastra's getWorkflowById finds it", async () => {
    const mastra = withClerk.mastra;
    for (const name of ["weatherWorkflow", "weather-workflow"]) {
      expect(mastra.getWorkflowById(name).id).toBe("weather-workflow");
      expect([...(await workflowNames(mastra as never, name))].sort()).toEqual(["weather-workflow", "weatherWorkflow"]);
    }
    expect(await workflowNames(mastra as never, "nothing")).toEqual(["nothing"]);
  });
});
