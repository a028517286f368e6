import type { AgentDirectoryEnv } from "../proxy/agent-directory-store.js";
import type { ProxyEnv } from "../proxy/config.js";
import type { ClerkEnv } from "../verify/options.js";

/**
 * The Worker's bindings and variables. Every variable is optional at the type level because a
 * missing one is a configuration error reported at run time (`misconfigured`), not a crash.
 * The names are a public contract: see docs/configuration.md. Each feature declares the part it
 * reads (`ClerkEnv`: the `CLERK_*`/`JWKS_*` variables; `ProxyEnv`: where and how to forward);
 * the rest is read by the gateway itself. `.dev.vars.example` and the docs are checked against
 * this type (test/node/config-docs.test.ts).
 */
export interface GatewayEnv extends ClerkEnv, ProxyEnv, AgentDirectoryEnv {
  /** KV namespace caching the JWKS across isolates. */
  JWKS_CACHE?: KVNamespace;

  LOG_LEVEL?: string;

  PUBLIC_PATHS?: string;
  AUTH_RULES?: string;
  /** Token classes accepted where no rule says (`session`, `m2m`, `oauth`, `api_key`, `any`); default `session`. */
  ACCEPTS?: string;
  /** Clerk role or permission → Mastra permission patterns, for `require.permissions` (JSON, with `_default`). */
  ROLE_PERMISSIONS?: string;
  /** Where Mastra's routes are mounted (its `server.apiPrefix`); default `/api`. */
  MASTRA_API_PREFIX?: string;
  /** `allow` (default) or `deny`: requests under the prefix that are none of Mastra's routes. */
  UNKNOWN_ROUTES?: string;
  CORS_ORIGINS?: string;
  /** Comma-separated Mastra MCP server ids reachable as OAuth protected resources; unset: every server. */
  MCP_SERVERS?: string;

  /** Enables `GET /metrics` (Prometheus text) and `/healthz` details for `Authorization: Bearer <METRICS_TOKEN>`; ≥ 16 characters. */
  METRICS_TOKEN?: string;
  /** Workers Analytics Engine dataset: one data point per auth decision when bound. */
  AUTH_ANALYTICS?: AnalyticsEngineDataset;

  /** Spend guard (docs/configuration.md): JSON arrays of limits and daily quotas. */
  RATE_LIMITS?: string;
  QUOTAS?: string;
  /** The shipped `[[ratelimits]]` binding; RATE_LIMITS entries name theirs with `binding`. */
  RL_AGENT?: RateLimit;
  /**
   * Exact counters (one SQLite Durable Object per user, org, session or IP). Untyped on purpose:
   * the SpendCounter class imports `cloudflare:workers`, and this type is part of the package's
   * declarations (Node users must be able to load them).
   */
  SPEND_COUNTER?: DurableObjectNamespace;
}
