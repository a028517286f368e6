// What happens when things go wrong, end to end (gateway in workerd, real sockets on 127.0.0.1):
// an upstream that is down or silent, a client that goes away mid-stream, path spellings that try
// to pass a protected route off as a public one, and CORS on every kind of answer.
//
// Raw fetch (or raw sockets) throughout: @mastra/client-js retries 5xx and network errors, which
// would hide what the gateway answered.

import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeWeather, lookupWeather } from "../../../scripts/mastra-demo/server.mjs";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import { startStack, type MintOptions, type Stack } from "./support/stack.js";

const ORIGIN = "http://127.0.0.1:5173";
const OTHER_ALLOWED = "http://localhost:5173";
const CORS_ORIGINS = `${ORIGIN},${OTHER_ALLOWED}`;
const ADMIN: MintOptions = { sub: "user_admin", ttlSeconds: 600, org: { id: "org_acme", role: "admin" } };
const MEMBER: MintOptions = { sub: "user_member", ttlSeconds: 600, org: { id: "org_acme", role: "member" } };

/** One request as a scripted upstream saw it; `closed` settles when its connection goes away. */
interface Arrival {
  path: string;
  res: http.ServerResponse;
  /** `ended`: whether the upstream had finished its response when the socket closed. */
  closed: Promise<{ ended: boolean }>;
}

/**
 * An upstream whose every move the test makes: `/hang` never answers, `/drip` sends headers and
 * one chunk, then writes only when the test does. Answers carry their own CORS headers, which
 * the gateway must replace.
 */
async function startScriptedUpstream() {
  const arrivals: Arrival[] = [];
  const waiting = new Map<string, Array<(a: Arrival) => void>>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://upstream.invalid").pathname;
    const closed = new Promise<{ ended: boolean }>((resolve) => res.once("close", () => resolve({ ended: res.writableEnded })));
    const arrival = { path, res, closed };
    arrivals.push(arrival);
    const next = waiting.get(path)?.shift();
    next?.(arrival);
    if (path === "/drip") {
      res.writeHead(200, { "content-type": "text/plain", "access-control-allow-origin": "*" });
      res.write("chunk-1\n");
    } else if (path !== "/hang") {
      res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*", "access-control-allow-credentials": "true" });
      res.end(JSON.stringify({ path }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    /** The next request for `path` (armed before the request is sent). */
    next(path: string): Promise<Arrival> {
      return new Promise((resolve) => waiting.set(path, [...(waiting.get(path) ?? []), resolve]));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** node:http keeps the request target byte for byte (fetch would resolve `..` and `//` first). */
function rawRequest(base: string, target: string, headers: Record<string, string> = {}, method = "GET") {
  const u = new URL(base);
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: target, method, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Head and the complete chunks so far (UTF-8 decoded) of a raw chunked HTTP/1.1 response read as latin1. */
function dechunk(raw: string): { head: string; body: string } {
  const split = raw.indexOf("\r\n\r\n");
  if (split === -1) return { head: raw, body: "" };
  let rest = raw.slice(split + 4);
  let body = "";
  for (;;) {
    const eol = rest.indexOf("\r\n");
    if (eol === -1) break;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!(size > 0) || rest.length < eol + 2 + size) break;
    body += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
  return { head: raw.slice(0, split), body: Buffer.from(body, "latin1").toString("utf8") };
}

function corsOf(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers].filter(([k]) => k.startsWith("access-control-")));
}

let stack: Stack;
let scripted: Awaited<ReturnType<typeof startScriptedUpstream>>;
let refused: RunningGateway;
let silent: RunningGateway;
let dripping: RunningGateway;

beforeAll(async () => {
  stack = await startStack({
    vars: () => ({
      PUBLIC_PATHS: "/api/auth/*",
      CORS_ORIGINS,
      AUTH_RULES: JSON.stringify([{ id: "admins-only", path: ["/api/agents/weatherAgent/generate", "/api/agents/weather-agent/generate"], require: { orgRoles: ["admin"] } }]),
    }),
  });
  scripted = await startScriptedUpstream();
  const base = { CLERK_ISSUER: stack.issuer.issuer, CLERK_JWKS_URI: stack.issuer.jwksUrl, CORS_ORIGINS, LOG_LEVEL: "error" };
  [refused, silent, dripping] = await Promise.all([
    startGateway({ vars: { ...base, MASTRA_URL: `http://127.0.0.1:${await closedPort()}` } }),
    startGateway({ vars: { ...base, MASTRA_URL: scripted.url, UPSTREAM_TIMEOUT_MS: "250" } }),
    startGateway({ vars: { ...base, MASTRA_URL: scripted.url } }),
  ]);
});

afterAll(async () => {
  await Promise.all([refused?.close(), silent?.close(), dripping?.close()]);
  await scripted?.close();
  await stack?.close();
});

describe("upstream failures", () => {
  it("upstream refused (port closed) → 502 bad_gateway, JSON, with CORS, nothing leaked", async () => {
    const res = await fetch(`${refused.url}/api/agents`, {
      headers: { authorization: `Bearer ${await stack.token(ADMIN)}`, origin: ORIGIN },
    });
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: "bad_gateway", message: "the upstream could not be reached" });
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
  });

  it("upstream that never sends headers → 504 after UPSTREAM_TIMEOUT_MS, and the upstream call is cancelled", async () => {
    const arrived = scripted.next("/hang");
    const res = await fetch(`${silent.url}/hang`, { headers: { authorization: `Bearer ${await stack.token(ADMIN)}`, origin: ORIGIN } });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: "gateway_timeout" });
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    // The gateway gave up on the upstream request rather than leaving it running.
    await expect((await arrived).closed).resolves.toEqual({ ended: false });
  });

  it("the upstream's own CORS headers are replaced by the gateway's policy", async () => {
    const token = await stack.token(ADMIN);
    const allowed = await fetch(`${dripping.url}/cors`, { headers: { authorization: `Bearer ${token}`, origin: ORIGIN } });
    expect(await allowed.json()).toEqual({ path: "/cors" });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    const denied = await fetch(`${dripping.url}/cors`, { headers: { authorization: `Bearer ${token}`, origin: "http://evil.test" } });
    expect(denied.status).toBe(200);
    expect(corsOf(denied.headers)).toEqual({});
  });
});

describe("streaming through the edge", () => {
  it("a text/plain stream reaches a gzip-accepting client chunk by chunk", async () => {
    const arrived = scripted.next("/drip");
    const res = await fetch(`${dripping.url}/drip`, {
      headers: { authorization: `Bearer ${await stack.token(ADMIN)}`, "accept-encoding": "gzip, deflate, br" },
    });
    expect(res.status).toBe(200);
    // Left to itself the edge would gzip text/plain and sit on the chunks (see src/proxy/forward.ts).
    expect(res.headers.get("content-encoding") ?? "identity").toBe("identity");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // chunk-2 is only written once chunk-1 was read here, so nothing can have been held back.
    expect((await reader.read()).value).toBe("chunk-1\n");
    const { res: upstreamRes } = await arrived;
    upstreamRes.write("chunk-2\n");
    expect((await reader.read()).value).toBe("chunk-2\n");
    upstreamRes.end("last\n");
    expect((await reader.read()).value).toBe("last\n");
    expect((await reader.read()).done).toBe(true);
  });
});

describe("client goes away mid-stream", () => {
  it("a reset client connection aborts the parked Mastra model stream", async () => {
    const { upstream, gateway } = stack;
    const aborted = upstream.whenParkedStreamsAborted(1);
    upstream.holdStreams();
    const body = JSON.stringify({ messages: "What is the weather in Vienna?" });
    const socket = net.connect(gateway.port, "127.0.0.1");
    socket.write(
      `POST /api/agents/weatherAgent/stream HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\n` +
        `Authorization: Bearer ${await stack.token(ADMIN)}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // latin1: one character per byte, so chunk sizes can be counted in characters.
    socket.setEncoding("latin1");
    let received = "";
    await new Promise<void>((resolve, reject) => {
      socket.on("data", (d) => {
        received += d;
        // Wait for the whole first text chunk: a TCP read may end in the middle of it.
        if (dechunk(received).body.includes('"text":"The weather in Vienna"')) resolve();
      });
      socket.once("error", reject);
    });
    const { head, body: streamed } = dechunk(received);
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(streamed).toContain('"text":"The weather in Vienna"');
    await upstream.whenStreamsParked(1);
    // A reset is seen by workerd at once; a graceful close only at its next write (next test).
    socket.resetAndDestroy();
    await aborted;
    upstream.releaseStreams();

    // The gateway is none the worse for it.
    const res = await fetch(`${gateway.url}/api/agents/weatherAgent/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${await stack.token(ADMIN)}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: "What is the weather in Vienna?" }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Vienna")));
  });

  it("an aborted fetch cancels the upstream response at the upstream's next write", async () => {
    const arrived = scripted.next("/drip");
    const disconnect = new AbortController();
    const res = await fetch(`${dripping.url}/drip`, {
      headers: { authorization: `Bearer ${await stack.token(ADMIN)}` },
      signal: disconnect.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("chunk-1\n");
    disconnect.abort();

    // Like an SSE keep-alive: the upstream goes on writing until the gateway hangs up on it.
    const { res: upstreamRes, closed } = await arrived;
    let stopped = false;
    const heartbeat = setInterval(() => {
      if (!stopped) upstreamRes.write("tick\n");
    }, 5);
    try {
      await expect(closed).resolves.toEqual({ ended: false });
    } finally {
      stopped = true;
      clearInterval(heartbeat);
    }
  });
});

describe("path normalisation: a protected path never passes for a public one", () => {
  // PUBLIC_PATHS=/api/auth/* sits right next to the protected /api/agents.
  const SAME_AS_AGENTS = [
    "/api/auth/../agents",
    "/api/auth/%2e%2e/agents",
    "/api/auth/%2E%2E/agents",
    "/api/auth/.%2e/agents",
    "/api/auth/./../agents",
    "//api/agents",
    "/api//agents",
    "/api/%61gents",
    "/api/auth/../../api/agents",
  ];
  const REFUSED = ["/api/agents%2Fx", "/api/auth/..%2Fagents", "/api/auth/..%2fagents", "/api/auth/%2e%2e%2fagents", "/api/auth/..%5Cagents", "/api/agents/%00"];

  it.each(SAME_AS_AGENTS)("%s without a token → 401, never forwarded", async (target) => {
    const mark = stack.upstream.requests.length;
    const res = await rawRequest(stack.gateway.url, target);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ error: "unauthorized", reason: "session-token-missing" });
    expect(stack.upstream.requests.slice(mark)).toEqual([]);
  });

  it.each(REFUSED)("%s → 400 path-invalid, never forwarded", async (target) => {
    const mark = stack.upstream.requests.length;
    const res = await rawRequest(stack.gateway.url, target, { authorization: `Bearer ${await stack.token(ADMIN)}` });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: "bad_request", reason: "path-invalid" });
    expect(stack.upstream.requests.slice(mark)).toEqual([]);
  });

  it("with a token, the normalised path is the one forwarded (the one the rules saw)", async () => {
    const token = await stack.token(ADMIN);
    const mark = stack.upstream.requests.length;
    for (const target of SAME_AS_AGENTS) {
      const res = await rawRequest(stack.gateway.url, target, { authorization: `Bearer ${token}` });
      expect(res.status, target).toBe(200);
    }
    expect(stack.upstream.requests.slice(mark).map((r) => r.path)).toEqual(SAME_AS_AGENTS.map(() => "/api/agents"));
  });

  it("a rule cannot be dodged by spelling either: member → 403 on every spelling", async () => {
    const token = await stack.token(MEMBER);
    const mark = stack.upstream.requests.length;
    for (const target of ["/api/agents/weatherAgent/generate", "/api/auth/../agents/weatherAgent/generate", "/api/agents/%77eather-agent/generate", "/api/agents//weather-agent/generate/", "/api/agents/weather-agent/./generate"]) {
      const res = await rawRequest(stack.gateway.url, target, { authorization: `Bearer ${token}`, "content-type": "application/json" }, "POST");
      expect(res.status, target).toBe(403);
      expect(JSON.parse(res.body)).toEqual({ error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" });
    }
    expect(stack.upstream.requests.slice(mark)).toEqual([]);
  });

  it("what does pass without a token stays under the public prefix", async () => {
    const mark = stack.upstream.requests.length;
    for (const target of ["/api/auth/capabilities", "/api/auth/%252e%252e/agents", "/api/auth/..;/agents", "/api/auth/x?/../../agents"]) {
      const res = await rawRequest(stack.gateway.url, target);
      expect(res.status, target).not.toBe(401);
    }
    const seen = stack.upstream.requests.slice(mark);
    expect(seen.length).toBe(4);
    for (const r of seen) {
      expect(r.path.startsWith("/api/auth/")).toBe(true);
      expect(r.headers["x-clerk-user-id"]).toBeUndefined();
    }
    // Mastra answers none of the dressed-up spellings with its agents list.
    expect(seen.map((r) => r.path)).not.toContain("/api/agents");
  });
});

describe("CORS", () => {
  const preflight = (origin: string) =>
    fetch(`${stack.gateway.url}/api/agents/weatherAgent/stream`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-mastra-client-type, a2a-version",
      },
    });

  it.each([ORIGIN, OTHER_ALLOWED])("preflight from allowed origin %s → 204 with the full policy, answered at the edge", async (origin) => {
    const mark = stack.upstream.requests.length;
    const res = await preflight(origin);
    expect(res.status).toBe(204);
    const cors = corsOf(res.headers);
    expect(cors["access-control-allow-origin"]).toBe(origin);
    expect(cors["access-control-allow-credentials"]).toBe("true");
    expect(cors["access-control-allow-methods"]!.split(/,\s*/)).toEqual(expect.arrayContaining(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]));
    const allowHeaders = cors["access-control-allow-headers"]!.toLowerCase().split(/,\s*/);
    expect(allowHeaders).toEqual(expect.arrayContaining(["authorization", "content-type", "x-mastra-client-type", "a2a-version"]));
    expect(Number(cors["access-control-max-age"])).toBeGreaterThan(0);
    expect(res.headers.get("vary")).toMatch(/Origin/);
    expect(stack.upstream.requests.slice(mark)).toEqual([]);
  });

  it.each(["http://evil.test", "http://127.0.0.1:5174", "https://127.0.0.1:5173", "http://127.0.0.1:5173.evil.test", "null"])(
    "preflight from %s → no CORS headers at all",
    async (origin) => {
      const mark = stack.upstream.requests.length;
      const res = await preflight(origin);
      expect(corsOf(res.headers)).toEqual({});
      expect(stack.upstream.requests.slice(mark)).toEqual([]);
    },
  );

  it("401, 403 and 400 carry CORS headers for an allowed origin, so the browser can read them", async () => {
    const unauth = await fetch(`${stack.gateway.url}/api/agents`, { headers: { origin: ORIGIN } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(unauth.headers.get("access-control-expose-headers")).toMatch(/WWW-Authenticate/i);

    const forbidden = await fetch(`${stack.gateway.url}/api/agents/weather-agent/generate`, {
      method: "POST",
      headers: { origin: ORIGIN, authorization: `Bearer ${await stack.token(MEMBER)}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get("access-control-allow-origin")).toBe(ORIGIN);

    const bad = await rawRequest(stack.gateway.url, "/api/agents%2Fx", { origin: ORIGIN });
    expect(bad.status).toBe(400);
    expect(bad.headers["access-control-allow-origin"]).toBe(ORIGIN);
  });

  it("a disallowed origin gets the answer without CORS headers (the browser then hides it)", async () => {
    const res = await fetch(`${stack.gateway.url}/api/agents`, {
      headers: { origin: "http://evil.test", authorization: `Bearer ${await stack.token(ADMIN)}` },
    });
    expect(res.status).toBe(200);
    expect(corsOf(res.headers)).toEqual({});
    expect(res.headers.get("vary")).toMatch(/Origin/);
  });
});
