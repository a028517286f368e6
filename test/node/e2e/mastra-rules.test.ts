// Issue 11's proof, end to end: the gateway bundled by wrangler in workerd in front of the real
// Mastra server (weatherAgent; travelAgent listing it as sub-agent `helper`; newsAgent, which
// delegates to nobody; a counting mock model) with MastraAuthGateway upstream. With the
// admins-only rule on weatherAgent, a member is refused on every spelling — including the ones only
// Mastra knows, learnt from its own agent list read with the gateway's service assertion — with
// zero model calls, an admin is served and a member still reaches newsAgent; with an `execute`
// limit of 2, a user's third call is 429 whichever route carries it.

process.env.MASTRA_TELEMETRY_DISABLED = "1";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MastraAuthGateway } from "../../../src/lib.js";
import { startStack, type MintOptions, type Stack } from "./support/stack.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };
const LLM = { id: "llm", key: "user", limit: 2, period: 60, actions: ["execute"] };
const SECRET = "mastra-rules-e2e-assertion-secret-0123456789";
const AUDIENCE = "https://mastra.internal";
const METRICS_TOKEN = "mastra-rules-e2e-metrics-token";

let stack: Stack;
let seq = 0;
const member = (): MintOptions => ({ sub: `user_member_${++seq}`, ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
const admin = (): MintOptions => ({ sub: `user_admin_${++seq}`, ttlSeconds: 600, org: { id: "org_acme", role: "admin" } });

beforeAll(async () => {
  stack = await startStack({
    upstream: { parentAgent: true, newsAgent: true, auth: new MastraAuthGateway({ secret: SECRET, audience: AUDIENCE, env: {} }) },
    durableObjects: { SPEND_COUNTER: { className: "SpendCounter", useSQLite: true } },
    vars: () => ({
      AUTH_RULES: JSON.stringify([ADMINS_ONLY]),
      RATE_LIMITS: JSON.stringify([LLM]),
      GATEWAY_ASSERTION_SECRET: SECRET,
      GATEWAY_ASSERTION_AUDIENCE: AUDIENCE,
      METRICS_TOKEN,
    }),
  });
});

afterAll(async () => {
  await stack?.close();
});

async function send(token: string, method: string, path: string, payload?: unknown): Promise<Response> {
  return fetch(`${stack.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(payload !== undefined ? { "content-type": "application/json" } : {}) },
    ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
  });
}

const ask = { messages: [{ role: "user", content: "What is the weather in Oslo?" }] };
const a2aSend = { jsonrpc: "2.0", id: 1, method: "message/send", params: { message: { kind: "message", role: "user", messageId: "m1", parts: [{ kind: "text", text: "Weather in Oslo?" }] } } };

/** The gateway's own reads of Mastra (its agent directory): no user's request, never with a user's token. */
const directoryRead = (r: { method: string; path: string; headers: Record<string, string> }) =>
  r.method === "GET" && !r.headers.authorization && (r.path === "/api/agents" || /^\/api\/\.well-known\/[^/]+\/agent-card\.json$/.test(r.path));
/** Users' requests that reached Mastra. */
const reachedMastra = () => stack.upstream.requests.filter((r) => !directoryRead(r)).length;

async function health(): Promise<Record<string, unknown>> {
  return (await fetch(`${stack.gateway.url}/healthz`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.json())) as Record<string, unknown>;
}

const DENIED = { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" };

describe("a rule about an agent, against real Mastra", () => {
  it("refuses a member on every spelling with zero model calls and nothing reaching Mastra", async () => {
    const token = await stack.token(member());
    const calls = stack.upstream.modelCalls();
    // The first request naming an agent loads the directory (a cold isolate); then count.
    expect((await send(token, "POST", "/api/agents/newsAgent/generate", ask)).status).toBe(200);
    const reached = reachedMastra();
    const modelCalls = stack.upstream.modelCalls();
    expect(modelCalls).toBeGreaterThan(calls);
    for (const [method, path, payload, learnt] of [
      ["POST", "/api/agents/weatherAgent/generate", ask, false],
      ["POST", "/api/agents/weather-agent/stream", ask, false],
      ["POST", "/api/agents/weatherAgent/generate/vnext", ask, false],
      ["POST", "/api/agents/weatherAgent/stream/vnext", ask, false],
      ["POST", "/api/agents/weatherAgent/stream-until-idle", ask, false],
      ["POST", "/api/agents/weatherAgent/network", ask, false],
      ["POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "Weather in Oslo?" }, false],
      ["POST", "/api/v1/responses", { agent_id: "weather-agent", input: "Weather in Oslo?" }, false],
      ["POST", "/api/a2a/weatherAgent", a2aSend, false],
      ["GET", "/api/.well-known/weatherAgent/agent-card.json", undefined, false],
      // The spellings only Mastra knows: weatherAgent as travelAgent's sub-agent `helper`…
      ["POST", "/api/agents/helper/generate", ask, true],
      ["POST", "/api/agents/helper/stream", ask, true],
      ["POST", "/api/a2a/helper", a2aSend, true],
      ["GET", "/api/.well-known/helper/agent-card.json", undefined, true],
      ["POST", "/api/v1/responses", { agent_id: "helper", input: "Weather in Oslo?" }, true],
      // …and the parent, which can run it, by id and by registry key.
      ["POST", "/api/agents/travel-agent/generate", ask, true],
      ["POST", "/api/agents/travelAgent/stream", ask, true],
      ["POST", "/api/agents/travelAgent/network", ask, true],
    ] as const) {
      const response = await send(token, method, path, payload);
      expect([method, path, response.status, await response.json()]).toEqual([method, path, 403, learnt ? { ...DENIED, agent: "weather-agent" } : DENIED]);
    }
    expect(stack.upstream.modelCalls()).toBe(modelCalls);
    expect(reachedMastra()).toBe(reached);
    const refusal = await stack.gateway.whenLogged((l) => l.event === "auth.forbidden" && l.path === "/api/agents/travelAgent/network");
    expect(refusal).toMatchObject({ rule: "admins-only", agent: "weather-agent", agentVia: "delegates:helper" });
  });

  it("learnt the spellings from Mastra's own agent list, read with the gateway's service assertion", async () => {
    const reads = stack.upstream.requests.filter(directoryRead);
    expect(reads.map((r) => r.path + r.query)).toContain("/api/agents?partial=true");
    expect(reads.every((r) => typeof r.headers["x-gateway-assertion"] === "string")).toBe(true);
    expect(await health()).toMatchObject({ status: "ok", agents: { state: "fresh", failing: false, agents: 3, unresolved: [], credential: "assertion", loadedFrom: "upstream" } });
  });

  it("serves an admin, by path, by the sub-agent key and by the agent named in the /v1/responses body", async () => {
    const calls = stack.upstream.modelCalls();
    // A new admin per call: the `llm` limit allows each user two.
    for (const path of ["/api/agents/weatherAgent/generate", "/api/agents/helper/generate", "/api/agents/travelAgent/generate"]) {
      const generated = await send(await stack.token(admin()), "POST", path, ask);
      expect([path, generated.status]).toEqual([path, 200]);
      expect(((await generated.json()) as { text: string }).text).toMatch(/^The weather in Oslo is/);
    }
    const responded = await send(await stack.token(admin()), "POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "Weather in Oslo?", stream: false });
    expect(responded.status).toBe(200);
    expect(stack.upstream.modelCalls()).toBeGreaterThan(calls);
  });

  it("a member still reaches the agent that cannot run weatherAgent", async () => {
    const token = await stack.token(member());
    const calls = stack.upstream.modelCalls();
    for (const path of ["/api/agents/newsAgent/generate", "/api/agents/news-agent/generate"]) {
      const response = await send(token, "POST", path, ask);
      expect([path, response.status]).toEqual([path, 200]);
    }
    expect(stack.upstream.modelCalls()).toBeGreaterThan(calls);
    const agents = await send(token, "GET", "/api/agents");
    expect(Object.keys((await agents.json()) as object).sort()).toEqual(["news-agent", "travel-agent", "weather-agent"]);
  });
});

describe("an execute limit, against real Mastra", () => {
  it.each([
    ["generate, /v1/responses, then A2A", ["/api/agents/newsAgent/generate", ask], ["/api/v1/responses", { agent_id: "newsAgent", input: "Weather?", stream: false }], ["/api/a2a/newsAgent", a2aSend]],
    ["/v1/responses, stream/vnext, then generate/vnext", ["/api/v1/responses", { agent_id: "newsAgent", input: "Weather?", stream: false }], ["/api/agents/news-agent/stream/vnext", ask], ["/api/agents/newsAgent/generate/vnext", ask]],
  ] as const)("a user's third call is 429: %s", async (_label, first, second, third) => {
    const token = await stack.token(member());
    for (const [path, payload] of [first, second]) {
      const response = await send(token, "POST", path, payload);
      expect([path, response.status]).toEqual([path, 200]);
      await response.arrayBuffer();
    }
    const calls = stack.upstream.modelCalls();
    const refused = await send(token, "POST", third[0], third[1]);
    expect([third[0], refused.status]).toEqual([third[0], 429]);
    expect(await refused.json()).toMatchObject({ error: "rate_limited", policy: "llm" });
    expect(stack.upstream.modelCalls()).toBe(calls);
  });
});
