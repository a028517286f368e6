// Mastra's MCP servers as OAuth protected resources (RFC 9728, MCP authorization spec): the
// metadata documents the gateway serves, the 401 challenge on MCP transports, MCP_SERVERS.

import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { mintOAuthAccessToken } from "../../scripts/lib/clerk-token.mjs";
import { body, Clock, expectMisconfigured, FakeOrigin, harness, ISSUER, mint, newKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

function setup(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const reached: string[] = [];
  const upstream = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      reached.push(`${request.method} ${new URL(request.url).pathname}`);
      return Response.json({ jsonrpc: "2.0", id: 1, result: {} });
    },
  } as unknown as Fetcher;
  const h = harness(uniqueJwksEnv({ MASTRA: upstream, ...extra }), { fetch: origin.fetch, now: clock.now, kv: null });
  const oauth = (scopes: string[], aud = RESOURCE): Promise<string> => mintOAuthAccessToken(key, { issuer: ISSUER, now: clock.seconds, sub: "user_1", clientId: "client_mcp", aud, scopes });
  return { ...h, reached, origin, oauth, token: () => mint(key, { now: clock.seconds }) };
}

const RESOURCE = "https://gateway.test/api/mcp/weather/mcp";
const METADATA = "https://gateway.test/.well-known/oauth-protected-resource/api/mcp/weather/mcp";

describe("protected resource metadata (RFC 9728)", () => {
  it("is served for each MCP transport on the origin the client used, naming the Clerk instance", async () => {
    const { request, reached, origin } = setup();
    const response = await request("/.well-known/oauth-protected-resource/api/mcp/weather/mcp");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await body(response)).toEqual({
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      scopes_supported: ["profile", "email"],
      bearer_methods_supported: ["header"],
      resource_name: "Mastra MCP server weather",
    });
    const sse = await body(await request("/.well-known/oauth-protected-resource/api/mcp/weather/sse"));
    expect(sse.resource).toBe("https://gateway.test/api/mcp/weather/sse");
    // The gateway's own answer: nothing forwarded, no key fetched.
    expect(reached).toEqual([]);
    expect(origin.count).toBe(0);
  });

  it("the origin's own document describes the gateway", async () => {
    const { request } = setup();
    const doc = await body(await request("/.well-known/oauth-protected-resource"));
    expect(doc).toEqual({ resource: "https://gateway.test", authorization_servers: [ISSUER], scopes_supported: ["profile", "email"], bearer_methods_supported: ["header"] });
  });

  it("is public even with a token that fails, and under any PUBLIC_PATHS", async () => {
    const { request } = setup({ PUBLIC_PATHS: "GET /health" });
    const response = await request("/.well-known/oauth-protected-resource/api/mcp/weather/mcp", { headers: { authorization: "Bearer nonsense" } });
    expect(response.status).toBe(200);
  });

  it("anything else under the well-known path is 404 at the gateway, never forwarded", async () => {
    const { request, reached, logger } = setup();
    for (const path of [
      "/.well-known/oauth-protected-resource/api/agents",
      "/.well-known/oauth-protected-resource/api/mcp/weather/messages",
      "/.well-known/oauth-protected-resource/api/mcp/weather/tools",
    ]) {
      const response = await request(path);
      expect(response.status, path).toBe(404);
    }
    expect(reached).toEqual([]);
    expect(logger.lines.filter((l) => l.reason === "resource-metadata-not-found")).toHaveLength(3);
  });

  it("follows MASTRA_API_PREFIX", async () => {
    const { request } = setup({ MASTRA_API_PREFIX: "/v2" });
    expect((await request("/.well-known/oauth-protected-resource/api/mcp/weather/mcp")).status).toBe(404);
    const doc = await body(await request("/.well-known/oauth-protected-resource/v2/mcp/weather/mcp"));
    expect(doc.resource).toBe("https://gateway.test/v2/mcp/weather/mcp");
  });
});

describe("the 401 challenge on MCP transports", () => {
  it("names the resource's metadata, without and with a bad token", async () => {
    const { request, reached } = setup();
    const bare = await request("/api/mcp/weather/mcp", { method: "POST", body: "{}" });
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toBe(`Bearer realm="mastra", resource_metadata="${METADATA}"`);
    const bad = await request("/api/mcp/weather/mcp", { method: "POST", body: "{}", headers: { authorization: "Bearer not.a.jwt" } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toMatch(new RegExp(`^Bearer realm="mastra", resource_metadata="${METADATA}", error="invalid_token", error_description="[^"]+"$`));
    expect((await body(bad)).reason).toBeTruthy();
    expect(reached).toEqual([]);
  });

  it("the SSE transport and its message endpoint point at the /sse resource", async () => {
    const { request } = setup();
    const expected = `Bearer realm="mastra", resource_metadata="https://gateway.test/.well-known/oauth-protected-resource/api/mcp/weather/sse"`;
    expect((await request("/api/mcp/weather/sse")).headers.get("www-authenticate")).toBe(expected);
    expect((await request("/api/mcp/weather/messages?sessionId=x", { method: "POST", body: "{}" })).headers.get("www-authenticate")).toBe(expected);
  });

  it("other routes keep the plain challenge", async () => {
    const { request } = setup();
    for (const path of ["/api/agents", "/api/mcp/weather/tools", "/api/mcp/v0/servers"]) {
      expect((await request(path)).headers.get("www-authenticate"), path).toBe('Bearer realm="mastra"');
    }
  });

  it("a session token is refused there (ACCEPTS does not reach an MCP resource), unless a rule accepts it", async () => {
    const { request, reached, token } = setup({ ACCEPTS: "session,oauth" });
    const refused = await request("/api/mcp/weather/mcp", { method: "POST", body: "{}", headers: { authorization: `Bearer ${await token()}` } });
    expect(refused.status).toBe(401);
    expect((await body(refused)).reason).toBe("token-type-mismatch");
    expect(refused.headers.get("www-authenticate")).toContain(`resource_metadata="${METADATA}"`);
    expect(reached).toEqual([]);

    const configured = setup({ AUTH_RULES: JSON.stringify([{ id: "mcp-sessions", resources: ["mcp"], accepts: ["session", "oauth"] }]) });
    const accepted = await configured.request("/api/mcp/weather/mcp", { method: "POST", body: "{}", headers: { authorization: `Bearer ${await configured.token()}` } });
    expect(accepted.status).toBe(200);
    expect(configured.reached).toEqual(["POST /api/mcp/weather/mcp"]);
  });
});

describe("scopes on MCP transports", () => {
  it("a token short of a rule's scope gets 403 insufficient_scope naming the scopes and the metadata, so the client can step up", async () => {
    const { request, reached, oauth } = setup({ AUTH_RULES: JSON.stringify([{ id: "mcp-scopes", resources: ["mcp"], require: { scopes: ["public_metadata", "email"] } }]) });
    const call = async (token: string) => request("/api/mcp/weather/mcp", { method: "POST", body: "{}", headers: { authorization: `Bearer ${token}` } });
    const short = await call(await oauth(["profile", "email"]));
    expect(short.status).toBe(403);
    expect(await body(short)).toMatchObject({ error: "forbidden", reason: "scope-missing:public_metadata", rule: "mcp-scopes" });
    expect(short.headers.get("www-authenticate")).toBe(`Bearer realm="mastra", error="insufficient_scope", scope="public_metadata email", resource_metadata="${METADATA}"`);
    expect(reached).toEqual([]);
    expect((await call(await oauth(["public_metadata", "email"]))).status).toBe(200);
    expect(reached).toEqual(["POST /api/mcp/weather/mcp"]);
  });

  it("other refusals on MCP transports and scope refusals elsewhere carry no scope challenge", async () => {
    const rules = [
      { id: "mcp-admins", resources: ["mcp"], require: { userIds: ["user_admin"] } },
      { id: "tools", path: "/api/tools", accepts: ["oauth"], require: { scopes: ["email"] } },
    ];
    const { request, oauth } = setup({ AUTH_RULES: JSON.stringify(rules) });
    const denied = await request("/api/mcp/weather/mcp", { method: "POST", body: "{}", headers: { authorization: `Bearer ${await oauth(["email"])}` } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get("www-authenticate")).toBeNull();
    const tools = await request("/api/tools", { headers: { authorization: `Bearer ${await oauth(["profile"], "https://gateway.test")}` } });
    expect(tools.status).toBe(403);
    expect(tools.headers.get("www-authenticate")).toBeNull();
  });
});

describe("MCP_SERVERS", () => {
  it("restricts which servers are resources: the others have no metadata and their transports are not served", async () => {
    const { request, reached, token, logger } = setup({ MCP_SERVERS: "weather", AUTH_RULES: JSON.stringify([{ resources: ["mcp"], accepts: ["session"] }]) });
    expect((await request("/.well-known/oauth-protected-resource/api/mcp/weather/mcp")).status).toBe(200);
    expect((await request("/.well-known/oauth-protected-resource/api/mcp/notes/mcp")).status).toBe(404);

    const auth = { authorization: `Bearer ${await token()}` };
    for (const [method, path] of [
      ["POST", "/api/mcp/notes/mcp"],
      ["GET", "/api/mcp/notes/sse"],
      ["POST", "/api/mcp/notes/messages"],
    ] as const) {
      const response = await request(path, { method, headers: auth, body: method === "POST" ? "{}" : undefined });
      expect(response.status, path).toBe(404);
      expect(await body(response)).toMatchObject({ error: "not_found", reason: "mcp-server-not-listed" });
    }
    // Mastra's REST routes about MCP servers are not transports: unaffected.
    expect((await request("/api/mcp/notes/tools", { headers: auth })).status).toBe(200);
    expect((await request("/api/mcp/weather/mcp", { method: "POST", headers: auth, body: "{}" })).status).toBe(200);
    expect(reached).toEqual(["GET /api/mcp/notes/tools", "POST /api/mcp/weather/mcp"]);
    expect(logger.lines.filter((l) => l.reason === "mcp-server-not-listed")).toHaveLength(3);
  });

  it("a malformed list fails closed, naming the variable", async () => {
    const { request, logger } = setup({ MCP_SERVERS: "weather, a/b" });
    await expectMisconfigured(await request("/api/agents"), logger, "MCP_SERVERS", /not a server id/);
  });
});
