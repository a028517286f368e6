// The demo upstream is a real Mastra server (only the model is mocked), driven here
// by the real @mastra/client-js so the gateway is later tested against the wire
// protocol Mastra actually speaks, not a reimplementation of it.
//
// HTTP endpoints used by MastraClient (@mastra/client-js 1.47.0, default apiPrefix
// "/api"; each one is asserted below through the upstream's request log):
//   client.listAgents()                        GET  /api/agents
//   client.getAgent(id).details()              GET  /api/agents/:agentId
//   client.getAgent(id).generate(...)          POST /api/agents/:agentId/generate         -> JSON
//   client.getAgent(id).stream(...)            POST /api/agents/:agentId/stream           -> SSE
//   client.listWorkflows()                     GET  /api/workflows
//   client.getWorkflow(id).createRun()         POST /api/workflows/:workflowId/create-run -> {"runId"}
//   run.start({ inputData })                   POST /api/workflows/:workflowId/start?runId=...        -> JSON ack
//   run.startAsync({ inputData })              POST /api/workflows/:workflowId/start-async?runId=...  -> JSON result
//   run.stream({ inputData })                  POST /api/workflows/:workflowId/stream?runId=...       -> \x1E records
//   run.observe() (not exercised: it only replays runs that were started with stream())
//                                              POST /api/workflows/:workflowId/observe?runId=...      -> \x1E records
// :agentId / :workflowId accept the registry key (weatherAgent) or the id (weather-agent).
//
// Wire formats:
//   agent stream:    text/event-stream, `data: {json}\n\n` per chunk, ended by `data: [DONE]\n\n`
//   workflow stream: text/plain, `{json}\x1E` per record (ASCII record separator, also after the last)
//
// The client retries network errors and 5xx (3 retries, 100ms doubling backoff),
// never 4xx: a gateway that answers 401/403 is hit once per call.

import net from "node:net";
import { MastraClient } from "@mastra/client-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeWeather, lookupWeather, startMastraServer } from "../../scripts/mastra-demo/server.mjs";

type Upstream = Awaited<ReturnType<typeof startMastraServer>>;
type RecordedRequest = Upstream["requests"][number];

// Every socket this process opens goes through Socket#connect, with the hostname
// still unresolved; recording them proves Mastra made no call off this machine.
const connectTargets: string[] = [];
const originalConnect = net.Socket.prototype.connect;
function recordConnect(this: net.Socket, ...args: unknown[]) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first && typeof first === "object") {
    const o = first as { host?: string; port?: number; path?: string };
    connectTargets.push(o.path ?? `${o.host ?? "localhost"}:${o.port}`);
  } else {
    connectTargets.push(`${typeof args[1] === "string" ? args[1] : "localhost"}:${String(first)}`);
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
}

const LOOPBACK = /^(127\.0\.0\.1|localhost|::1|\[::1\]):\d+$/;

let upstream: Upstream;
let client: MastraClient;

function since(mark: number): Array<Pick<RecordedRequest, "method" | "path" | "query">> {
  return upstream.requests.slice(mark).map(({ method, path, query }) => ({ method, path, query }));
}

function json(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

beforeAll(async () => {
  net.Socket.prototype.connect = recordConnect as typeof net.Socket.prototype.connect;
  upstream = await startMastraServer({ port: 0 });
  client = new MastraClient({ baseUrl: upstream.url, headers: { "x-clerk-user-id": "user_demo" } });
});

afterEach(() => {
  // A failed hold-test must not leave later streams parked.
  upstream.releaseStreams();
});

afterAll(async () => {
  await upstream?.close();
  net.Socket.prototype.connect = originalConnect;
  expect(connectTargets.length).toBeGreaterThan(0);
  expect(connectTargets.filter((t) => !LOOPBACK.test(t))).toEqual([]);
});

describe("demo upstream via MastraClient", () => {
  it("binds to loopback on an ephemeral port", () => {
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}`);
    expect(upstream.port).toBeGreaterThan(0);
  });

  it("lists the weather agent, keyed by its id", async () => {
    const mark = upstream.requests.length;
    const agents = await client.listAgents();
    expect(Object.keys(agents)).toEqual(["weather-agent"]);
    expect(agents["weather-agent"]).toMatchObject({ name: "Weather Agent", provider: "mastra-demo", modelId: "weather-mock" });
    expect(Object.keys(agents["weather-agent"]!.tools)).toEqual(["weatherTool"]);
    expect(since(mark)).toEqual([{ method: "GET", path: "/api/agents", query: "" }]);
  });

  it("records the headers that reached it", async () => {
    const mark = upstream.requests.length;
    await client.getAgent("weatherAgent").details();
    const [req] = upstream.requests.slice(mark);
    expect(req).toMatchObject({ method: "GET", path: "/api/agents/weatherAgent" });
    expect(req!.headers["x-clerk-user-id"]).toBe("user_demo");
  });

  it("resolves the agent by id as well as by registry key", async () => {
    const mark = upstream.requests.length;
    const details = await client.getAgent("weather-agent").details();
    expect(details).toMatchObject({ name: "Weather Agent", modelId: "weather-mock" });
    expect(since(mark)).toEqual([{ method: "GET", path: "/api/agents/weather-agent", query: "" }]);

    const result = await client.getAgent("weather-agent").generate("What is the weather in Lisbon?");
    expect(result.text).toBe(describeWeather(lookupWeather("Lisbon")));
  });

  it("generate runs the tool and answers with its result", async () => {
    const mark = upstream.requests.length;
    const result = await client.getAgent("weatherAgent").generate("What is the weather in Paris?");
    const weather = lookupWeather("Paris");
    expect(result.toolResults.map((r: { payload: unknown }) => r.payload)).toEqual([
      expect.objectContaining({ toolName: "weatherTool", args: { location: "Paris" }, result: weather }),
    ]);
    expect(result.text).toBe(describeWeather(weather));
    expect(result.text).toContain(`${weather.temperatureC}°C`);
    expect(since(mark)).toEqual([{ method: "POST", path: "/api/agents/weatherAgent/generate", query: "" }]);
  });

  it("stream delivers tool call, tool result and text chunks", async () => {
    const mark = upstream.requests.length;
    const response = await client.getAgent("weatherAgent").stream("What is the weather in Oslo?");
    const chunks: Array<{ type: string; payload: any }> = [];
    await response.processDataStream({ onChunk: async (chunk) => void chunks.push(chunk as any) });

    const types = chunks.map((c) => c.type);
    expect(types[0]).toBe("start");
    expect(types.at(-1)).toBe("finish");
    expect(types.indexOf("tool-call")).toBeLessThan(types.indexOf("tool-result"));
    expect(types.indexOf("tool-result")).toBeLessThan(types.indexOf("text-delta"));
    const weather = lookupWeather("Oslo");
    expect(chunks.find((c) => c.type === "tool-result")!.payload.result).toEqual(weather);
    const text = chunks.filter((c) => c.type === "text-delta").map((c) => c.payload.text).join("");
    expect(text).toBe(describeWeather(weather));
    expect(since(mark)).toEqual([{ method: "POST", path: "/api/agents/weatherAgent/stream", query: "" }]);
  });

  it("holdStreams parks the model after its first text chunk until releaseStreams", async () => {
    upstream.holdStreams();
    const response = await client.getAgent("weatherAgent").stream("What is the weather in Madrid?");
    const seen: string[] = [];
    const texts: string[] = [];
    let firstText!: () => void;
    const firstTextSeen = new Promise<void>((resolve) => (firstText = resolve));
    let settled = false;
    const done = response
      .processDataStream({
        onChunk: async (chunk: any) => {
          seen.push(chunk.type);
          if (chunk.type === "text-delta") {
            texts.push(chunk.payload.text);
            firstText();
          }
        },
      })
      .finally(() => (settled = true));

    await Promise.all([firstTextSeen, upstream.whenStreamsParked(1)]);
    // The model is parked, so nothing after the first delta can have been produced.
    expect(texts).toEqual(["The weather in Madrid"]);
    expect(seen).not.toContain("text-end");
    expect(seen).not.toContain("finish");
    expect(settled).toBe(false);

    upstream.releaseStreams();
    await done;
    expect(texts.join("")).toBe(describeWeather(lookupWeather("Madrid")));
    expect(seen.at(-1)).toBe("finish");
  });

  it("a client that disconnects mid-stream aborts the parked model stream", async () => {
    upstream.holdStreams();
    const disconnect = new AbortController();
    const res = await fetch(`${upstream.url}/api/agents/weatherAgent/stream`, {
      ...json({ messages: "What is the weather in Vienna?" }),
      signal: disconnect.signal,
    });
    expect(res.status).toBe(200);
    await upstream.whenStreamsParked(1);
    disconnect.abort();
    await upstream.whenParkedStreamsAborted(1);
  });

  it("agent stream is SSE on the wire", async () => {
    const res = await fetch(`${upstream.url}/api/agents/weatherAgent/stream`, json({ messages: "What is the weather in Rome?" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const body = await res.text();
    expect(body.endsWith("\n\ndata: [DONE]\n\n")).toBe(true);
    const events = body.split("\n\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)));
    expect(chunks[0].type).toBe("start");
    expect(chunks.at(-1).type).toBe("finish");
    const text = chunks.filter((c) => c.type === "text-delta").map((c) => c.payload.text).join("");
    expect(text).toBe(describeWeather(lookupWeather("Rome")));
  });

  it("lists the workflow", async () => {
    const mark = upstream.requests.length;
    const workflows = await client.listWorkflows();
    expect(Object.keys(workflows)).toEqual(["weatherWorkflow"]);
    expect(since(mark)).toEqual([{ method: "GET", path: "/api/workflows", query: "" }]);
  });

  it("workflow: create run and start it", async () => {
    const workflow = client.getWorkflow("weatherWorkflow");
    const mark = upstream.requests.length;
    const run = await workflow.createRun();
    expect(run.runId).toMatch(/^[0-9a-f-]{36}$/);
    const ack = await run.start({ inputData: { location: "Paris" } });
    // start() only acknowledges; the run finishes in the background.
    expect(ack).toEqual({ message: "Workflow run started" });
    await expect(upstream.whenWorkflowRunFinished(run.runId)).resolves.toMatchObject({
      status: "success",
      result: { summary: describeWeather(lookupWeather("Paris")) },
    });
    expect(since(mark)).toEqual([
      { method: "POST", path: "/api/workflows/weatherWorkflow/create-run", query: "" },
      { method: "POST", path: "/api/workflows/weatherWorkflow/start", query: `?runId=${run.runId}` },
    ]);
  });

  it("workflow: startAsync returns the result", async () => {
    const run = await client.getWorkflow("weather-workflow").createRun();
    const mark = upstream.requests.length;
    const result = await run.startAsync({ inputData: { location: "Tokyo" } });
    expect(result).toMatchObject({ status: "success", result: { summary: describeWeather(lookupWeather("Tokyo")) } });
    expect(since(mark)).toEqual([
      { method: "POST", path: "/api/workflows/weather-workflow/start-async", query: `?runId=${run.runId}` },
    ]);
  });

  it("workflow: stream yields both steps in order", async () => {
    const run = await client.getWorkflow("weatherWorkflow").createRun();
    const mark = upstream.requests.length;
    const events = await readAll(await run.stream({ inputData: { location: "Berlin" } }));
    const weather = lookupWeather("Berlin");
    expect(events.map((e) => [e.type, e.payload?.id])).toEqual([
      ["workflow-start", undefined],
      ["workflow-step-start", "fetch-weather"],
      ["workflow-step-result", "fetch-weather"],
      ["workflow-step-start", "summarize"],
      ["workflow-step-result", "summarize"],
      ["workflow-finish", undefined],
    ]);
    expect(events[2].payload.output).toEqual(weather);
    expect(events[5].payload.finalWorkflowResult).toEqual({ summary: describeWeather(weather) });
    expect(since(mark)).toEqual([
      { method: "POST", path: "/api/workflows/weatherWorkflow/stream", query: `?runId=${run.runId}` },
    ]);
  });

  it("workflow stream is \\x1E-separated JSON records on the wire", async () => {
    const created = await fetch(`${upstream.url}/api/workflows/weatherWorkflow/create-run`, json({}));
    expect(created.status).toBe(200);
    const { runId } = (await created.json()) as { runId: string };
    const res = await fetch(
      `${upstream.url}/api/workflows/weatherWorkflow/stream?runId=${runId}`,
      json({ inputData: { location: "Cairo" } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain");
    const body = await res.text();
    expect(body.endsWith("\x1E")).toBe(true);
    expect(body).not.toContain("data: ");
    const records = body.split("\x1E").slice(0, -1).map((r) => JSON.parse(r));
    expect(records.every((r) => r.runId === runId && r.from === "WORKFLOW")).toBe(true);
    expect(records[0].type).toBe("workflow-start");
    expect(records.at(-1)).toMatchObject({
      type: "workflow-finish",
      payload: { finalWorkflowResult: { summary: describeWeather(lookupWeather("Cairo")) } },
    });
  });

  it("answers unknown agents with 404 JSON", async () => {
    const res = await fetch(`${upstream.url}/api/agents/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Agent with id nope not found" });
  });
});

describe("demo upstream with a Mastra server.auth provider", () => {
  let secured: Upstream;
  const authCalls: Array<{ kind: string; token?: string; user?: unknown; path: string | null; header: string | null }> = [];

  beforeAll(async () => {
    // Shape of IMastraAuthProvider in @mastra/core 1.68: authenticateToken(token, request)
    // and authorizeUser(user, request), where request is { raw: Request, headers, header(name) }.
    const auth = {
      name: "test-auth",
      async authenticateToken(token: string, request: { raw: Request; header(name: string): string | undefined }) {
        authCalls.push({ kind: "authenticate", token, path: new URL(request.raw.url).pathname, header: request.header("x-clerk-user-id") ?? null });
        return token === "good" || token === "readonly" ? { id: "user_42", readonly: token === "readonly" } : null;
      },
      async authorizeUser(user: { readonly: boolean }, request: { raw: Request }) {
        authCalls.push({ kind: "authorize", user, path: new URL(request.raw.url).pathname, header: null });
        return !(user.readonly && request.raw.method !== "GET");
      },
    };
    secured = await startMastraServer({ auth });
  });

  afterAll(async () => {
    await secured?.close();
  });

  it("401 without or with a bad token, exactly once (4xx is not retried)", async () => {
    const anonymous = new MastraClient({ baseUrl: secured.url });
    const mark = secured.requests.length;
    await expect(anonymous.listAgents()).rejects.toMatchObject({ status: 401, body: { error: "Invalid or expired token" } });
    expect(secured.requests.length - mark).toBe(1);

    const bad = new MastraClient({ baseUrl: secured.url, headers: { authorization: "Bearer nope" } });
    await expect(bad.listAgents()).rejects.toMatchObject({ status: 401, body: { error: "Invalid or expired token" } });
    expect(authCalls.at(-1)).toMatchObject({ kind: "authenticate", token: "nope", path: "/api/agents" });
  });

  it("passes the bare token and the request to the provider", async () => {
    authCalls.length = 0;
    const good = new MastraClient({
      baseUrl: secured.url,
      headers: { authorization: "Bearer good", "x-clerk-user-id": "user_42" },
    });
    const result = await good.getAgent("weatherAgent").generate("What is the weather in Paris?");
    expect(result.text).toBe(describeWeather(lookupWeather("Paris")));
    expect(authCalls).toEqual([
      { kind: "authenticate", token: "good", path: "/api/agents/weatherAgent/generate", header: "user_42" },
      { kind: "authorize", user: { id: "user_42", readonly: false }, path: "/api/agents/weatherAgent/generate", header: null },
    ]);
  });

  it("403 when authorizeUser refuses", async () => {
    const readonly = new MastraClient({ baseUrl: secured.url, headers: { authorization: "Bearer readonly" } });
    await expect(readonly.listAgents()).resolves.toHaveProperty("weather-agent");
    await expect(readonly.getAgent("weatherAgent").generate("weather in Paris?")).rejects.toMatchObject({
      status: 403,
      body: { error: "Access denied" },
    });
  });

  it("Mastra's own public paths skip the provider", async () => {
    authCalls.length = 0;
    const res = await fetch(`${secured.url}/api/auth/capabilities`);
    expect(res.status).toBe(200);
    expect(authCalls).toEqual([]);
  });
});

async function readAll(stream: ReadableStream<any>): Promise<any[]> {
  const out: any[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<any>) out.push(chunk);
  return out;
}
