// Types for the test runtime: the bindings vitest-pool-workers provides and the main module.
declare namespace Cloudflare {
  interface Env extends import("../../src/gateway/env.js").GatewayEnv {
    JWKS_CACHE: KVNamespace;
  }
  interface GlobalProps {
    mainModule: typeof import("../../src/index.js");
  }
}
