/**
 * The Worker's bindings and variables. Every variable is optional at the type level because a
 * missing one is a configuration error reported at run time (`misconfigured`), not a crash.
 * The names are a public contract: see docs/configuration.md. Each feature reads its own part
 * (`ClerkEnv`, `ProxyEnv`, `SpendGuardEnv`); this is their union, listed in full so that the
 * docs and `.dev.vars.example` can be checked against it.
 */
export interface GatewayEnv {
  /** KV namespace caching the JWKS across isolates. */
  JWKS_CACHE?: KVNamespace;

  CLERK_PUBLISHABLE_KEY?: string;
  CLERK_SECRET_KEY?: string;
  CLERK_JWKS_URI?: string;
  CLERK_JWT_KEY?: string;
  CLERK_API_URL?: string;
  CLERK_ISSUER?: string;
  CLERK_AUTHORIZED_PARTIES?: string;
  CLERK_CLOCK_SKEW_MS?: string;
  CLERK_ALGORITHMS?: string;
  CLERK_ACCEPT_PENDING_SESSIONS?: string;

  JWKS_CACHE_TTL_S?: string;
  JWKS_MAX_STALE_S?: string;
  JWKS_REFETCH_COOLDOWN_S?: string;
  JWKS_FETCH_TIMEOUT_MS?: string;

  LOG_LEVEL?: string;

  /** Service binding to a Mastra Worker; takes precedence over MASTRA_URL. */
  MASTRA?: Fetcher;
  MASTRA_URL?: string;
  PUBLIC_PATHS?: string;
  AUTH_RULES?: string;
  CORS_ORIGINS?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  IDENTITY_HEADERS?: string;
  FORWARD_AUTHORIZATION?: string;
  /** When set (≥ 32 characters), every forwarded authenticated request carries `x-gateway-assertion`. */
  GATEWAY_ASSERTION_SECRET?: string;

  /** Enables `GET /metrics` (Prometheus text) for `Authorization: Bearer <METRICS_TOKEN>`; ≥ 16 characters. */
  METRICS_TOKEN?: string;
  /** Workers Analytics Engine dataset: one data point per auth decision when bound. */
  AUTH_ANALYTICS?: AnalyticsEngineDataset;

  /** Spend guard (README "Spend guard"): JSON arrays of limits and daily quotas. */
  RATE_LIMITS?: string;
  QUOTAS?: string;
  /** The shipped `[[ratelimits]]` binding; RATE_LIMITS entries name theirs with `binding`. */
  RL_AGENT?: RateLimit;
  /** Exact counters (one SQLite Durable Object per user, org, session or IP). */
  // Untyped on purpose: the SpendCounter class imports `cloudflare:workers`, and this type is part
  // of the package's declarations (Node users must be able to load them).
  SPEND_COUNTER?: DurableObjectNamespace;
}
