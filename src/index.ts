import type { GatewayEnv } from "./gateway/env.js";
import { createGateway, type Gateway } from "./gateway/app.js";

// The Durable Object class must be exported by the Worker entry for its binding to resolve.
export { SpendCounter } from "./spend-guard/counter.js";

/**
 * The isolate cache: one gateway (parsed config, key store, verified-token cache) per env object.
 * Workers hand the same env to every request of an isolate, so this is built once per isolate.
 */
const gateways = new WeakMap<object, Gateway>();

export function gatewayFor(env: GatewayEnv): Gateway {
  let gateway = gateways.get(env);
  if (!gateway) {
    gateway = createGateway(env);
    gateways.set(env, gateway);
  }
  return gateway;
}

export default {
  fetch(request, env, ctx) {
    return gatewayFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<GatewayEnv>;
