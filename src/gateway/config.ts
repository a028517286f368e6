import { ConfigError } from "../core/errors.js";
import { nonEmpty } from "../core/env.js";
import { compileRules, rulesSelectTargets, type CompiledRule } from "../authorize/rules.js";
import { parsePublicPaths, type PublicPath } from "../authorize/public-paths.js";
import { parseRolePermissions } from "../authorize/permissions.js";
import { parseUnknownRoutes, type UnknownRoutes } from "../authorize/unknown-routes.js";
import { parseMcpServers, type McpServers } from "../routes/mcp-resource.js";
import { parseApiPrefix, routeTable, type RouteTable } from "../routes/table.js";
import { parseCorsOrigins, type CorsConfig } from "../http/cors.js";
import { resolveProxyConfig, type ProxyConfig } from "../proxy/config.js";
import { parseDirectorySettings, type AgentDirectorySettings } from "../proxy/agent-directory-store.js";
import { selectedAgents } from "../routes/selector.js";
import { resolveSpendGuard, type SpendGuardConfig, type SpendGuardEnv } from "../spend-guard/config.js";
import type { GatewayEnv } from "./env.js";

/**
 * Everything the gateway decides per request besides verification — which paths are public, the
 * rules, CORS, the spend guard, where to forward — validated once per isolate. Each feature
 * parses its own variables; this only calls them (the assembler sits above the features, as
 * Envoy's `filter_config.h` includes `matcher.h` and `verifier.h`).
 */
export interface RequestPolicy {
  publicPaths: PublicPath[];
  rules: CompiledRule[];
  /** Mastra's routes under MASTRA_API_PREFIX: what `resources`/`actions`/`agents` selectors match. */
  routes: RouteTable;
  /**
   * MCP_SERVERS: the MCP servers whose transports the gateway serves as OAuth protected resources
   * (metadata, challenge); null: every one. The transports of the others are not served (404).
   */
  mcpServers: McpServers;
  /** UNKNOWN_ROUTES: requests under the prefix that are none of Mastra's routes. */
  unknownRoutes: UnknownRoutes;
  /** Some rule or limit names agents, workflows or tools: routes naming theirs in the body have it read. */
  readsBodyTargets: boolean;
  cors: CorsConfig | null;
  /** Null: no upstream, the Worker is a pure auth service (`/auth/me`, `/healthz`). */
  proxy: ProxyConfig | null;
  /** RATE_LIMITS and QUOTAS. */
  spendGuard: SpendGuardConfig;
  /**
   * The upstream's agent directory (`AGENT_DIRECTORY`): set when some rule or limit names agents,
   * there is an upstream to ask, and it is not switched off. `names`: every agent name they list.
   */
  agentDirectory: { settings: AgentDirectorySettings; names: readonly string[] } | null;
  /** METRICS_TOKEN; null keeps `/metrics` disabled (the path is then an ordinary protected one). */
  metricsToken: string | null;
}

export function resolveRequestPolicy(env: GatewayEnv): RequestPolicy {
  const routes = routeTable(parseApiPrefix(env.MASTRA_API_PREFIX));
  const rules = compileRules(env.AUTH_RULES, "AUTH_RULES", { table: routes, rolePermissions: parseRolePermissions(env.ROLE_PERMISSIONS, routes) });
  const spendGuard = resolveSpendGuard(env as SpendGuardEnv, routes);
  const proxy = resolveProxyConfig(env);
  const settings = parseDirectorySettings(env);
  const names = new Set<string>();
  for (const entry of [...rules, ...spendGuard.limits]) for (const name of selectedAgents(entry.selector) ?? []) names.add(name);
  return {
    publicPaths: parsePublicPaths(env.PUBLIC_PATHS),
    rules,
    routes,
    mcpServers: parseMcpServers(env.MCP_SERVERS),
    unknownRoutes: parseUnknownRoutes(env.UNKNOWN_ROUTES),
    readsBodyTargets: rulesSelectTargets(rules) || spendGuard.selectsTargets,
    cors: parseCorsOrigins(env.CORS_ORIGINS),
    proxy,
    agentDirectory: settings && proxy && names.size > 0 ? { settings, names: [...names].sort() } : null,
    spendGuard,
    metricsToken: parseMetricsToken(env.METRICS_TOKEN),
  };
}

function parseMetricsToken(value: string | undefined): string | null {
  if (!nonEmpty(value)) return null;
  const token = value.trim();
  // Never echo it: it is a secret.
  if (token.length < 16 || /[\s,]/.test(token)) throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters without spaces or commas");
  return token;
}
