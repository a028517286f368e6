// End to end: the real MCP TypeScript SDK client → the gateway bundled by wrangler and running in
// workerd → a real Mastra MCP server (@mastra/mcp's MCPServer on the demo Mastra). The dev issuer
// plays Clerk's OAuth authorization server; the client does what Claude or Cursor do: it meets the
// 401, reads the gateway's protected resource metadata, registers itself, sends the "user" through
// the authorization endpoint (consent is automatic; the redirect comes back to a loopback server
// of this test), exchanges the code with PKCE and calls the tool with the access token.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupWeather } from "../../../scripts/mastra-demo/server.mjs";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import { startStack, type Stack } from "./support/stack.js";

const OAUTH_USER = "user_mcp_e2e";

/** The redirect target of a native MCP client: a loopback HTTP server that takes the code. */
class LoopbackCallback {
  readonly #server: Server;
  readonly #waiters: Array<(query: URLSearchParams) => void> = [];
  url = "";
  constructor() {
    this.#server = createServer((req, res) => {
      const query = new URL(req.url ?? "/", "http://127.0.0.1").searchParams;
      res.writeHead(200, { "content-type": "text/plain" }).end("You can close this window.");
      this.#waiters.shift()?.(query);
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/callback`;
  }
  next(): Promise<URLSearchParams> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * An OAuthClientProvider as a native MCP client implements it: state in memory, and a "browser"
 * that opens the authorization URL and follows the redirect to the loopback callback.
 */
class TestProvider implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";
  expectedState = crypto.randomUUID();
  code: Promise<string> | null = null;
  constructor(readonly callback: LoopbackCallback) {}
  get redirectUrl() {
    return this.callback.url;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: "mastra-edge-auth e2e", redirect_uris: [this.callback.url], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" };
  }
  state() {
    return this.expectedState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  /** The user agent: the consent is automatic, so the authorization endpoint redirects at once. */
  async redirectToAuthorization(url: URL) {
    const received = this.callback.next();
    const consent = await fetch(url, { redirect: "manual" });
    expect(consent.status).toBe(302);
    await (await fetch(consent.headers.get("location")!)).text();
    const query = await received;
    expect(query.get("state")).toBe(this.expectedState);
    this.code = Promise.resolve(query.get("code")!);
  }
}

let stack: Stack;
let callback: LoopbackCallback;
/** Every request the MCP client made (discovery, registration, token, MCP), in order. */
const seen: string[] = [];
const recordingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const response = await fetch(request);
  seen.push(`${request.method} ${request.url} ${response.status}`);
  return response;
};

beforeAll(async () => {
  callback = new LoopbackCallback();
  await callback.listen();
  stack = await startStack({ upstream: { mcp: true }, issuer: { oauthUser: OAUTH_USER } });
});

afterAll(async () => {
  await stack?.close();
  await callback?.close();
});

function mcpUrl(gateway: string, server = "weather", transport = "mcp") {
  return new URL(`${gateway}/api/mcp/${server}/${transport}`);
}

/** Connects an SDK client through the whole OAuth dance; returns it connected, with its provider. */
async function authorizedClient(serverUrl: URL, kind: "http" | "sse" = "http"): Promise<{ client: Client; provider: TestProvider }> {
  const provider = new TestProvider(callback);
  const open = () =>
    kind === "http"
      ? new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch })
      : new SSEClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch });
  const first = new Client({ name: "e2e", version: "1.0.0" });
  await expect(first.connect(open())).rejects.toBeInstanceOf(UnauthorizedError);
  expect(provider.code, "the client was sent to the authorization endpoint").not.toBeNull();
  const transport = open();
  await transport.finishAuth(await provider.code!);
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, provider };
}

describe("an MCP client through the gateway", () => {
  it("without a token: the 401 names the resource's metadata, which names the Clerk instance", async () => {
    const url = mcpUrl(stack.gateway.url);
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "1" } } }),
    });
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate")!;
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`${stack.gateway.url}/.well-known/oauth-protected-resource/api/mcp/weather/mcp`);

    const metadata = (await (await fetch(metadataUrl!)).json()) as { resource: string; authorization_servers: string[] };
    expect(metadata.resource).toBe(url.href);
    expect(metadata.authorization_servers).toEqual([stack.issuer.issuer]);
    const server = (await (await fetch(`${metadata.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(server).toMatchObject({ issuer: stack.issuer.issuer, registration_endpoint: `${stack.issuer.issuer}/oauth/register`, code_challenge_methods_supported: ["S256"] });
  });

  it("discovers, registers, obtains a token for the resource and lists and calls a tool of the Mastra MCP server", async () => {
    const mark = stack.upstream.requests.length;
    seen.length = 0;
    const url = mcpUrl(stack.gateway.url);
    const { client, provider } = await authorizedClient(url);
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toEqual(["weatherTool"]);
      const result = await client.callTool({ name: "weatherTool", arguments: { location: "Paris" } });
      expect(result.isError).toBe(false);
      expect(result.structuredContent).toEqual(lookupWeather("Paris"));
    } finally {
      await client.close();
    }

    // The way in was the challenge: the client read the gateway's metadata, then Clerk's (the dev issuer's).
    const gw = stack.gateway.url;
    const iss = stack.issuer.issuer;
    const order = (prefix: string) => seen.findIndex((s) => s.startsWith(prefix));
    expect(seen[0]).toBe(`POST ${url.href} 401`);
    expect(order(`GET ${gw}/.well-known/oauth-protected-resource/api/mcp/weather/mcp 200`)).toBeGreaterThan(0);
    expect(order(`GET ${iss}/.well-known/oauth-authorization-server 200`)).toBeGreaterThan(order(`GET ${gw}/.well-known/oauth-protected-resource`));
    expect(order(`POST ${iss}/oauth/register 201`)).toBeGreaterThan(order(`GET ${iss}/.well-known/oauth-authorization-server`));
    expect(order(`POST ${iss}/oauth/token 200`)).toBeGreaterThan(order(`POST ${iss}/oauth/register`));

    // A Clerk-shaped OAuth access token for exactly this resource (RFC 8707), for the user who consented.
    const token = provider.saved!.access_token;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "RS256", typ: "at+jwt", kid: stack.issuer.key.kid });
    expect(decodeJwt(token)).toMatchObject({ iss, sub: OAUTH_USER, aud: url.href, client_id: provider.client!.client_id, scope: "profile email" });

    // Every MCP request reached Mastra with that token, and only after the gateway let it through.
    const reached = stack.upstream.requests.slice(mark);
    expect(reached.length).toBeGreaterThanOrEqual(3);
    for (const r of reached) {
      expect(r.path).toBe("/api/mcp/weather/mcp");
      expect(r.headers.authorization).toBe(`Bearer ${token}`);
    }
  });

  it("the SSE transport: its stream and message endpoint are the /sse resource", async () => {
    const mark = stack.upstream.requests.length;
    seen.length = 0;
    const url = mcpUrl(stack.gateway.url, "weather", "sse");
    const { client, provider } = await authorizedClient(url, "sse");
    try {
      const result = await client.callTool({ name: "weatherTool", arguments: { location: "Oslo" } });
      expect(result.structuredContent).toEqual(lookupWeather("Oslo"));
    } finally {
      await client.close();
    }
    expect(seen).toContain(`GET ${stack.gateway.url}/.well-known/oauth-protected-resource/api/mcp/weather/sse 200`);
    const token = provider.saved!.access_token;
    expect(decodeJwt(token).aud).toBe(url.href);
    const reached = stack.upstream.requests.slice(mark);
    expect(reached.map((r) => r.path)).toContain("/api/mcp/weather/messages");
    for (const r of reached) expect(r.headers.authorization).toBe(`Bearer ${token}`);
  });

  it("the token is for that resource only: another MCP server's and Mastra's other routes refuse it", async () => {
    const { client, provider } = await authorizedClient(mcpUrl(stack.gateway.url));
    await client.close();
    const auth = { authorization: `Bearer ${provider.saved!.access_token}` };
    const other = await fetch(mcpUrl(stack.gateway.url, "notes"), { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" });
    expect(other.status).toBe(401);
    expect(((await other.json()) as { reason: string }).reason).toBe("token-invalid-audience");
    expect(other.headers.get("www-authenticate")).toContain(`resource_metadata="${stack.gateway.url}/.well-known/oauth-protected-resource/api/mcp/notes/mcp"`);
    const sse = await fetch(mcpUrl(stack.gateway.url, "weather", "sse"), { headers: auth });
    expect(sse.status).toBe(401);
    expect(((await sse.json()) as { reason: string }).reason).toBe("token-invalid-audience");
    const agents = await fetch(`${stack.gateway.url}/api/agents`, { headers: auth });
    expect(agents.status).toBe(401);
    expect(((await agents.json()) as { reason: string }).reason).toBe("token-type-mismatch");
  });
});

describe("session tokens on MCP routes", () => {
  let configured: RunningGateway | undefined;
  afterAll(async () => {
    await configured?.close();
  });

  it("are refused unless a rule accepts them there", async () => {
    const session = await stack.token({ sub: "user_browser", ttlSeconds: 600 });
    const initialize = {
      method: "POST",
      headers: { authorization: `Bearer ${session}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "s", version: "1" } } }),
    };
    const refused = await fetch(mcpUrl(stack.gateway.url), initialize);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { reason: string }).reason).toBe("token-type-mismatch");
    expect(refused.headers.get("www-authenticate")).toContain("resource_metadata=");

    configured = await startGateway({
      vars: {
        CLERK_ISSUER: stack.issuer.issuer,
        CLERK_JWKS_URI: stack.issuer.jwksUrl,
        MASTRA_URL: stack.upstream.url,
        LOG_LEVEL: "warn",
        AUTH_RULES: JSON.stringify([{ id: "mcp-sessions", resources: ["mcp"], accepts: ["session", "oauth"] }]),
      },
    });
    const accepted = await fetch(mcpUrl(configured.url), initialize);
    expect(accepted.status).toBe(200);
    await accepted.body?.cancel();
  });
});
