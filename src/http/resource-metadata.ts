/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728), as the MCP authorization spec (2025-06-18,
 * "Authorization Server Discovery") asks an MCP server to publish it: the document a client
 * fetches to learn which authorization server issues tokens for a resource, and the URL the 401
 * challenge points it to (RFC 9728 §5.1).
 */

/** RFC 9728 §3.1: the well-known path; a resource with a path has it appended (`…/api/mcp/x/mcp`). */
export const METADATA_PATH = "/.well-known/oauth-protected-resource";

/**
 * The scopes a Clerk OAuth application grants an MCP client by default, as Clerk's own MCP
 * helpers advertise them (`@clerk/mcp-tools`: `scopes_supported: ["profile", "email"]`); an MCP
 * client asks for exactly these when it has no other hint (MCP spec 2025-11-25, "Scope Selection
 * Strategy").
 */
export const MCP_SCOPES: readonly string[] = ["profile", "email"];

/** The metadata URL of a resource (`resourcePath` "" for the origin itself). */
export function metadataUrl(origin: string, resourcePath: string): string {
  return `${origin}${METADATA_PATH}${resourcePath}`;
}

/**
 * The metadata document of one resource, `resource` being the URL the client used (RFC 9728
 * §3.3: it must equal the identifier the metadata URL was built from, or the client drops it).
 * `issuer` is the Clerk instance (its Frontend API origin): Clerk's authorization server
 * publishes its RFC 8414 metadata there.
 */
export function protectedResourceMetadata(origin: string, resourcePath: string, issuer: string): Record<string, unknown> {
  return {
    resource: `${origin}${resourcePath}`,
    authorization_servers: [issuer],
    scopes_supported: MCP_SCOPES,
    // The gateway reads access tokens from the Authorization header only (RFC 6750 §2.1).
    bearer_methods_supported: ["header"],
    ...(resourcePath ? { resource_name: `Mastra MCP server ${decodeName(resourcePath.split("/").at(-2)!)}` } : {}),
  };
}

/**
 * The 403 challenge for a token that lacks a scope on a protected resource (RFC 6750 §3.1
 * `insufficient_scope`; MCP spec 2025-11-25, "Runtime Insufficient Scope Errors"): the scopes to
 * ask for and where the resource's metadata is, so the client can step up its authorization.
 */
export function insufficientScopeChallenge(realm: string, scopes: readonly string[], resourceMetadata: string): string {
  const safe = (text: string) => text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "");
  return `Bearer realm="${realm}", error="insufficient_scope", scope="${safe(scopes.join(" "))}", resource_metadata="${safe(resourceMetadata)}"`;
}

function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
