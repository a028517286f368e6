import type { AuthConfig } from "../verify/options.js";
import type { Logger } from "../core/log.js";
import { PemKeyStore } from "./pem-store.js";
import { RemoteKeyStore } from "./remote-store.js";
import type { KeyResolver } from "./types.js";

export type { IoContext, KeyResolver, KeyStatus, KeyStoreCounters } from "./types.js";
export type { VerificationKey } from "./jwks.js";
export { RemoteKeyStore, type RemoteKeyStoreOptions } from "./remote-store.js";
export { PemKeyStore } from "./pem-store.js";

export interface KeyStoreDeps {
  kv?: KVNamespace | null;
  fetch?: typeof fetch;
  now?: () => number;
  logger: Logger;
}

/** The key store a configuration calls for: a PEM key, or a remote JWKS cached in memory and KV. */
export function createKeyStore(config: AuthConfig, deps: KeyStoreDeps): KeyResolver {
  const source = config.keySource;
  if (source.kind === "jwt-key") return new PemKeyStore(source.pem, config.algorithms);
  return new RemoteKeyStore({
    source: source.kind,
    url: source.url,
    headers: source.headers,
    algorithms: config.algorithms,
    kv: deps.kv,
    ttlMs: config.jwks.cacheTtlS * 1000,
    maxStaleMs: config.jwks.maxStaleS * 1000,
    cooldownMs: config.jwks.refetchCooldownS * 1000,
    timeoutMs: config.jwks.fetchTimeoutMs,
    fetch: deps.fetch,
    now: deps.now,
    logger: deps.logger,
  });
}
