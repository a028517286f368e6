import { Hono } from "hono";
import { normalizePath, PathError } from "../authorize/path.js";
import { isPublic } from "../authorize/public-paths.js";
import { authOptionsFromEnv, type AuthConfig } from "../verify/options.js";
import type { GatewayEnv } from "./env.js";
import { ConfigError } from "../core/errors.js";
import { resolveRoutingConfig, type RoutingConfig } from "./config.js";
import { clerkAuth, getAuth, type AuthVariables } from "../hono/clerk-auth.js";
import { authorizeRules } from "../hono/guards.js";
import { isPreflight, preflightResponse, withCors } from "../http/cors.js";
import { internalError, json, misconfigured, notFound, unauthorized } from "../http/responses.js";
import { Reason } from "../verify/errors.js";
import type { KeyResolver } from "../keys/index.js";
import { consoleLogger, parseLogLevel, type Logger } from "../core/log.js";
import { GatewayMetrics, metricsLogger, timingSafeEqual } from "../metrics/metrics.js";
import { forward } from "../proxy/forward.js";
import { spendGuard } from "../spend-guard/guard.js";
import { createVerifier } from "../verify/create.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";

/** What the gateway takes from the outside world; tests and benchmarks pass their own. */
export interface GatewayDeps {
  fetch?: typeof fetch;
  now?: () => number;
  logger?: Logger;
  /** Overrides `env.JWKS_CACHE` (a test wraps it to count reads). */
  kv?: KVNamespace | null;
}

export interface Gateway {
  fetch(request: Request, env?: unknown, ctx?: ExecutionContext): Response | Promise<Response>;
  /** Present when the configuration is valid. */
  config?: AuthConfig;
  routing?: RoutingConfig;
  keys?: KeyResolver;
  verifier?: ClerkTokenVerifier;
  /** Present when it is not: every request is then answered 500 `misconfigured`. */
  configError?: ConfigError;
  /** This isolate's counters (also served at `/metrics` when METRICS_TOKEN is set). */
  metrics: GatewayMetrics;
}

export type GatewayVariables = AuthVariables & {
  /** The normalised path: matched by every rule and forwarded. */
  path: string;
  url: URL;
  /** Public path or /healthz: no token needed. */
  open: boolean;
};

/**
 * Builds the gateway for one configuration. Parsing, validation, rule compilation and the key
 * store happen here, once; the returned `fetch` does only per-request work:
 * CORS → path normalisation → authenticate (unless public) → authorise (AUTH_RULES) → serve or forward.
 */
export function createGateway(env: GatewayEnv, deps: GatewayDeps = {}): Gateway {
  const metrics = new GatewayMetrics(env.AUTH_ANALYTICS ?? null);
  // Every logged event is also counted: rejections by reason, preflights, JWKS and upstream errors.
  const logger = metricsLogger(metrics, deps.logger ?? consoleLogger(parseLogLevel(env.LOG_LEVEL)));
  let verifier: ClerkTokenVerifier;
  let routing: RoutingConfig;
  try {
    verifier = createVerifier(authOptionsFromEnv(env), {
      kv: deps.kv === undefined ? (env.JWKS_CACHE ?? null) : deps.kv,
      fetch: deps.fetch,
      now: deps.now,
      logger,
    });
    routing = resolveRoutingConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return misconfiguredGateway(error, logger, metrics);
  }
  const { config, keys } = verifier;
  const { cors, publicPaths, rules, proxy, metricsToken } = routing;

  const app = new Hono<{ Variables: GatewayVariables }>();
  const unhandled = (error: unknown, path: string) => {
    logger.log("error", "gateway.unhandled", { name: (error as Error)?.name, path });
    return internalError();
  };
  app.onError((error, c) => unhandled(error, c.req.path));

  const isOpen = (method: string, path: string) =>
    ((method === "GET" || method === "HEAD") && path === "/healthz") || isPublic(publicPaths, method, path);

  // Its own bearer secret, not a Clerk session: operators' scrapers have no Clerk user.
  const serveMetrics = (authorization: string | undefined): Response => {
    const presented = /^Bearer ([^\s,]+)$/i.exec(authorization ?? "")?.[1] ?? "";
    if (!timingSafeEqual(presented, metricsToken!)) {
      logger.log("warn", "auth.rejected", { status: 401, reason: "metrics-token-invalid", method: "GET", path: "/metrics" });
      return unauthorized(Reason.TokenInvalid, "metrics need Authorization: Bearer <METRICS_TOKEN>", presented !== "");
    }
    return new Response(metrics.render(keys.counters, verifier.counters), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" },
    });
  };

  /** What the edge stage found for a request, handed to the Hono stage (which sees the same Request). */
  const edge = new WeakMap<Request, { path: string; url: URL; open: boolean }>();

  // Authentication then AUTH_RULES, in one Hono layer (each layer costs ~2 µs, BENCHMARKS.md §5):
  // the same clerkAuth and authorizeRules the library exports, called one after the other.
  const auth = clerkAuth({ verifier, logger, skip: (c) => c.get("open") });
  const rulesGuard = authorizeRules(rules, logger);
  app.use("*", (c, next) => {
    const found = edge.get(c.req.raw)!;
    c.set("path", found.path);
    c.set("url", found.url);
    c.set("open", found.open);
    return auth(c as never, () => (found.open ? next() : (rulesGuard(c as never, next) as Promise<void>)));
  });

  // After authentication and AUTH_RULES, so a 401 or 403 never spends a budget (README "Spend guard").
  if (routing.spendGuard.limits.length) app.use("*", spendGuard({ config: routing.spendGuard, logger, now: deps.now }));

  app.all("*", async (c) => {
    const path = c.get("path");
    const method = c.req.method;
    const identity = getAuth(c);
    if ((method === "GET" || method === "HEAD") && path === "/healthz") return json({ status: "ok", keys: keys.status() });
    if (method === "GET" && path === "/auth/me") return identity ? json(identity) : notFound();
    if (identity) metrics.recordAllowed(method, path);
    else metrics.publicRequests++;
    if (!proxy) return notFound();
    return forward({ request: c.req.raw, path, identity, url: c.get("url") }, proxy, logger);
  });

  /**
   * The edge stage, outside Hono: preflights, the path every later stage matches and forwards, the
   * gateway's own /metrics; then the Hono stage; then CORS on whatever came out, so that every
   * answer (401, 403, 5xx included) is readable by the browser. Outside Hono because assigning
   * `c.res` there copies the whole response and re-sets each of its headers.
   */
  const fetchGateway = async (request: Request, env?: unknown, ctx?: ExecutionContext): Promise<Response> => {
    const origin = request.headers.get("origin");
    let response: Response;
    try {
      if (isPreflight(request)) {
        logger.log("debug", "cors.preflight", { origin: origin ?? undefined, path: new URL(request.url).pathname });
        return preflightResponse(cors, request);
      }
      const url = new URL(request.url);
      let path: string;
      try {
        path = normalizePath(url.pathname);
      } catch (error) {
        if (!(error instanceof PathError)) throw error;
        logger.log("warn", "auth.rejected", { status: 400, reason: error.reason, method: request.method, message: error.message });
        return withCors(json({ error: "bad_request", reason: error.reason, message: error.message }, 400), cors, origin);
      }
      if (metricsToken && path === "/metrics" && request.method === "GET") {
        response = serveMetrics(request.headers.get("authorization") ?? undefined);
      } else {
        edge.set(request, { path, url, open: isOpen(request.method, path) });
        response = await app.fetch(request, env, ctx);
      }
    } catch (error) {
      response = unhandled(error, safePath(request));
    }
    return withCors(response, cors, origin);
  };

  return { fetch: fetchGateway, config, routing, keys, verifier, metrics };
}

function misconfiguredGateway(error: ConfigError, logger: Logger, metrics: GatewayMetrics): Gateway {
  logger.log("error", "config.invalid", { variable: error.variable, message: error.message });
  return {
    configError: error,
    metrics,
    fetch(request) {
      logger.log("error", "auth.rejected", {
        status: 500,
        reason: "misconfigured",
        variable: error.variable,
        method: request.method,
        path: new URL(request.url).pathname,
      });
      return misconfigured(error.message);
    },
  };
}

function safePath(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    return "";
  }
}
