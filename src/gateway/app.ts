import { ConfigError } from "../core/errors.js";
import { consoleLogger, parseLogLevel, type Logger } from "../core/log.js";
import { misconfigured } from "../http/responses.js";
import type { KeyResolver } from "../keys/index.js";
import { GatewayStats } from "../metrics/stats.js";
import { AgentDirectoryStore } from "../proxy/agent-directory-store.js";
import { createEnvVerifier } from "../verify/create.js";
import { checkMachineSecrets, type AuthConfig } from "../verify/options.js";
import { acceptedAnywhere } from "../authorize/rules.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";
import { resolveRequestPolicy, type RequestPolicy } from "./config.js";
import type { GatewayEnv } from "./env.js";
import { createPipeline, safePath } from "./pipeline.js";

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
  /** Public paths, rules, CORS, spend guard and upstream, as validated. */
  policy?: RequestPolicy;
  /** @deprecated The old name of {@link policy}. */
  routing?: RequestPolicy;
  keys?: KeyResolver;
  /** The upstream's agent directory, when rules or limits name agents (AGENT_DIRECTORY). */
  agentDirectory?: AgentDirectoryStore | null;
  verifier?: ClerkTokenVerifier;
  /** Present when it is not: every request is then answered 500 `misconfigured`. */
  configError?: ConfigError;
  /** This isolate's counters (also served at `/metrics` when METRICS_TOKEN is set). */
  metrics: GatewayStats;
}

/**
 * Builds the gateway for one configuration. Parsing, validation, rule compilation and the key
 * store happen here, once; the returned `fetch` is the per-request pipeline (gateway/pipeline.ts).
 * A configuration error is not thrown: the gateway it returns answers every request 500
 * `misconfigured`, naming the variable to fix (fail closed, and say why).
 */
export function createGateway(env: GatewayEnv, deps: GatewayDeps = {}): Gateway {
  const stats = new GatewayStats(env.AUTH_ANALYTICS ?? null);
  const logger = deps.logger ?? consoleLogger(parseLogLevel(env.LOG_LEVEL));
  let verifier: ClerkTokenVerifier;
  let policy: RequestPolicy;
  try {
    verifier = createEnvVerifier(env, {
      kv: deps.kv === undefined ? (env.JWKS_CACHE ?? null) : deps.kv,
      fetch: deps.fetch,
      now: deps.now,
      logger,
    });
    policy = resolveRequestPolicy(env);
    checkMachineSecrets(acceptedAnywhere(policy.rules, verifier.config.accepts), verifier.config.machine, "AUTH_RULES");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return misconfiguredGateway(error, logger, stats);
  }
  warnOfUntrustedUpstream(policy, logger);
  const kv = deps.kv === undefined ? (env.JWKS_CACHE ?? null) : deps.kv;
  const directory =
    policy.agentDirectory && policy.proxy
      ? new AgentDirectoryStore({ ...policy.agentDirectory, proxy: policy.proxy, prefix: policy.routes.prefix, kv, now: deps.now, logger })
      : null;
  const pipeline = createPipeline({ verifier, keys: verifier.keys, policy, stats, logger, now: deps.now ?? Date.now, directory });
  return {
    fetch: (request, _env, ctx) => pipeline(request, ctx),
    config: verifier.config,
    policy,
    routing: policy,
    keys: verifier.keys,
    agentDirectory: directory,
    verifier,
    metrics: stats,
  };
}

function misconfiguredGateway(error: ConfigError, logger: Logger, stats: GatewayStats): Gateway {
  // The details (what is wrong with the value) go to the log only; the caller learns which variable.
  logger.log("error", "config.invalid", { variable: error.variable, message: error.message });
  return {
    configError: error,
    metrics: stats,
    fetch(request) {
      const path = safePath(request);
      logger.log("error", "auth.rejected", { status: 500, reason: "misconfigured", variable: error.variable, method: request.method, path });
      stats.deny("misconfigured", request.method, path);
      return misconfigured(error.variable);
    },
  };
}

/**
 * An upstream that gets neither the verified token (FORWARD_AUTHORIZATION=false) nor the signed
 * assertion cannot tell one user from another except by headers anyone could send it, and stock
 * Mastra reads none of them: its memory would be shared by every user (issue #12). Said once,
 * when the gateway is built.
 */
function warnOfUntrustedUpstream(policy: RequestPolicy, logger: Logger): void {
  const proxy = policy.proxy;
  if (!proxy || proxy.forwardAuthorization || proxy.assertion) return;
  logger.log("warn", "upstream.untrusted", {
    message:
      "FORWARD_AUTHORIZATION=false without GATEWAY_ASSERTION_SECRET: the upstream receives no credential it can verify. Run MastraAuthGateway upstream and set GATEWAY_ASSERTION_SECRET, or forward the token to MastraAuthClerk (docs/deploy.md)",
  });
}
