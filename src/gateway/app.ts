import { Hono } from "hono";
import { authOptionsFromEnv, resolveAuthConfig, type AuthConfig } from "../config/auth.js";
import type { GatewayEnv } from "../config/env.js";
import { ConfigError } from "../config/errors.js";
import { clerkAuth, getAuth, type AuthEnv } from "../hono/clerk-auth.js";
import { internalError, json, misconfigured, notFound } from "../http/responses.js";
import { createKeyStore, type KeyResolver } from "../keys/index.js";
import { consoleLogger, parseLogLevel, type Logger } from "../log/logger.js";
import { ClerkTokenVerifier } from "../verify/verifier.js";

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
  keys?: KeyResolver;
  verifier?: ClerkTokenVerifier;
  /** Present when it is not: every request is then answered 500 `misconfigured`. */
  configError?: ConfigError;
}

/**
 * Builds the gateway for one configuration. Parsing, validation and the key store happen here,
 * once; the returned `fetch` does only per-request work.
 */
export function createGateway(env: GatewayEnv, deps: GatewayDeps = {}): Gateway {
  const logger = deps.logger ?? consoleLogger(parseLogLevel(env.LOG_LEVEL));
  let config: AuthConfig;
  try {
    config = resolveAuthConfig(authOptionsFromEnv(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return misconfiguredGateway(error, logger);
  }

  const keys = createKeyStore(config, {
    kv: deps.kv === undefined ? (env.JWKS_CACHE ?? null) : deps.kv,
    fetch: deps.fetch,
    now: deps.now,
    logger,
  });
  const verifier = new ClerkTokenVerifier(config, keys, { now: deps.now });

  const app = new Hono<AuthEnv>();
  app.onError((error, c) => {
    logger.log("error", "gateway.unhandled", { name: error.name, path: c.req.path });
    return internalError();
  });

  app.get("/healthz", () => json({ status: "ok", keys: keys.status() }));

  app.use("*", clerkAuth({ verifier, logger }));

  app.get("/auth/me", (c) => json(getAuth(c)));

  app.notFound(() => notFound());

  return { fetch: app.fetch, config, keys, verifier };
}

function misconfiguredGateway(error: ConfigError, logger: Logger): Gateway {
  logger.log("error", "config.invalid", { variable: error.variable, message: error.message });
  return {
    configError: error,
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
