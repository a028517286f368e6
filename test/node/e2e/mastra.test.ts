// End to end: the real @mastra/client-js → the gateway bundled by wrangler and running in workerd
// → the real Mastra server (only its model is mocked). Tokens come from the dev issuer, whose JWKS
// the gateway fetches over HTTP like it would Clerk's.

import { MastraClient } from "@mastra/client-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeWeather, lookupWeather } from "../../../scripts/mastra-demo/server.mjs";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import { startStack, type MintOptions, type Stack, type Upstream } from "./support/stack.js";

const ADMINS_ONLY = {
  id: "admins-only",
  // Mastra resolves an agent by its registry key and by its id: a rule must name both.
  path: ["/api/agents/weatherAgent/generate", "/api/agents/weather-agent/generate"],
  require: { orgRoles: ["admin"] },
};

const ADMIN: MintOptions = {
  sub: "user_admin",
  sid: "sess_admin",
  ttlSeconds: 600,
  email: "ada@example.test",
  org: { id: "org_acme", slug: "acme", role: "admin", permissions: ["org:agents:run", "org:agents:read"] },
};
const MEMBER: MintOptions = { sub: "user_member", ttlSeconds: 600, org: { id: "org_acme", role: "member" } };

let stack: Stack;
let upstream: Upstream;
let gatewayUrl: string;
/** Every HTTP attempt any MastraClient made, so a retry cannot hide. */
const attempts: Array<{ method: string; url: string; status: number }> = [];

const countingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const response = await fetch(request);
  attempts.push({ method: request.method, url: new URL(request.url).pathname, status: response.status });
  return response;
};

function clientFor(token: string | null, headers: Record<string, string> = {}): MastraClient {
  return new MastraClient({
    baseUrl: gatewayUrl,
    headers: token ? { authorization: `Bearer ${token}`, ...headers } : headers,
    fetch: countingFetch,
  });
}

/** What reached the upstream since `mark`, without headers. */
function reached(mark: number) {
  return upstream.requests.slice(mark).map(({ method, path, query }) => ({ method, path, query }));
}

function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

beforeAll(async () => {
  stack = await startStack({
    vars: () => ({
      PUBLIC_PATHS: "/api,/api/auth/*",
      AUTH_RULES: JSON.stringify([ADMINS_ONLY]),
      CORS_ORIGINS: "http://127.0.0.1:5173",
      IDENTITY_HEADERS: JSON.stringify({ "x-user-email": "email" }),
    }),
  });
  upstream = stack.upstream;
  gatewayUrl = stack.gateway.url;
});

afterEach(() => upstream?.releaseStreams());

afterAll(async () => {
  await stack?.close();
});

describe("MastraClient through the gateway", () => {
  it("lists agents with a valid token", async () => {
    const mark = upstream.requests.length;
    const agents = await clientFor(await stack.token(ADMIN)).listAgents();
    expect(Object.keys(agents)).toEqual(["weather-agent"]);
    expect(agents["weather-agent"]).toMatchObject({ name: "Weather Agent", modelId: "weather-mock" });
    expect(reached(mark)).toEqual([{ method: "GET", path: "/api/agents", query: "" }]);
  });

  it("generate: the tool's result is in the answer", async () => {
    const mark = upstream.requests.length;
    const result = await clientFor(await stack.token(ADMIN)).getAgent("weatherAgent").generate("What is the weather in Paris?");
    const weather = lookupWeather("Paris");
    expect(result.toolResults.map((r: { payload: unknown }) => r.payload)).toEqual([
      expect.objectContaining({ toolName: "weatherTool", args: { location: "Paris" }, result: weather }),
    ]);
    expect(result.text).toBe(describeWeather(weather));
    expect(reached(mark)).toEqual([{ method: "POST", path: "/api/agents/weatherAgent/generate", query: "" }]);
  });

  it("stream: the first chunk reaches the client while the model is still parked", async () => {
    upstream.holdStreams();
    const response = await clientFor(await stack.token(ADMIN)).getAgent("weatherAgent").stream("What is the weather in Madrid?");
    let released = false;
    const texts: Array<{ text: string; afterRelease: boolean }> = [];
    const types: string[] = [];
    let firstText!: () => void;
    const firstTextSeen = new Promise<void>((resolve) => (firstText = resolve));
    const done = response.processDataStream({
      onChunk: async (chunk: any) => {
        types.push(chunk.type);
        if (chunk.type === "text-delta") {
          texts.push({ text: chunk.payload.text, afterRelease: released });
          firstText();
        }
      },
    });

    // A gateway that buffered the body would hold this chunk until the model finished, which it
    // cannot do before releaseStreams(): the test would never get past this line.
    await Promise.all([firstTextSeen, upstream.whenStreamsParked(1)]);
    expect(texts).toEqual([{ text: "The weather in Madrid", afterRelease: false }]);
    expect(types).not.toContain("finish");

    released = true;
    upstream.releaseStreams();
    await done;
    expect(texts.map((t) => t.text).join("")).toBe(describeWeather(lookupWeather("Madrid")));
    expect(texts.slice(1).every((t) => t.afterRelease)).toBe(true);
    expect(types.at(-1)).toBe("finish");
  });

  it("workflow: a run streamed through MastraClient yields both steps", async () => {
    const client = clientFor(await stack.token(ADMIN));
    const run = await client.getWorkflow("weatherWorkflow").createRun();
    const mark = upstream.requests.length;
    const events: any[] = [];
    for await (const event of (await run.stream({ inputData: { location: "Berlin" } })) as unknown as AsyncIterable<any>) events.push(event);
    expect(events.map((e) => [e.type, e.payload?.id])).toEqual([
      ["workflow-start", undefined],
      ["workflow-step-start", "fetch-weather"],
      ["workflow-step-result", "fetch-weather"],
      ["workflow-step-start", "summarize"],
      ["workflow-step-result", "summarize"],
      ["workflow-finish", undefined],
    ]);
    expect(events.at(-1).payload.finalWorkflowResult).toEqual({ summary: describeWeather(lookupWeather("Berlin")) });
    expect(reached(mark)).toEqual([{ method: "POST", path: "/api/workflows/weatherWorkflow/stream", query: `?runId=${run.runId}` }]);
  });

  it("workflow: the \\x1E record stream arrives intact on the wire", async () => {
    const auth = { authorization: `Bearer ${await stack.token(ADMIN)}` };
    const created = await fetch(`${gatewayUrl}/api/workflows/weatherWorkflow/create-run`, post({}, auth));
    expect(created.status).toBe(200);
    const { runId } = (await created.json()) as { runId: string };
    const res = await fetch(`${gatewayUrl}/api/workflows/weatherWorkflow/stream?runId=${runId}`, post({ inputData: { location: "Cairo" } }, auth));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain");
    // Never gzipped by the edge: compressed, the records would only arrive when the run ends.
    expect(res.headers.get("content-encoding") ?? "identity").toBe("identity");
    const body = await res.text();
    expect(body.endsWith("\x1E")).toBe(true);
    const records = body.split("\x1E").slice(0, -1).map((r) => JSON.parse(r));
    expect(records.length).toBe(6);
    expect(records.every((r) => r.runId === runId)).toBe(true);
    expect(records.at(-1)).toMatchObject({
      type: "workflow-finish",
      payload: { finalWorkflowResult: { summary: describeWeather(lookupWeather("Cairo")) } },
    });
  });
});

describe("authentication and rules", () => {
  it("401 without a token: the upstream never sees it and MastraClient does not retry", async () => {
    const mark = upstream.requests.length;
    const tried = attempts.length;
    const error: any = await clientFor(null).listAgents().catch((e) => e);
    expect(error).toMatchObject({ status: 401, body: { error: "unauthorized", reason: "session-token-missing" } });
    expect(attempts.slice(tried)).toEqual([{ method: "GET", url: "/api/agents", status: 401 }]);
    expect(reached(mark)).toEqual([]);
  });

  it("401 with a token from another key: not forwarded either", async () => {
    const mark = upstream.requests.length;
    const forged = (await stack.token(ADMIN)).replace(/\.[^.]+$/, ".AAAA");
    const res = await fetch(`${gatewayUrl}/api/agents`, { headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: "unauthorized", reason: "token-invalid-signature" });
    expect(reached(mark)).toEqual([]);
  });

  it.each(["weatherAgent", "weather-agent"])("403 for a member on %s (rule admins-only), 200 for an admin", async (agent) => {
    const mark = upstream.requests.length;
    const tried = attempts.length;
    const denied: any = await clientFor(await stack.token(MEMBER)).getAgent(agent).generate("What is the weather in Oslo?").catch((e) => e);
    expect(denied).toMatchObject({ status: 403, body: { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" } });
    expect(attempts.slice(tried).map((a) => a.status)).toEqual([403]);
    expect(reached(mark)).toEqual([]);

    const allowed = await clientFor(await stack.token(ADMIN)).getAgent(agent).generate("What is the weather in Oslo?");
    expect(allowed.text).toBe(describeWeather(lookupWeather("Oslo")));
    expect(reached(mark)).toEqual([{ method: "POST", path: `/api/agents/${agent}/generate`, query: "" }]);
  });

  it("the rule covers only what it names: a member may still stream and list", async () => {
    const member = clientFor(await stack.token(MEMBER));
    await expect(member.listAgents()).resolves.toHaveProperty("weather-agent");
    const response = await member.getAgent("weather-agent").stream("What is the weather in Rome?");
    let text = "";
    await response.processDataStream({ onChunk: async (c: any) => void (c.type === "text-delta" && (text += c.payload.text)) });
    expect(text).toBe(describeWeather(lookupWeather("Rome")));
  });

  it("a public path reaches the upstream without a token, and without any identity", async () => {
    const mark = upstream.requests.length;
    const root = await fetch(`${gatewayUrl}/api`, { headers: { "x-clerk-user-id": "user_admin" } });
    // Mastra itself has no route at /api; what matters is that the gateway let it through.
    expect(root.status).toBe(404);
    const caps = await fetch(`${gatewayUrl}/api/auth/capabilities`);
    expect(caps.status).toBe(200);
    const seen = upstream.requests.slice(mark);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api", "GET /api/auth/capabilities"]);
    for (const r of seen) expect(Object.keys(r.headers).filter((h) => h.startsWith("x-clerk-"))).toEqual([]);
  });
});

describe("headers on the upstream request", () => {
  const SPOOFED = {
    "X-Clerk-User-Id": "user_admin_spoofed",
    x_clerk_user_id: "user_spoofed_underscore",
    "x-clerk-anything": "spoofed",
    "X-Clerk-Org-Role": "org:owner",
    "X-Forwarded-For": "203.0.113.9",
    Forwarded: "for=203.0.113.9;proto=https",
    "x-real-ip": "203.0.113.9",
    "x-user-email": "spoofed@example.test",
    "x-passthrough": "kept",
  };

  it("identity comes from the verified token; everything a client could spoof is dropped", async () => {
    const mark = upstream.requests.length;
    const client = clientFor(await stack.token({ ...ADMIN, sid: "sess_ident" }), SPOOFED);
    await client.listAgents();
    const [seen] = upstream.requests.slice(mark);
    const h = seen!.headers;
    expect(h["x-clerk-user-id"]).toBe("user_admin");
    expect(h["x-clerk-session-id"]).toBe("sess_ident");
    expect(h["x-clerk-org-id"]).toBe("org_acme");
    expect(h["x-clerk-org-role"]).toBe("org:admin");
    expect(h["x-clerk-org-permissions"]).toBe("org:agents:run,org:agents:read");
    expect(h["x-user-email"]).toBe("ada@example.test");
    expect(h["x_clerk_user_id"]).toBeUndefined();
    expect(h["x-clerk-anything"]).toBeUndefined();
    expect(h["forwarded"]).toBeUndefined();
    expect(h["x-real-ip"]).toBeUndefined();
    // The gateway writes its own X-Forwarded-For (the edge's view of the client), never the client's.
    expect(h["x-forwarded-for"] ?? "").not.toContain("203.0.113.9");
    expect(h["x-forwarded-host"]).toBe(new URL(gatewayUrl).host);
    expect(h["x-forwarded-proto"]).toBe("http");
    // Ordinary headers and the credential itself pass (FORWARD_AUTHORIZATION defaults to true).
    expect(h["x-passthrough"]).toBe("kept");
    expect(h["authorization"]).toMatch(/^Bearer ey/);
  });

  it("claims the token lacks stay absent upstream, whatever the client sends", async () => {
    const mark = upstream.requests.length;
    const spoofed = { "x-clerk-org-permissions": "org:agents:run", "X-User-Email": "ada@example.test", x_user_email: "ada@example.test" };
    await clientFor(await stack.token(MEMBER), spoofed).listAgents();
    const h = upstream.requests[mark]!.headers;
    expect(h["x-clerk-user-id"]).toBe("user_member");
    expect(h["x-clerk-org-role"]).toBe("org:member");
    expect(h["x-clerk-org-permissions"]).toBeUndefined();
    // A configured identity header is reserved too: with no email claim, nobody may supply one.
    expect(h["x-user-email"]).toBeUndefined();
    expect(h["x_user_email"]).toBeUndefined();
  });

  describe("FORWARD_AUTHORIZATION=false", () => {
    let plain: RunningGateway;
    beforeAll(async () => {
      plain = await startGateway({
        vars: {
          CLERK_ISSUER: stack.issuer.issuer,
          CLERK_JWKS_URI: stack.issuer.jwksUrl,
          MASTRA_URL: upstream.url,
          FORWARD_AUTHORIZATION: "false",
          LOG_LEVEL: "warn",
        },
      });
    });
    afterAll(async () => {
      await plain?.close();
    });

    it("removes Authorization and the __session cookie, keeps the other cookies", async () => {
      const token = await stack.token(ADMIN);
      const mark = upstream.requests.length;
      const byHeader = await fetch(`${plain.url}/api/agents`, { headers: { authorization: `Bearer ${token}`, cookie: "theme=dark; __session=" + token } });
      expect(byHeader.status).toBe(200);
      const byCookie = await fetch(`${plain.url}/api/agents`, { headers: { cookie: `lang=en; __client_uat=1; __session=${token}; theme=dark` } });
      expect(byCookie.status).toBe(200);
      const onlyCookie = await fetch(`${plain.url}/api/agents`, { headers: { cookie: `__client_uat=1; __session=${token}` } });
      expect(onlyCookie.status).toBe(200);

      const [a, b, c] = upstream.requests.slice(mark);
      expect(a!.headers.authorization).toBeUndefined();
      expect(a!.headers.cookie).toBe("theme=dark");
      expect(b!.headers.authorization).toBeUndefined();
      // __client_uat is Clerk's sign-in marker, not a credential: it stays.
      expect(b!.headers.cookie).toBe("lang=en; __client_uat=1; theme=dark");
      expect(c!.headers.cookie).toBe("__client_uat=1");
      // The identity is still forwarded: the upstream trusts the gateway, not the credential.
      for (const r of [a, b, c]) expect(r!.headers["x-clerk-user-id"]).toBe("user_admin");
      expect(JSON.stringify([a, b, c])).not.toContain(token.split(".")[2]);
    });
  });
});
