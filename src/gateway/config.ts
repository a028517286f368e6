import { compileRules, type CompiledRule } from "../authorize/rules.js";
import { parsePublicPaths, type PublicPath } from "../authorize/public-paths.js";
import { parseCorsOrigins, type CorsConfig } from "../http/cors.js";
import type { IdentityHeaderMapping } from "../proxy/headers.js";
import { AssertionKey } from "../assertion/assertion.js";
import type { ProxyConfig, Upstream } from "../proxy/forward.js";
import { boolVar, checkUrl, intVar, nonEmpty } from "../verify/options.js";
import type { GatewayEnv } from "./env.js";
import { ConfigError } from "../core/errors.js";
import { resolveSpendGuard, type SpendGuardConfig, type SpendGuardEnv } from "../spend-guard/config.js";

/** Everything about routing, authorisation and forwarding, validated once per isolate. */
export interface RoutingConfig {
  publicPaths: PublicPath[];
  rules: CompiledRule[];
  cors: CorsConfig | null;
  /** Null: no upstream, the Worker is a pure auth service. */
  proxy: ProxyConfig | null;
  /** RATE_LIMITS and QUOTAS. */
  spendGuard: SpendGuardConfig;
  /** METRICS_TOKEN; null keeps `/metrics` disabled (the path is then an ordinary protected one). */
  metricsToken: string | null;
}

const HEADER_NAME = /^[a-z0-9][a-z0-9-]*$/;
/** Names an IDENTITY_HEADERS entry may not take: they mean something else to HTTP or to us. */
const FORBIDDEN_IDENTITY = new Set(["host", "authorization", "cookie", "content-length", "content-type", "connection", "upgrade", "transfer-encoding", "te", "trailer", "keep-alive", "forwarded"]);

export function resolveRoutingConfig(env: GatewayEnv): RoutingConfig {
  const publicPaths = parsePublicPaths(env.PUBLIC_PATHS);
  const rules = compileRules(env.AUTH_RULES);
  const spendGuard = resolveSpendGuard(env as SpendGuardEnv);
  const cors = parseCorsOrigins(env.CORS_ORIGINS);
  const identityHeaders = parseIdentityHeaders(env.IDENTITY_HEADERS);
  const upstream = resolveUpstream(env);
  const timeoutMs = intVar(env.UPSTREAM_TIMEOUT_MS, "UPSTREAM_TIMEOUT_MS") ?? 30_000;
  if (timeoutMs < 1 || timeoutMs > 600_000) throw new ConfigError("UPSTREAM_TIMEOUT_MS", `must be between 1 and 600000, got ${timeoutMs}`);
  const forwardAuthorization = boolVar(env.FORWARD_AUTHORIZATION, "FORWARD_AUTHORIZATION") ?? true;
  const reserved = new Set(identityHeaders.map((m) => m.header.replace(/_/g, "-")));
  // Validated even without an upstream, so a short secret is reported before it is ever used.
  const assertionKey = nonEmpty(env.GATEWAY_ASSERTION_SECRET) ? new AssertionKey(env.GATEWAY_ASSERTION_SECRET!) : null;
  return {
    publicPaths,
    rules,
    cors,
    proxy: upstream
      ? {
          upstream,
          timeoutMs,
          identityHeaders,
          reserved,
          forwardAuthorization,
          // aud is the upstream origin; over a binding, MASTRA_URL's origin or https://mastra.internal.
          assertion: assertionKey ? { key: assertionKey, audience: upstream.base.origin } : null,
        }
      : null,
    spendGuard,
    metricsToken: parseMetricsToken(env.METRICS_TOKEN),
  };
}

function parseMetricsToken(value: string | undefined): string | null {
  if (!nonEmpty(value)) return null;
  const token = value!.trim();
  // Never echo it: it is a secret.
  if (token.length < 16 || /[\s,]/.test(token)) throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters without spaces or commas");
  return token;
}

function resolveUpstream(env: GatewayEnv): Upstream | null {
  const base = nonEmpty(env.MASTRA_URL) ? parseBase(env.MASTRA_URL!) : null;
  if (env.MASTRA && typeof (env.MASTRA as Fetcher).fetch === "function") {
    // Over a binding the host is never resolved; the URL only carries the path (and MASTRA_URL's base path).
    return { kind: "binding", fetcher: env.MASTRA, base: base ?? new URL("https://mastra.internal/") };
  }
  return base ? { kind: "url", base } : null;
}

function parseBase(value: string): URL {
  const url = checkUrl(value.trim(), "MASTRA_URL", { allowPath: true });
  if (url.search || url.hash) throw new ConfigError("MASTRA_URL", "must be an origin with an optional base path, without ? or #");
  return url;
}

function parseIdentityHeaders(value: string | undefined): IdentityHeaderMapping[] {
  if (!nonEmpty(value)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(value!);
  } catch {
    throw new ConfigError("IDENTITY_HEADERS", 'is not valid JSON (expected {"header-name": "claim.path"})');
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError("IDENTITY_HEADERS", 'must be a JSON object {"header-name": "claim.path"}');
  return Object.entries(raw as Record<string, unknown>).map(([name, claim]) => {
    const header = name.toLowerCase();
    if (!HEADER_NAME.test(header) || FORBIDDEN_IDENTITY.has(header) || header.startsWith("proxy-") || header.startsWith("x-forwarded-")) {
      throw new ConfigError("IDENTITY_HEADERS", `"${name.slice(0, 60)}" cannot be used as an identity header name`);
    }
    if (typeof claim !== "string" || !/^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*$/.test(claim)) {
      throw new ConfigError("IDENTITY_HEADERS", `"${name.slice(0, 60)}" must map to a claim path like "email" or "metadata.plan"`);
    }
    return { header, claim };
  });
}
