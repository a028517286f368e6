// Upstream chaos on the wire: the gateway Worker bundled by wrangler and run in workerd (Miniflare,
// test/node/e2e/support), a dev issuer for keys, and a node:http upstream that misbehaves on
// purpose — it is not there (connection refused), it takes the request and never answers (504
// after UPSTREAM_TIMEOUT_MS, and the upstream request is cancelled), or it starts a stream and
// then resets the connection (the client sees the stream end, never a hang). After every fault
// the gateway keeps serving. Everything waits on events; the test timeout is the only clock.
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../scripts/dev-issuer.mjs";
import { startGateway, type RunningGateway } from "./e2e/support/gateway.js";

type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;

const ROUTE = "/api/agents/weatherAgent/generate";
const STREAM_ROUTE = "/api/agents/weatherAgent/stream";
const FIRST_CHUNK = 'data: {"type":"text-delta","payload":{"text":"The weather in London"}}\n\n';

/** Resolves when `emitter` fires the event; the promise exists before the event can happen. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A Mastra stand-in whose behaviour is chosen by the test per request. It records every request
 * and, for held requests, when the gateway gives up on them (the socket closes).
 */
function misbehavingUpstream() {
  type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;
  let behaviour: Behaviour = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ text: "sunny" }));
  };
  const seen: { method: string; url: string; user: string | undefined }[] = [];
  const arrived = deferred<{ req: IncomingMessage; res: ServerResponse }>();
  let next = arrived;
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, user: req.headers["x-clerk-user-id"] as string | undefined });
    const current = next;
    next = deferred();
    current.resolve({ req, res });
    behaviour(req, res);
  });
  return {
    server,
    seen,
    set(b: Behaviour) {
      behaviour = b;
    },
    normal() {
      behaviour = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ text: "sunny" }));
    },
    /** The next request to arrive (call before sending it). */
    nextRequest() {
      return next.promise;
    },
  };
}

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server) {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A raw HTTP/1.1 exchange, so the test sees exactly how the response ends (EOF, reset, abort). */
function send(gateway: RunningGateway, path: string, token: string, method = "POST") {
  const req = httpRequest(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    agent: false,
  });
  req.end(method === "GET" ? undefined : JSON.stringify({ messages: "Weather in London?" }));
  return req;
}

async function jsonOf(res: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

let keyDir: string;
let issuer: Issuer;
const upstream = misbehavingUpstream();
let upstreamPort: number;
let gateway: RunningGateway;
let deadGateway: RunningGateway;
let deadPort: number;

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), "mea-chaos-key-"));
  issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "key.json") });
  upstreamPort = await listen(upstream.server);
  // A port that was free a moment ago and has nobody listening: connection refused.
  const probe = createServer();
  deadPort = await listen(probe);
  await closeServer(probe);
  const vars = (mastraUrl: string) => ({
    CLERK_ISSUER: issuer.issuer,
    CLERK_JWKS_URI: issuer.jwksUrl,
    MASTRA_URL: mastraUrl,
    UPSTREAM_TIMEOUT_MS: "300",
    LOG_LEVEL: "info",
  });
  [gateway, deadGateway] = await Promise.all([
    startGateway({ vars: vars(`http://127.0.0.1:${upstreamPort}`) }),
    startGateway({ vars: vars(`http://127.0.0.1:${deadPort}`) }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([gateway?.close(), deadGateway?.close()]);
  await closeServer(upstream.server);
  await issuer?.close();
  await rm(keyDir, { recursive: true, force: true });
});

/** After any fault: the gateway still answers, and still proxies a valid request. */
async function expectStillServing(g: RunningGateway, proxied: boolean) {
  const health = await fetch(`${g.url}/healthz`);
  expect(health.status).toBe(200);
  await health.arrayBuffer();
  if (!proxied) return;
  upstream.normal();
  const req = send(g, ROUTE, await issuer.mint({ sub: "user_after" }));
  const [res] = (await once(req, "response")) as [IncomingMessage];
  expect(res.statusCode).toBe(200);
  expect(await jsonOf(res)).toEqual({ text: "sunny" });
}

function expectNoInternalErrors(g: RunningGateway) {
  expect(g.logs.filter((l) => l.event === "gateway.unhandled" || l.event === "auth.internal_error")).toEqual([]);
}

describe("upstream chaos through the gateway in workerd", () => {
  it("connection refused → 502 bad_gateway, once, and the gateway keeps serving", async () => {
    const req = send(deadGateway, ROUTE, await issuer.mint({ sub: "user_refused" }));
    const [res] = (await once(req, "response")) as [IncomingMessage];
    expect(res.statusCode).toBe(502);
    expect(await jsonOf(res)).toMatchObject({ error: "bad_gateway" });
    expect(deadGateway.logs.filter((l) => l.event === "upstream.error")).toHaveLength(1);
    await expectStillServing(deadGateway, false);
    expectNoInternalErrors(deadGateway);
  });

  it("headers later than UPSTREAM_TIMEOUT_MS → 504 gateway_timeout, and the upstream request is cancelled", async () => {
    // Takes the request, answers nothing until the gateway gives up.
    upstream.set(() => {});
    const arriving = upstream.nextRequest();
    const req = send(gateway, ROUTE, await issuer.mint({ sub: "user_slow" }));
    const { req: held, res: heldRes } = await arriving;
    const upstreamClosed = once(heldRes, "close");
    const [res] = (await once(req, "response")) as [IncomingMessage];
    expect(res.statusCode).toBe(504);
    expect(await jsonOf(res)).toMatchObject({ error: "gateway_timeout" });
    // The gateway aborted its upstream call: the held connection is closed from its side.
    await upstreamClosed;
    expect(held.complete).toBe(true);
    expect(await gateway.whenLogged((l) => l.event === "upstream.timeout")).toMatchObject({ timeoutMs: 300 });
    await expectStillServing(gateway, true);
    expectNoInternalErrors(gateway);
  });

  it.each([
    ["a chunked SSE stream", { "content-type": "text/event-stream" }, false],
    ["a body with a Content-Length", { "content-type": "text/event-stream", "content-length": "100000" }, true],
  ])("%s reset mid-way: the client gets the first chunk, then the stream ends (never hangs)", async (_label, headers, truncationVisible) => {
    const clientGotFirstChunk = deferred();
    upstream.set((_req, res) => {
      res.writeHead(200, headers);
      res.write(FIRST_CHUNK);
      // Reset only once the first chunk has provably reached the client through the gateway.
      void clientGotFirstChunk.promise.then(() => res.socket?.destroy());
    });
    const req = send(gateway, STREAM_ROUTE, await issuer.mint({ sub: "user_stream" }));
    const [res] = (await once(req, "response")) as [IncomingMessage];
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream");

    let received = "";
    const ended = new Promise<"end" | "error" | "aborted">((resolve) => {
      res.on("data", (chunk: Buffer) => {
        received += chunk.toString("utf8");
        if (received.includes(FIRST_CHUNK)) clientGotFirstChunk.resolve();
      });
      res.on("end", () => resolve("end"));
      res.on("aborted", () => resolve("aborted"));
      res.on("error", () => resolve("error"));
      req.on("error", () => resolve("error"));
    });
    const how = await ended;
    expect(received).toBe(FIRST_CHUNK);
    expect(["end", "aborted", "error"]).toContain(how);
    // With a Content-Length the client can tell the body is short. A chunked body is another
    // matter: workerd ends the client's chunked response with a clean last chunk when the body
    // stream errors (checked against workerd directly, without the gateway), so there the
    // truncation shows only in the payload (an SSE stream without its `data: [DONE]`).
    if (truncationVisible) expect(res.complete).toBe(false);
    await expectStillServing(gateway, true);
    expectNoInternalErrors(gateway);
  });
});
