// An outage of something the gateway calls must end as an answer (with its log line and metric),
// never as a promise rejected with nobody listening: that is a log line without a request in
// production and, under waitUntil, an event whose outcome is "exception". Each test here runs one
// outage of the upstream, the upstream's agent directory or Clerk's Backend API through the
// gateway and fails on any unhandled rejection in the isolate (failOnUnhandledRejections) or any
// waitUntil promise that rejects (harness(): waitOnExecutionContext throws then). The JWKS origin
// and KV outages are chaos.test.ts's, under the same watch.
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { MastraAuthClerk } from "../../src/lib.js";
import { body, Clock, failOnUnhandledRejections, FakeOrigin, harness, mint, newKey, ISSUER, MemoryLogger, TEST_METRICS_TOKEN, uniqueJwksEnv, withRefusedHttpUpstream, type SigningKey } from "./helpers.js";

failOnUnhandledRejections();

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

/** What workerd's fetch rejects with when the peer refuses or drops the connection. */
const connectionLost = () => new Error("Network connection lost.");

/** A body whose connection dropped before it was read: reading or cancelling it rejects. */
function brokenBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.error(connectionLost());
    },
  });
}

type Answer = "serve" | "refuse" | "hang" | "break-body";

/**
 * Mastra on the MASTRA binding: weatherAgent (id weather-agent) and travelAgent (travel-agent,
 * with weatherAgent as sub-agent `helper`), answering the directory's reads (`GET /api/agents`,
 * agent cards) and forwarded calls each as told.
 */
class Upstream {
  list: Answer = "serve";
  cards: Answer = "serve";
  calls: Answer = "serve";
  readonly keys: Record<string, string> = { weatherAgent: "weather-agent", travelAgent: "travel-agent" };

  get fetcher(): Fetcher {
    return { fetch: (input: RequestInfo, init?: RequestInit) => this.#fetch(new Request(input, init)) } as unknown as Fetcher;
  }

  async #fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const card = /^\/api\/\.well-known\/([^/]+)\/agent-card\.json$/.exec(path);
    const read = request.method === "GET" && (path === "/api/agents" || card !== null);
    const answer = !read ? this.calls : card ? this.cards : this.list;
    if (answer === "refuse") throw connectionLost();
    if (answer === "hang") return new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
    if (answer === "break-body") {
      // Headers, one chunk, then the connection drops.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('data: {"type":"start"}\n\n'));
        },
        pull(controller) {
          controller.error(connectionLost());
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    if (card) {
      const name = decodeURIComponent(card[1]!);
      const id = this.keys[name] ?? (Object.values(this.keys).includes(name) ? name : name === "helper" ? "weather-agent" : null);
      return id ? Response.json({ name: id }) : Response.json({ error: "not found" }, { status: 404 });
    }
    if (read) {
      return Response.json({
        "weather-agent": { id: "weather-agent", name: "weather-agent", agents: {} },
        "travel-agent": { id: "travel-agent", name: "travel-agent", agents: { helper: { id: "weather-agent", name: "weather-agent" } } },
      });
    }
    return Response.json({ ok: true });
  }
}

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent"], require: { orgRoles: ["admin"] } };
const ask = JSON.stringify({ messages: [{ role: "user", content: "Weather in Oslo?" }] });

function setup(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const upstream = new Upstream();
  const h = harness(uniqueJwksEnv({ MASTRA: upstream.fetcher, ...extra }), { fetch: new FakeOrigin(key).fetch, now: clock.now, kv: null });
  const member = () => mint(key, { now: clock.seconds, ttlSeconds: 3600, org: { id: "org_acme", role: "member" } });
  const post = async (path: string, payload = ask) =>
    h.request(path, { method: "POST", headers: { authorization: `Bearer ${await member()}`, "content-type": "application/json" }, body: payload });
  const metrics = async () => (await h.request("/metrics", { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })).text();
  return { ...h, clock, upstream, post, metrics };
}

describe("the upstream is down", () => {
  it("an HTTP upstream refusing the connection: 502 bad_gateway, logged and counted", async () => {
    const s = setup({ MASTRA: undefined, MASTRA_URL: "https://mastra.test" });
    const bearer = `Bearer ${await mint(key, { now: s.clock.seconds })}`;
    const { result: response } = await withRefusedHttpUpstream(() => s.request("/api/agents", { headers: { authorization: bearer } }));
    expect(response.status).toBe(502);
    expect(await body(response)).toEqual({ error: "bad_gateway", message: "the upstream could not be reached" });
    expect(s.logger.events("upstream.error")).toEqual([expect.objectContaining({ level: "warn", method: "GET", path: "/api/agents" })]);
    expect(await s.metrics()).toContain('jwt_authn_upstream_errors_total{kind="unreachable"} 1');
  });

  it("a service binding throwing, with a request body on its way: 502 bad_gateway", async () => {
    const s = setup();
    s.upstream.calls = "refuse";
    const response = await s.post("/api/agents/otherAgent/generate");
    expect(response.status).toBe(502);
    expect(await body(response)).toMatchObject({ error: "bad_gateway" });
    expect(s.logger.events("upstream.error")).toHaveLength(1);
  });

  it("an upstream that sends no headers in time: 504 gateway_timeout", async () => {
    const s = setup({ UPSTREAM_TIMEOUT_MS: "50" });
    s.upstream.calls = "hang";
    const response = await s.post("/api/agents/otherAgent/generate");
    expect(response.status).toBe(504);
    expect(s.logger.events("upstream.timeout")).toHaveLength(1);
    expect(await s.metrics()).toContain('jwt_authn_upstream_errors_total{kind="timeout"} 1');
  });

  it("a stream that breaks after its first chunk: the client's read fails, and nothing else does", async () => {
    const s = setup();
    s.upstream.calls = "break-body";
    const response = await s.post("/api/agents/otherAgent/stream");
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: {"type":"start"}\n\n');
    await expect(reader.read()).rejects.toThrow("Network connection lost.");
  });
});

describe("the upstream's agent directory cannot be read", () => {
  const rules = { AUTH_RULES: JSON.stringify([ADMINS_ONLY]) };

  it("on a cold isolate: decided by the names the rule lists, said so, then the call itself fails as 502", async () => {
    const s = setup(rules);
    s.upstream.list = "refuse";
    s.upstream.calls = "refuse";
    // `helper` is weatherAgent only to the directory: without it the request goes on, and meets the outage.
    expect((await s.post("/api/agents/helper/generate")).status).toBe(502);
    expect(s.logger.events("agents.directory_unavailable")).toEqual([expect.objectContaining({ reason: "unreachable", fallback: "rule-names-only" })]);
    expect((await s.post("/api/agents/weatherAgent/generate")).status).toBe(403);
  });

  it("a stale directory whose refresh in waitUntil fails: still used, and the failure logged", async () => {
    const s = setup({ ...rules, AGENT_DIRECTORY_TTL_S: "60" });
    expect((await s.post("/api/agents/helper/generate")).status).toBe(403);
    s.upstream.list = "refuse";
    s.clock.advance(120);
    expect((await s.post("/api/agents/helper/generate")).status).toBe(403);
    expect(s.logger.events("agents.directory_unavailable")).toEqual([expect.objectContaining({ reason: "unreachable", fallback: "stale-directory" })]);
  });

  it("an agent card that cannot be read at request time: that name may be any agent (fail closed)", async () => {
    const s = setup(rules);
    expect((await s.post("/api/agents/helper/generate")).status).toBe(403);
    s.upstream.cards = "refuse";
    expect((await s.post("/api/agents/someAgent/generate")).status).toBe(403);
    expect(s.logger.events("agents.lookup_failed")).toEqual([expect.objectContaining({ reason: "unreachable" })]);
  });

  it("a body naming its agent, read from a copy while the upstream refuses: 502, the body's agent decided first", async () => {
    const s = setup(rules);
    s.upstream.calls = "refuse";
    expect((await s.post("/api/v1/responses", JSON.stringify({ agent_id: "weatherAgent", input: "hi" }))).status).toBe(403);
    expect((await s.post("/api/v1/responses", JSON.stringify({ agent_id: "otherAgent", input: "hi" }))).status).toBe(502);
  });
});

describe("Clerk's Backend API is down, or drops the connection before its body", () => {
  const API = "https://api.clerk.test";
  const SECRET = "sk_test_rejections0123456789";

  /** An opaque API key through the gateway, the Backend API answering with `answer`. */
  async function apiKeyCall(answer: () => Response | Promise<Response>) {
    const origin = new FakeOrigin(key);
    const fetch: typeof globalThis.fetch = async (input, init) => (new Request(input as RequestInfo, init).url.startsWith(API) ? answer() : origin.fetch(input, init));
    const h = harness(uniqueJwksEnv({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET, CLERK_API_URL: API }), { fetch, kv: null });
    return { response: await h.request("/auth/me", { headers: { authorization: "Bearer ak_rejections_1" } }), logger: h.logger };
  }

  it("unreachable: 503 backend_api_unavailable with Retry-After", async () => {
    const { response } = await apiKeyCall(() => {
      throw connectionLost();
    });
    expect(response.status).toBe(503);
    expect(await body(response)).toMatchObject({ error: "backend_api_unavailable", reason: "backend-api-unavailable" });
  });

  // The body of an answer that is decided by its status alone is cancelled unread; cancelling a
  // stream that has already failed rejects (WHATWG Streams, ReadableStreamCancel step 3), and that
  // must not turn Clerk's answer into another one.
  it("a 404 whose body broke is still Clerk saying it does not know the token: 401 token-invalid", async () => {
    const { response } = await apiKeyCall(() => new Response(brokenBody(), { status: 404 }));
    expect(response.status).toBe(401);
    expect(await body(response)).toMatchObject({ error: "unauthorized", reason: "token-invalid" });
  });

  it("a 502 whose body broke is still an outage: 503", async () => {
    const { response } = await apiKeyCall(() => new Response(brokenBody(), { status: 502 }));
    expect(response.status).toBe(503);
    expect(await body(response)).toMatchObject({ error: "backend_api_unavailable" });
  });

  it("a 401 whose body broke is still the key refused: 500 misconfigured naming it", async () => {
    const { response } = await apiKeyCall(() => new Response(brokenBody(), { status: 401 }));
    expect(response.status).toBe(500);
    expect(await body(response)).toMatchObject({ error: "misconfigured", variable: "CLERK_SECRET_KEY" });
  });

  it("getUser: a 404 or a 503 whose body broke answers null, as documented, and is logged", async () => {
    let status = 404;
    const logger = new MemoryLogger();
    const fetch = async (input: RequestInfo | URL, init?: RequestInit) =>
      new Request(input, init).url.startsWith(API) ? new Response(brokenBody(), { status }) : new FakeOrigin(key).fetch(input as RequestInfo, init);
    const auth = new MastraAuthClerk({ jwksUri: `${ISSUER}/.well-known/jwks.json?rejections=${crypto.randomUUID()}`, issuer: ISSUER, secretKey: SECRET, apiUrl: API, fetch, logger, env: {} });
    expect(await auth.getUser("user_gone")).toBeNull();
    status = 503;
    expect(await auth.getUser("user_busy")).toBeNull();
    expect(logger.events("users.fetch_failed")).toEqual([expect.objectContaining({ reason: "status", status: 503 })]);
  });
});
