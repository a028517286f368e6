import { env as workerEnv } from "cloudflare:workers";
import { consoleLogger, heldLogger, parseLogLevel } from "./core/log.js";
import type { GatewayEnv } from "./gateway/env.js";
import { createGateway, type Gateway } from "./gateway/app.js";

// The Durable Object class must be exported by the Worker entry for its binding to resolve.
export { SpendCounter } from "./spend-guard/counter.js";

/**
 * The isolate cache: one gateway (parsed config, key store, verified-token cache) per env object.
 * Workers hand the same env to every request of an isolate, so this is built once per isolate.
 */
const gateways = new WeakMap<object, Gateway>();

/**
 * The gateway of the Worker's own bindings, built while the isolate starts rather than by its
 * first request (issue #14: parsing the configuration and compiling rules, PUBLIC_PATHS, the
 * spend guard and the route table was a third of a new isolate's first request). Cloudflare
 * starts an isolate while the TLS handshake of the request that needs it is still going on
 * (https://blog.cloudflare.com/eliminating-cold-starts-with-cloudflare-workers/), so work done at
 * module load is work no request waits for. Start-up may do no I/O, and none is done here: keys
 * and KV are read on first use as before. `env` from `cloudflare:workers` holds the same bindings
 * as the `env` of every request, though not as the same object (see {@link sameBindings}).
 */
const startup = buildAtStartup();

function buildAtStartup(): { env: GatewayEnv; gateway: Gateway; release(): void } | null {
  const env = workerEnv as GatewayEnv | undefined;
  if (!env || typeof env !== "object") return null;
  const logger = heldLogger(consoleLogger(parseLogLevel(env.LOG_LEVEL)));
  try {
    return { env, gateway: createGateway(env, { logger }), release: logger.release };
  } catch {
    // Not a configuration error (those become a gateway that answers 500 `misconfigured`): left
    // to the first request, which builds again and answers what that raises.
    return null;
  }
}

/**
 * Whether a request's env holds exactly the bindings the start-up gateway was built from: every
 * name and every value the same (workerd hands the same binding objects and values to both).
 * Compared once per env object, never per request.
 */
function sameBindings(a: object, b: object): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) if ((a as Record<string, unknown>)[name] !== (b as Record<string, unknown>)[name]) return false;
  return true;
}

export function gatewayFor(env: GatewayEnv): Gateway {
  let gateway = gateways.get(env);
  if (!gateway) {
    if (startup && sameBindings(env, startup.env)) {
      gateway = startup.gateway;
      // What start-up logged (a `config.invalid`, an untrusted upstream) goes out with this request.
      startup.release();
    } else {
      gateway = createGateway(env);
    }
    gateways.set(env, gateway);
  }
  return gateway;
}

export default {
  fetch(request, env, ctx) {
    return gatewayFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<GatewayEnv>;
