import type { Logger } from "../core/log.js";
import { PemKeyStore } from "./pem-store.js";
import { RemoteKeyStore } from "./remote-store.js";
import type { JwksTiming, KeyResolver, KeySource } from "./types.js";

export type { IoContext, JwksTiming, KeyResolver, KeySource, KeyStatus, KeyStoreCounters } from "./types.js";
export type { VerificationKey } from "./jwks.js";
export { RemoteKeyStore, type RemoteKeyStoreOptions } from "./remote-store.js";
export { PemKeyStore } from "./pem-store.js";

export interface KeyStoreSettings {
  source: KeySource;
  /** The expected `iss`: names the instance in the shared KV cache. */
  issuer: string;
  algorithms: readonly string[];
  jwks: JwksTiming;
}

export interface KeyStoreDeps {
  kv?: KVNamespace | null;
  fetch?: typeof fetch;
  now?: () => number;
  logger: Logger;
}

/** The key store a configuration calls for: a PEM key, or a remote JWKS cached in memory and KV. */
export function createKeyStore(settings: KeyStoreSettings, deps: KeyStoreDeps): KeyResolver {
  const { source, jwks } = settings;
  if (source.kind === "jwt-key") return new PemKeyStore(source.pem, settings.algorithms);
  return new RemoteKeyStore({
    source: source.kind,
    url: source.url,
    headers: source.headers,
    instance: settings.issuer,
    algorithms: settings.algorithms,
    kv: deps.kv,
    ttlMs: jwks.cacheTtlS * 1000,
    maxStaleMs: jwks.maxStaleS * 1000,
    cooldownMs: jwks.refetchCooldownS * 1000,
    timeoutMs: jwks.fetchTimeoutMs,
    fetch: deps.fetch,
    now: deps.now,
    logger: deps.logger,
  });
}
