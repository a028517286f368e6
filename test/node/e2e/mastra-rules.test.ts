// Issue 11's proof, end to end: the gateway bundled by wrangler in workerd in front of the real
// Mastra server (a parent agent with weatherAgent as sub-agent, a counting mock model). With the
// admins-only rule on weatherAgent, a member is refused on every spelling with zero model calls,
// an admin is served and a member still reaches the other agent; with an `execute` limit of 2, a
// user's third call is 429 whichever route carries it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type MintOptions, type Stack } from "./support/stack.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };
const LLM = { id: "llm", key: "user", limit: 2, period: 60, actions: ["execute"] };

let stack: Stack;
let seq = 0;
const member = (): MintOptions => ({ sub: `user_member_${++seq}`, ttlSeconds: 600, org: { id: "org_acme", role: "member" } });
const admin = (): MintOptions => ({ sub: `user_admin_${++seq}`, ttlSeconds: 600, org: { id: "org_acme", role: "admin" } });

beforeAll(async () => {
  stack = await startStack({
    upstream: { parentAgent: true },
    durableObjects: { SPEND_COUNTER: { className: "SpendCounter", useSQLite: true } },
    vars: () => ({ AUTH_RULES: JSON.stringify([ADMINS_ONLY]), RATE_LIMITS: JSON.stringify([LLM]) }),
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

describe("a rule about an agent, against real Mastra", () => {
  it("refuses a member on every spelling with zero model calls and nothing reaching Mastra", async () => {
    const token = await stack.token(member());
    const calls = stack.upstream.modelCalls();
    const reached = stack.upstream.requests.length;
    for (const [method, path, payload] of [
      ["POST", "/api/agents/weatherAgent/generate", ask],
      ["POST", "/api/agents/weather-agent/stream", ask],
      ["POST", "/api/agents/weatherAgent/generate/vnext", ask],
      ["POST", "/api/agents/weatherAgent/stream/vnext", ask],
      ["POST", "/api/agents/weatherAgent/stream-until-idle", ask],
      ["POST", "/api/agents/weatherAgent/network", ask],
      ["POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "Weather in Oslo?" }],
      ["POST", "/api/v1/responses", { agent_id: "weather-agent", input: "Weather in Oslo?" }],
      ["POST", "/api/a2a/weatherAgent", a2aSend],
      ["GET", "/api/.well-known/weatherAgent/agent-card.json", undefined],
    ] as const) {
      const response = await send(token, method, path, payload);
      expect([method, path, response.status, await response.json()]).toEqual([method, path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" }]);
    }
    expect(stack.upstream.modelCalls()).toBe(calls);
    expect(stack.upstream.requests.length).toBe(reached);
  });

  it("serves an admin, by path and by the agent named in the /v1/responses body", async () => {
    const token = await stack.token(admin());
    const calls = stack.upstream.modelCalls();
    const generated = await send(token, "POST", "/api/agents/weatherAgent/generate", ask);
    expect(generated.status).toBe(200);
    expect(((await generated.json()) as { text: string }).text).toMatch(/^The weather in Oslo is/);
    const responded = await send(token, "POST", "/api/v1/responses", { agent_id: "weatherAgent", input: "Weather in Oslo?", stream: false });
    expect(responded.status).toBe(200);
    expect(stack.upstream.modelCalls()).toBeGreaterThan(calls);
  });

  it("a member still reaches the other agent", async () => {
    const token = await stack.token(member());
    const calls = stack.upstream.modelCalls();
    const response = await send(token, "POST", "/api/agents/travelAgent/generate", ask);
    expect(response.status).toBe(200);
    expect(stack.upstream.modelCalls()).toBeGreaterThan(calls);
    const agents = await send(token, "GET", "/api/agents");
    expect(Object.keys((await agents.json()) as object).sort()).toEqual(["travel-agent", "weather-agent"]);
  });
});

describe("an execute limit, against real Mastra", () => {
  it.each([
    ["generate, /v1/responses, then A2A", ["/api/agents/travelAgent/generate", ask], ["/api/v1/responses", { agent_id: "travelAgent", input: "Weather?", stream: false }], ["/api/a2a/travelAgent", a2aSend]],
    ["/v1/responses, stream/vnext, then generate/vnext", ["/api/v1/responses", { agent_id: "travelAgent", input: "Weather?", stream: false }], ["/api/agents/travel-agent/stream/vnext", ask], ["/api/agents/travelAgent/generate/vnext", ask]],
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
