// Where a gateway request's time goes, measured inside workerd: the real gateway and its parts,
// each called N times in a loop, against the same request with the upstream replaced by an
// in-isolate service binding (so that no network time is in the figures). BENCHMARKS.md §5.

import { Hono } from "hono";
import { compactVerify } from "jose";
import { extractToken } from "../src/credentials/token.js";
import { createGateway } from "../src/gateway/app.js";
import { silentLogger } from "../src/core/log.js";
import { forward } from "../src/proxy/forward.js";
import { dropHopByHop, upstreamHeaders } from "../src/proxy/headers.js";
import { ClerkTokenVerifier } from "../src/verify/verifier.js";
import { isPublic } from "../src/authorize/public-paths.js";

/**
 * Requests as Mastra clients send them (issue #11's route classification is on the hot path):
 * agents, workflows, memory, the Responses API, MCP, A2A, a custom route and the health probe.
 */
const MASTRA_REQUESTS: readonly [string, string][] = [
  ["GET", "/api/agents"],
  ["POST", "/api/agents/weatherAgent/generate"],
  ["POST", "/api/agents/weatherAgent/stream/vnext"],
  ["GET", "/api/workflows/weatherWorkflow/runs/run_1"],
  ["POST", "/api/memory/threads/thread_1/messages"],
  ["GET", "/api/v1/responses/resp_1"],
  ["POST", "/api/mcp/server1/mcp"],
  ["POST", "/api/a2a/weatherAgent"],
  ["POST", "/api/custom/route"],
  ["GET", "/health"],
];

interface Input {
  token: string;
  jwksUrl: string;
  issuer: string;
  iterations: number;
  cycles: number;
}

export default {
  async fetch(request, env, ctx) {
    try {
      const input = (await request.json()) as Input;
      return Response.json(await breakdown(input, env, ctx));
    } catch (error) {
      return Response.json({ error: String((error as Error)?.message ?? error) }, { status: 500 });
    }
  },
} satisfies ExportedHandler;

async function breakdown(input: Input, env: unknown, ctx: ExecutionContext) {
  const upstreamHeadersOut = { "content-type": "text/plain", "content-length": "2" };
  const upstream = { fetch: async () => new Response("ok", { headers: upstreamHeadersOut }) } as unknown as Fetcher;
  const gateway = createGateway(
    { CLERK_JWKS_URI: input.jwksUrl, CLERK_ISSUER: input.issuer, MASTRA: upstream, PUBLIC_PATHS: "/api,/api/auth/*", LOG_LEVEL: "error" },
    { logger: silentLogger },
  );
  // What autocannon sends, plus the token.
  const headers = { host: "127.0.0.1:8787", "user-agent": "autocannon", authorization: `Bearer ${input.token}` };
  const make = (path: string) => new Request(`http://127.0.0.1:8787${path}`, { headers });
  const first = await gateway.fetch(make("/api/agents"), env, ctx);
  if (first.status !== 200) throw new Error(`gateway answered ${first.status}: ${await first.text()}`);
  const identity = (await gateway.verifier!.verify(input.token)).identity;
  const proxy = gateway.routing!.proxy!;
  const bareHono = new Hono();
  for (let i = 0; i < 4; i++) bareHono.use("*", async (_c, next) => next());
  bareHono.all("*", (c) => upstream.fetch(c.req.raw));
  const incoming = make("/api/agents").headers;
  // The cold path on one token: a verifier whose cache keeps nothing misses every time.
  const uncached = new ClerkTokenVerifier(gateway.verifier!.config, gateway.verifier!.keys, { cacheSize: 0 });
  const kid = JSON.parse(atob(input.token.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))).kid as string;
  const { key } = await gateway.verifier!.keys.getKey(kid, {});

  const lastDot = input.token.lastIndexOf(".");
  const signedBytes = new TextEncoder().encode(input.token.slice(0, lastDot));
  const sigBinary = atob(input.token.slice(lastDot + 1).replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - ((input.token.length - lastDot - 1) % 4)) % 4));
  const sigBytes = Uint8Array.from(sigBinary, (c) => c.charCodeAt(0));
  // The shipped PUBLIC_PATHS (wrangler.toml): plain method + path pattern matching, what every request pays.
  const shippedPublicPaths = createGateway(
    {
      CLERK_JWKS_URI: input.jwksUrl,
      CLERK_ISSUER: input.issuer,
      MASTRA: upstream,
      PUBLIC_PATHS: "GET /api/auth/capabilities, GET /api/auth/me, GET /api/auth/sso/login, GET /api/auth/sso/callback, POST /api/auth/logout, POST /api/auth/refresh, POST /api/auth/credentials/sign-in, POST /api/auth/credentials/sign-up, GET /health",
    },
    { logger: silentLogger },
  ).policy!.publicPaths;
  const table = gateway.policy!.routes;
  let next = 0;
  const request = () => MASTRA_REQUESTS[next++ % MASTRA_REQUESTS.length]!;
  if (table.classify("POST", "/api/agents/weatherAgent/generate").match?.route.path !== "/agents/:agentId/generate") throw new Error("the route table misclassifies");
  const cases: Record<string, () => unknown> = {
    "pass-through handler": () => {
      const r = make("/api/agents");
      return upstream.fetch(new Request("http://upstream/api/agents", { method: r.method, headers: r.headers }));
    },
    "gateway: GET /api/agents (auth + rules + forward)": () => gateway.fetch(make("/api/agents"), env, ctx),
    "gateway: GET /auth/me (auth, no forward)": () => gateway.fetch(make("/auth/me"), env, ctx),
    "Hono, 4 empty middlewares + handler": () => bareHono.fetch(make("/api/agents"), env, ctx),
    "verifier.verify (hot)": () => gateway.verifier!.verify(input.token),
    "verifier.verify (cold: cache off, keys in memory)": () => uncached.verify(input.token),
    "↳ cold: crypto.subtle.verify (the signature, as the verifier does it)": () => crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, key, sigBytes, signedBytes),
    "jose compactVerify (what the verifier used before, for comparison)": () => compactVerify(input.token, key, { algorithms: ["RS256"] }),
    "extractToken": () => extractToken(incoming),
    "forward() (headers, timer, abort wiring, Request/Response)": () => forward({ request: make("/api/agents"), path: "/api/agents", identity }, proxy, silentLogger),
    "upstreamHeaders": () =>
      upstreamHeaders(incoming, { identity, identityHeaders: [], reserved: new Set(), forwardAuthorization: true, clientIp: null, proto: "http", host: "127.0.0.1:8787", websocket: false }),
    "dropHopByHop": () => dropHopByHop(new Headers(upstreamHeadersOut)),
    "new Request (the loop's own cost)": () => make("/api/agents"),
    [`route classification: \`RouteTable.classify\` over ${MASTRA_REQUESTS.length} Mastra requests in turn`]: () => {
      const [method, path] = request();
      return table.classify(method, path);
    },
    [`plain path matching: \`isPublic\` (the shipped PUBLIC_PATHS, 9 patterns) over the same requests`]: () => {
      const [method, path] = request();
      return isPublic(shippedPublicPaths, method, path);
    },
    "the loop alone (pick the next request), for the two rows above": () => request(),
  };
  // These cost a fraction of a µs: 50 times the calls, so that a round lasts long enough for the isolate's clock.
  const repeat = (name: string) => (name.startsWith("route classification") || name.startsWith("plain path matching") || name.startsWith("the loop alone") ? 50 : 1);
  const names = Object.keys(cases);
  const rounds: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let c = 0; c < input.cycles; c++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(c + k) % names.length]!;
      const fn = cases[name]!;
      const calls = input.iterations * repeat(name);
      const start = performance.now();
      for (let i = 0; i < calls; i++) await fn();
      rounds[name]!.push(((performance.now() - start) * 1000) / calls);
    }
  }
  return { iterations: input.iterations, cycles: input.cycles, usPerCall: rounds };
}
