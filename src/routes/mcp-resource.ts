import { ConfigError } from "../core/errors.js";
import { listVar } from "../core/env.js";
import { METADATA_PATH } from "../http/resource-metadata.js";
import { targetOf, type RouteMatch, type RouteTable } from "./table.js";

/**
 * Mastra's MCP servers as OAuth protected resources (MCP authorization spec 2025-06-18, §2.3 and
 * §2.5; RFC 9728; RFC 8707).
 *
 * Which resource a request reaches: the MCP spec names a server by its *canonical URI*, the URL a
 * client is configured with, and RFC 9728 §3.3 wants the metadata's `resource` to be exactly the
 * identifier the client started from. Mastra serves each server on two transports
 * (`@mastra/server`'s handlers/mcp.js), so each transport endpoint is its own resource:
 * - Streamable HTTP: `<prefix>/mcp/<serverId>/mcp` (every method) is the resource;
 * - HTTP+SSE (the 2024-11-05 transport): the client is configured with `<prefix>/mcp/<serverId>/sse`,
 *   and posts to the `<prefix>/mcp/<serverId>/messages` endpoint the stream announces — both are
 *   the `/sse` resource (the MCP SDK's `checkResourceAllowed` requires the resource to be a path
 *   prefix of the URL the client was given, so `/mcp` could not stand for `/sse`).
 * A token issued for one transport's resource is therefore not accepted on the other's.
 */

/** The transport routes of the table (paths relative to the API prefix) and the transport endpoint each belongs to. */
const TRANSPORTS: ReadonlyMap<string, "mcp" | "sse"> = new Map([
  ["/mcp/:serverId/mcp", "mcp"],
  ["/mcp/:serverId/sse", "sse"],
  ["/mcp/:serverId/messages", "sse"],
]);

/** Where RFC 9728 §3.1 puts the metadata: this path, then the resource's path (none for the origin). */
export const PROTECTED_RESOURCE_METADATA_PATH = METADATA_PATH;

/** `MCP_SERVERS`: which server ids are protected resources; null: every server Mastra serves. */
export type McpServers = ReadonlySet<string> | null;

/** `MCP_SERVERS`: a comma-separated list of Mastra MCP server ids (unset: every server). */
export function parseMcpServers(value: string | undefined, variable = "MCP_SERVERS"): McpServers {
  const ids = listVar(value, variable);
  if (!ids) return null;
  const bad = ids.find((id) => id.includes("/") || /[\s\u0000-\u001f]/.test(id));
  if (bad !== undefined) throw new ConfigError(variable, `"${bad.slice(0, 40)}" is not a server id (one path segment, e.g. myServer)`);
  return new Set(ids);
}

/** A request to an MCP server's transport: which server (decoded) and the resource it reaches. */
export interface McpTransportRequest {
  readonly serverId: string;
  readonly resourcePath: string;
}

/**
 * The MCP transport a classified request reaches, whatever `MCP_SERVERS` says: the server id (as
 * Mastra's router decodes it) and the resource path — `<prefix>/mcp/<serverId>/mcp` or
 * `<prefix>/mcp/<serverId>/sse` (see above), the server id kept as the client wrote it so the
 * resource is the URL it used. Null for every other route.
 */
export function mcpTransportOf(match: RouteMatch | null): McpTransportRequest | null {
  if (!match || match.route.outside) return null;
  const transport = TRANSPORTS.get(match.route.path);
  if (!transport) return null;
  const serverId = targetOf(match, "mcpServer");
  if (typeof serverId !== "string") return null;
  const at = match.route.targetAt.mcpServer as number;
  return { serverId, resourcePath: `/${match.segments.slice(0, at + 1).join("/")}/${transport}` };
}

/**
 * The resource path a request to an MCP transport route reaches (see {@link mcpTransportOf}), or
 * null when the request is not to a transport route, or to a server `MCP_SERVERS` leaves out.
 * `path` is the normalised request path.
 */
export function mcpResourcePath(method: string, path: string, table: RouteTable, servers: McpServers): string | null {
  const transport = mcpTransportOf(table.classify(method, path).match);
  return transport && (!servers || servers.has(transport.serverId)) ? transport.resourcePath : null;
}

/**
 * The resource whose metadata a well-known path asks for: `""` for the origin's own document
 * (`/.well-known/oauth-protected-resource`), the resource path for the path-suffixed form
 * (`/.well-known/oauth-protected-resource/api/mcp/<serverId>/mcp`), null for anything else.
 */
export function metadataResourcePath(path: string, table: RouteTable, servers: McpServers): string | null {
  if (path === PROTECTED_RESOURCE_METADATA_PATH || path === `${PROTECTED_RESOURCE_METADATA_PATH}/`) return "";
  if (!path.startsWith(`${PROTECTED_RESOURCE_METADATA_PATH}/`)) return null;
  const rest = path.slice(PROTECTED_RESOURCE_METADATA_PATH.length);
  // Only a resource's own path names it (not `/messages`, not a trailing slash).
  return mcpResourcePath("POST", rest, table, servers) === rest ? rest : null;
}
