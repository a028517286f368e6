// Which MCP resource a request reaches (src/routes/mcp-resource.ts), as a table, and against
// @mastra/server's own transport routes (their responseType says which transport each serves).

import { SERVER_ROUTES } from "@mastra/server/server-adapter";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import { mcpResourcePath, metadataResourcePath, parseMcpServers } from "../../src/routes/mcp-resource.js";
import { RouteTable } from "../../src/routes/table.js";

const api = new RouteTable("/api");
const root = new RouteTable("/");
const custom = new RouteTable("/v2/mastra");
const only = new Set(["weather"]);

// [method, path, table, MCP_SERVERS, resource path or null]
const CASES: [string, string, RouteTable, ReadonlySet<string> | null, string | null][] = [
  // Streamable HTTP: every method of the endpoint is the resource itself.
  ["POST", "/api/mcp/weather/mcp", api, null, "/api/mcp/weather/mcp"],
  ["GET", "/api/mcp/weather/mcp", api, null, "/api/mcp/weather/mcp"],
  ["DELETE", "/api/mcp/weather/mcp", api, null, "/api/mcp/weather/mcp"],
  ["HEAD", "/api/mcp/weather/mcp", api, null, "/api/mcp/weather/mcp"],
  ["POST", "/api/mcp/weather/mcp/", api, null, "/api/mcp/weather/mcp"],
  // HTTP+SSE: the stream and the message endpoint it announces are the /sse resource.
  ["GET", "/api/mcp/weather/sse", api, null, "/api/mcp/weather/sse"],
  ["POST", "/api/mcp/weather/messages", api, null, "/api/mcp/weather/sse"],
  ["GET", "/api/mcp/weather/messages", api, null, null],
  // The server id as the client wrote it; `v0` is a server id here, not the registry.
  ["POST", "/api/mcp/my%20server/mcp", api, null, "/api/mcp/my%20server/mcp"],
  ["POST", "/api/mcp/v0/mcp", api, null, "/api/mcp/v0/mcp"],
  // MCP_SERVERS restricts (compared with the decoded id).
  ["POST", "/api/mcp/weather/mcp", api, only, "/api/mcp/weather/mcp"],
  ["POST", "/api/mcp/weather/messages", api, only, "/api/mcp/weather/sse"],
  ["POST", "/api/mcp/other/mcp", api, only, null],
  ["POST", "/api/mcp/my%20server/mcp", api, new Set(["my server"]), "/api/mcp/my%20server/mcp"],
  // Mastra's other MCP routes are its REST API, not a transport.
  ["GET", "/api/mcp/v0/servers", api, null, null],
  ["GET", "/api/mcp/weather/tools", api, null, null],
  ["POST", "/api/mcp/weather/tools/forecast/execute", api, null, null],
  ["POST", "/api/mcp/weather/mcp/extra", api, null, null],
  ["POST", "/api/mcp//mcp", api, null, null],
  ["POST", "/mcp/weather/mcp", api, null, null],
  ["POST", "/api/agents/weather/generate", api, null, null],
  // Other API prefixes.
  ["POST", "/mcp/weather/mcp", root, null, "/mcp/weather/mcp"],
  ["GET", "/mcp/weather/sse", root, null, "/mcp/weather/sse"],
  ["POST", "/v2/mastra/mcp/weather/messages", custom, null, "/v2/mastra/mcp/weather/sse"],
  ["POST", "/api/mcp/weather/mcp", custom, null, null],
];

describe("mcpResourcePath", () => {
  it.each(CASES)("%s %s", (method, path, table, servers, expected) => {
    expect(mcpResourcePath(method, path, table, servers)).toBe(expected);
  });

  it("knows every transport route @mastra/server serves, and which transport it belongs to", () => {
    const transports = (SERVER_ROUTES as unknown as { method: string; path: string; responseType?: string }[]).filter((r) =>
      r.responseType?.startsWith("mcp-"),
    );
    expect(transports.length).toBeGreaterThanOrEqual(3);
    for (const route of transports) {
      const path = `/api${route.path.replace(":serverId", "s1")}`;
      const method = route.method === "ALL" ? "POST" : route.method;
      const expected = route.responseType === "mcp-http" ? "/api/mcp/s1/mcp" : "/api/mcp/s1/sse";
      expect(mcpResourcePath(method, path, api, null), `${route.method} ${route.path}`).toBe(expected);
    }
  });
});

describe("metadataResourcePath", () => {
  it.each([
    ["/.well-known/oauth-protected-resource", null, ""],
    ["/.well-known/oauth-protected-resource/", null, ""],
    ["/.well-known/oauth-protected-resource/api/mcp/weather/mcp", null, "/api/mcp/weather/mcp"],
    ["/.well-known/oauth-protected-resource/api/mcp/weather/sse", null, "/api/mcp/weather/sse"],
    ["/.well-known/oauth-protected-resource/api/mcp/weather/messages", null, null],
    ["/.well-known/oauth-protected-resource/api/mcp/weather/mcp/", null, null],
    ["/.well-known/oauth-protected-resource/api/mcp/weather/mcp", only, "/api/mcp/weather/mcp"],
    ["/.well-known/oauth-protected-resource/api/mcp/other/mcp", only, null],
    ["/.well-known/oauth-protected-resource/api/agents", null, null],
    ["/.well-known/oauth-protected-resourcex", null, null],
    ["/.well-known/oauth-authorization-server", null, null],
  ] as const)("%s", (path, servers, expected) => {
    expect(metadataResourcePath(path, api, servers)).toBe(expected);
  });
});

describe("MCP_SERVERS", () => {
  it("unset is every server; a list restricts", () => {
    expect(parseMcpServers(undefined)).toBeNull();
    expect(parseMcpServers("  ")).toBeNull();
    expect([...parseMcpServers(" weather, notes ,")!]).toEqual(["weather", "notes"]);
  });

  it.each([",", "a/b", "a b"])("refuses %j, naming the variable", (value) => {
    expect(() => parseMcpServers(value)).toThrow(ConfigError);
    expect(() => parseMcpServers(value)).toThrow(/MCP_SERVERS/);
  });
});
