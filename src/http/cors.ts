import { ConfigError } from "../core/errors.js";
import { checkOrigin, listVar } from "../core/env.js";

export interface CorsConfig {
  /** `*`: any origin, never with credentials. */
  anyOrigin: boolean;
  origins: ReadonlySet<string>;
}

/**
 * The methods and headers Mastra's own server allows, so a Mastra front end works unchanged, and
 * the headers of MCP's Streamable HTTP transport (MCP spec 2025-06-18, "Transports": session id,
 * protocol version, stream resumption), so a browser MCP client (MCP Inspector) can connect.
 */
export const CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
export const CORS_ALLOW_HEADERS =
  "Content-Type, Authorization, x-mastra-client-type, x-mastra-dev-playground, A2A-Version, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID";
/** Headers a browser may read from our answers: the challenge, back-off and rate-limit headers, the MCP session id. */
export const CORS_EXPOSE_HEADERS = "WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, Mcp-Session-Id";
const MAX_AGE_S = "600";

export function parseCorsOrigins(value: string | undefined, variable = "CORS_ORIGINS"): CorsConfig | null {
  const entries = listVar(value, variable);
  if (!entries) return null;
  if (entries.includes("*")) {
    if (entries.length > 1) throw new ConfigError(variable, "* cannot be combined with explicit origins");
    return { anyOrigin: true, origins: new Set() };
  }
  const origins = new Set<string>();
  for (const entry of entries) origins.add(checkOrigin(entry, variable));
  return { anyOrigin: false, origins };
}

/** The CORS response headers for a request's Origin, or null when it is not allowed. */
export function corsHeaders(cors: CorsConfig | null, origin: string | null): Record<string, string> | null {
  if (!cors || !origin) return null;
  if (cors.anyOrigin) return { "access-control-allow-origin": "*", "access-control-expose-headers": CORS_EXPOSE_HEADERS };
  if (!cors.origins.has(origin)) return null;
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": CORS_EXPOSE_HEADERS,
    vary: "Origin",
  };
}

export function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS" && request.headers.has("origin") && request.headers.has("access-control-request-method");
}

/** Preflights are answered here, without a token: browsers never send credentials on them. */
export function preflightResponse(cors: CorsConfig | null, request: Request): Response {
  const allowed = corsHeaders(cors, request.headers.get("origin"));
  if (!allowed) return new Response(null, { status: 204, headers: { vary: "Origin" } });
  const headers = new Headers(allowed);
  headers.delete("access-control-expose-headers");
  headers.set("access-control-allow-methods", CORS_ALLOW_METHODS);
  headers.set("access-control-allow-headers", CORS_ALLOW_HEADERS);
  headers.set("access-control-max-age", MAX_AGE_S);
  headers.append("vary", "Access-Control-Request-Method, Access-Control-Request-Headers");
  return new Response(null, { status: 204, headers });
}

/**
 * Puts the gateway's CORS headers on a response (the upstream's own Access-Control-* headers are
 * replaced: the gateway owns the policy). Without CORS_ORIGINS the response is returned untouched.
 * A response with immutable headers (one from fetch, passed on as is) is copied first, its body
 * stream kept as is.
 */
export function withCors(response: Response, cors: CorsConfig | null, origin: string | null): Response {
  if (!cors) return response;
  const allowed = corsHeaders(cors, origin);
  try {
    applyCors(response.headers, allowed);
    return response;
  } catch {
    // Immutable: the first change threw before anything was changed.
    const out = new Response(response.body, response);
    applyCors(out.headers, allowed);
    return out;
  }
}

function applyCors(headers: Headers, allowed: Record<string, string> | null): void {
  const own: string[] = [];
  for (const name of headers.keys()) if (name.startsWith("access-control-")) own.push(name);
  for (const name of own) headers.delete(name);
  if (!allowed) {
    headers.append("vary", "Origin");
    return;
  }
  for (const [k, v] of Object.entries(allowed)) {
    if (k === "vary") headers.append("vary", v);
    else headers.set(k, v);
  }
}
