import { authOptionsFromEnv, definedOnly, resolveAuthConfig, type ClerkAuthOptions } from "./options.js";
import type { GatewayEnv } from "../gateway/env.js";
import { createKeyStore } from "../keys/index.js";
import { silentLogger, type Logger } from "../core/log.js";
import { ClerkTokenVerifier } from "./verifier.js";

/** What a verifier takes from the outside world. */
export interface VerifierDeps {
  /** Workers KV namespace caching the JWKS across isolates. Optional: without it each isolate fetches once. */
  kv?: KVNamespace | null;
  /** Used for the JWKS fetch. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Default: silent. */
  logger?: Logger;
}

/**
 * The one way a {@link ClerkTokenVerifier} is built, by the gateway and by the library faces
 * (`clerkAuth`, `MastraAuthClerk`) alike: options are validated here, at construction, so a
 * misconfiguration throws `ConfigError` naming the setting before any request is served.
 */
export function createVerifier(options: ClerkAuthOptions, deps: VerifierDeps = {}): ClerkTokenVerifier {
  const config = resolveAuthConfig(options);
  const keys = createKeyStore(config, {
    kv: deps.kv ?? null,
    fetch: deps.fetch,
    now: deps.now,
    logger: deps.logger ?? silentLogger,
  });
  return new ClerkTokenVerifier(config, keys, { now: deps.now });
}

/** A Worker's `env`, `process.env`, or any object of variables. Only string values are read. */
export type VariableSource = object;

/**
 * Options for the library faces: {@link ClerkAuthOptions} given in code, each one that is left
 * undefined taken from the matching `CLERK_*`/`JWKS_*` variable of `env` (a Worker's env), or of
 * `process.env` when no `env` is given and the runtime has one (Node; workerd only with
 * `nodejs_compat`). `kv` defaults to `env.JWKS_CACHE`.
 */
export interface LibraryVerifierOptions extends ClerkAuthOptions, VerifierDeps {
  env?: VariableSource;
}

/** Resolves {@link LibraryVerifierOptions} into a verifier. Throws `ConfigError` on bad options. */
export function createLibraryVerifier(options: LibraryVerifierOptions): ClerkTokenVerifier {
  const { env, kv, fetch, now, logger, ...explicit } = options;
  const source = env ?? processEnv();
  const fromEnv = source ? authOptionsFromEnv(stringsOf(source)) : {};
  const merged: ClerkAuthOptions = { ...fromEnv };
  for (const [name, value] of Object.entries(explicit)) {
    if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  if (explicit.jwks && fromEnv.jwks) merged.jwks = { ...fromEnv.jwks, ...definedOnly(explicit.jwks) };
  const binding = (env as { JWKS_CACHE?: KVNamespace } | undefined)?.JWKS_CACHE;
  return createVerifier(merged, { kv: kv === undefined ? (binding ?? null) : kv, fetch, now, logger });
}

/** `process.env` where the runtime has one; never touches `process` where it does not exist. */
export function processEnv(): VariableSource | undefined {
  const p = (globalThis as { process?: { env?: VariableSource } }).process;
  return p && typeof p.env === "object" && p.env !== null ? p.env : undefined;
}

function stringsOf(source: VariableSource): GatewayEnv {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(source as Record<string, unknown>)) if (typeof value === "string") out[name] = value;
  return out as GatewayEnv;
}
