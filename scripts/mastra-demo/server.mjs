// A real Mastra server (agents + workflows + Mastra's own HTTP routes and auth
// middleware) used as the gateway's upstream in `npm run dev` and end-to-end tests.
// Only the language model is mocked, so nothing here needs network or API keys.
//
//   node scripts/mastra-demo/server.mjs [--port 4111]

// @mastra/core ships PostHog feature telemetry (us.posthog.com), on unless this is
// set. 1.68 only fires it for file-system agents, but later versions may widen it.
// It is read at every capture, so setting it here (after the hoisted imports,
// before any Mastra instance exists) is early enough. Forced: never phone home.
process.env.MASTRA_TELEMETRY_DISABLED = "1";

import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Agent } from "@mastra/core/agent";
import { ConsoleLogger } from "@mastra/core/logger";
import { Mastra } from "@mastra/core/mastra";
import { InMemoryStore } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { MastraServer } from "@mastra/hono";
import { MockLanguageModelV2 } from "ai/test";
import { Hono } from "hono";
import { z } from "zod";

export const DEFAULT_PORT = 4111;

const CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "foggy"];

/** Deterministic per location, so tests can predict the exact answer. */
export function lookupWeather(location) {
  let h = 0;
  for (const ch of location.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return { location, temperatureC: 5 + (h % 25), conditions: CONDITIONS[h % CONDITIONS.length] };
}

export function describeWeather({ location, temperatureC, conditions }) {
  return `The weather in ${location} is ${conditions} at ${temperatureC}°C.`;
}

const weatherTool = createTool({
  id: "get-weather",
  description: "Get the current weather for a location",
  inputSchema: z.object({ location: z.string() }),
  outputSchema: z.object({ location: z.string(), temperatureC: z.number(), conditions: z.string() }),
  execute: async ({ location }) => lookupWeather(location),
});

const usage = { inputTokens: 10, outputTokens: 10, totalTokens: 20 };

function lastUserText(prompt) {
  const user = prompt.filter((m) => m.role === "user").at(-1);
  if (!user) return "";
  return user.content
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join(" ");
}

function locationFrom(text) {
  const match = /\bin\s+([\p{L}][\p{L}\s.'-]*?)\s*[?.!]*$/u.exec(text.trim());
  return match ? match[1] : "Berlin";
}

function toolResultsIn(prompt) {
  return prompt
    .filter((m) => m.role === "tool")
    .flatMap((m) => m.content)
    .filter((p) => p.type === "tool-result");
}

// The model is stateless: if the prompt already carries a weather tool result it
// answers from it, otherwise it asks for the tool. That reproduces the usual
// two-step agent loop (tool call, then text) for generate and stream alike.
function planTurn(prompt) {
  const results = toolResultsIn(prompt);
  if (results.length === 0) {
    return {
      kind: "tool-call",
      toolCall: {
        toolCallId: `call-${prompt.length}`,
        toolName: "weatherTool",
        input: JSON.stringify({ location: locationFrom(lastUserText(prompt)) }),
      },
    };
  }
  const output = results.at(-1).output;
  const weather = output?.type === "json" ? output.value : lookupWeather(locationFrom(lastUserText(prompt)));
  const text = describeWeather(weather);
  // Split after the location so the "first chunk" is a meaningful, assertable prefix.
  const cut = text.indexOf(" is ");
  return { kind: "text", deltas: [text.slice(0, cut), text.slice(cut)] };
}

function readableFrom(generator) {
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await generator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel() {
      // Not awaited: a generator parked at the gate only returns once released.
      void generator.return(undefined);
    },
  });
}

function createWeatherModel(gate, calls) {
  return new MockLanguageModelV2({
    provider: "mastra-demo",
    modelId: "weather-mock",
    doGenerate: async ({ prompt }) => {
      calls.add(1);
      const turn = planTurn(prompt);
      if (turn.kind === "tool-call") {
        return { content: [{ type: "tool-call", ...turn.toolCall }], finishReason: "tool-calls", usage, warnings: [] };
      }
      return { content: [{ type: "text", text: turn.deltas.join("") }], finishReason: "stop", usage, warnings: [] };
    },
    doStream: async ({ prompt, abortSignal }) => {
      calls.add(1);
      const turn = planTurn(prompt);
      async function* parts() {
        yield { type: "stream-start", warnings: [] };
        if (turn.kind === "tool-call") {
          yield { type: "tool-call", ...turn.toolCall };
          yield { type: "finish", finishReason: "tool-calls", usage };
          return;
        }
        const [first, ...rest] = turn.deltas;
        yield { type: "text-start", id: "text-1" };
        yield { type: "text-delta", id: "text-1", delta: first };
        // Parks after the first delta was handed out, so a test that called
        // holdStreams() can see that delta at the client while this is unfinished.
        await gate.wait(abortSignal);
        if (abortSignal?.aborted) return;
        for (const delta of rest) yield { type: "text-delta", id: "text-1", delta };
        yield { type: "text-end", id: "text-1" };
        yield { type: "finish", finishReason: "stop", usage };
      }
      return { stream: readableFrom(parts()) };
    },
  });
}

// A level that tests can wait on: when(n) resolves as soon as the value is >= n.
function createLevel() {
  let value = 0;
  const waiters = new Set();
  const check = () => {
    for (const waiter of waiters) {
      if (value >= waiter.count) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };
  return {
    add(delta) {
      value += delta;
      check();
    },
    value() {
      return value;
    },
    when(count) {
      return new Promise((resolve) => {
        waiters.add({ count, resolve });
        check();
      });
    },
  };
}

function createGate() {
  let held = null;
  const parked = createLevel();
  const aborted = createLevel();
  return {
    parked,
    aborted,
    hold() {
      if (held) return;
      let release;
      const promise = new Promise((resolve) => {
        release = resolve;
      });
      held = { promise, release };
    },
    release() {
      held?.release();
      held = null;
    },
    /** Resolves on release, or early when the request is aborted (client went away). */
    async wait(signal) {
      const current = held;
      if (!current || signal?.aborted) return;
      let onAbort;
      const abortedWhileParked = new Promise((resolve) => {
        onAbort = () => {
          aborted.add(1);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      parked.add(1);
      try {
        await Promise.race([current.promise, abortedWhileParked]);
      } finally {
        signal?.removeEventListener("abort", onAbort);
        parked.add(-1);
      }
    },
  };
}

// start() on Mastra's HTTP API is fire-and-forget and observe() only replays runs
// that were streamed, so tests learn about finished runs from the workflow's own
// onFinish hook instead of polling the run.
function createRunTracker() {
  const finished = new Map();
  const waiters = new Map();
  return {
    onFinish({ runId, status, result, error }) {
      const outcome = { runId, status, result, error };
      finished.set(runId, outcome);
      for (const resolve of waiters.get(runId) ?? []) resolve(outcome);
      waiters.delete(runId);
    },
    whenFinished(runId) {
      if (finished.has(runId)) return Promise.resolve(finished.get(runId));
      return new Promise((resolve) => {
        waiters.set(runId, [...(waiters.get(runId) ?? []), resolve]);
      });
    },
  };
}

function createWeatherWorkflow(runs) {
  const fetchWeather = createStep({
    id: "fetch-weather",
    inputSchema: z.object({ location: z.string() }),
    outputSchema: z.object({ location: z.string(), temperatureC: z.number(), conditions: z.string() }),
    execute: async ({ inputData }) => lookupWeather(inputData.location),
  });
  const summarize = createStep({
    id: "summarize",
    inputSchema: z.object({ location: z.string(), temperatureC: z.number(), conditions: z.string() }),
    outputSchema: z.object({ summary: z.string() }),
    execute: async ({ inputData }) => ({ summary: describeWeather(inputData) }),
  });
  return createWorkflow({
    id: "weather-workflow",
    inputSchema: z.object({ location: z.string() }),
    outputSchema: z.object({ summary: z.string() }),
    options: { onFinish: (result) => runs.onFinish(result) },
  })
    .then(fetchWeather)
    .then(summarize)
    .commit();
}

/**
 * @param {{ port?: number, host?: string, auth?: object, middleware?: unknown[], logLevel?: string, parentAgent?: boolean, newsAgent?: boolean, memory?: boolean, mcp?: boolean }} [options]
 *   `auth` is handed to Mastra as `server.auth` (a MastraAuthProvider or
 *   MastraAuthConfig), so Mastra's own auth middleware runs behind the gateway;
 *   `middleware` as `server.middleware` (e.g. mastraRulesMiddleware(auth)).
 *   `newsAgent` adds a third agent (key newsAgent, id news-agent) that delegates to nobody.
 *   `memory` gives weatherAgent a real @mastra/memory Memory (threads and messages in
 *   the server's InMemoryStore), so Mastra's /api/memory/* routes have data to guard.
 *   `mcp` registers a real @mastra/mcp MCPServer `weather` exposing the weather tool, served by
 *   Mastra at /api/mcp/weather/mcp (Streamable HTTP) and /api/mcp/weather/sse.
 */
export async function startMastraServer({ port = 0, host = "127.0.0.1", auth, middleware, logLevel = "warn", parentAgent = false, newsAgent = false, memory = false, mcp = false } = {}) {
  const gate = createGate();
  const runs = createRunTracker();
  // Every call into the mock model (generate or stream, each agent-loop step), whichever route made it.
  const modelCalls = createLevel();
  /** @type {{ method: string, path: string, query: string, headers: Record<string, string> }[]} */
  const requests = [];

  const weatherAgent = new Agent({
    id: "weather-agent",
    name: "Weather Agent",
    instructions: "You answer weather questions using the weather tool.",
    model: createWeatherModel(gate, modelCalls),
    tools: { weatherTool },
    // Loaded only when asked for: most callers need no memory.
    ...(memory ? { memory: new (await import("@mastra/memory")).Memory({ options: { lastMessages: 10 } }) } : {}),
  });

  // With `parentAgent`: a second agent listing weatherAgent as its sub-agent `helper`.
  const travelAgent = parentAgent
    ? new Agent({
        id: "travel-agent",
        name: "Travel Agent",
        instructions: "You plan trips; ask your helper about the weather.",
        model: createWeatherModel(gate, modelCalls),
        tools: { weatherTool },
        agents: { helper: weatherAgent },
      })
    : null;

  const news = newsAgent
    ? new Agent({
        id: "news-agent",
        name: "News Agent",
        instructions: "You answer questions; you have the weather tool and no helpers.",
        model: createWeatherModel(gate, modelCalls),
        tools: { weatherTool },
      })
    : null;

  // Loaded only when asked for (a devDependency, like @mastra/memory).
  const mcpServers = mcp
    ? { weather: new (await import("@mastra/mcp")).MCPServer({ id: "weather", name: "Weather", version: "1.0.0", tools: { weatherTool } }) }
    : undefined;

  const mastra = new Mastra({
    agents: { weatherAgent, ...(travelAgent ? { travelAgent } : {}), ...(news ? { newsAgent: news } : {}) },
    ...(mcpServers ? { mcpServers } : {}),
    workflows: { weatherWorkflow: createWeatherWorkflow(runs) },
    // Explicit so Mastra does not warn about (or go looking for) persistent storage.
    storage: new InMemoryStore(),
    logger: new ConsoleLogger({ name: "mastra-demo", level: logLevel }),
    server: auth || middleware ? { ...(auth ? { auth } : {}), ...(middleware ? { middleware } : {}) } : undefined,
  });

  const app = new Hono();
  // Registered before MastraServer.init() so it sees every request, including
  // ones Mastra's auth middleware rejects.
  app.use("*", async (c, next) => {
    // Raw query text (URL#search drops a bare "?"), so tests see exactly what arrived.
    const q = c.req.url.indexOf("?");
    requests.push({
      method: c.req.method,
      path: c.req.path,
      query: q === -1 ? "" : c.req.url.slice(q),
      headers: Object.fromEntries(c.req.raw.headers),
    });
    await next();
  });
  await new MastraServer({ app, mastra }).init();

  const server = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s));
    s.once("error", reject);
  });
  const boundPort = server.address().port;

  let closing;
  const close = () => {
    closing ??= new Promise((resolve, reject) => {
      // Parked streams would keep their sockets open forever.
      gate.release();
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url: `http://${host}:${boundPort}`,
    port: boundPort,
    mastra,
    requests,
    close,
    /** While held, agent model streams stop right after their first text chunk... */
    holdStreams: () => gate.hold(),
    /** ...until this releases every parked stream (and ends holding). */
    releaseStreams: () => gate.release(),
    /** Resolves once `count` model streams are parked at the gate at the same time. */
    whenStreamsParked: (count = 1) => gate.parked.when(count),
    /**
     * Resolves once `count` parked model streams (in total) were aborted because
     * their HTTP client went away: Mastra forwards the request's abort to the model.
     */
    whenParkedStreamsAborted: (count = 1) => gate.aborted.when(count),
    /** How many times the mock model has been called so far (a step of the agent loop is one call). */
    modelCalls: () => modelCalls.value(),
    /** Resolves with `{ runId, status, result, error }` when that weatherWorkflow run ends. */
    whenWorkflowRunFinished: (runId) => runs.whenFinished(runId),
  };
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({ options: { port: { type: "string", default: String(DEFAULT_PORT) } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port: ${values.port}`);
    process.exit(2);
  }
  // With the MCP server, so `npm run dev` runs the whole MCP OAuth flow offline (docs/mcp.md).
  const upstream = await startMastraServer({ port, logLevel: "info", mcp: true });
  console.log(`mastra demo upstream on ${upstream.url}`);
  const shutdown = () => {
    upstream.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
