import { checkOptionNames, definedOnly, processEnv, stringsOf, type VariableSource } from "../core/env.js";
import { silentLogger, type Logger } from "../core/log.js";
import { createKeyStore } from "../keys/index.js";
import { authOptionsFromEnv, checkOptionTypes, CLERK_OPTION_NAMES, resolveAuthConfig, type ClerkAuthOptions, type ClerkEnv } from "./options.js";
import { ClerkTokenVerifier } from "./verifier.js";

export type { VariableSource };

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
 * Builds a {@link ClerkTokenVerifier} from options given in code (the library faces, `clerkAuth`
 * and `MastraAuthClerk`, come through here): their types are checked, then they are validated, at
 * construction, so a misconfiguration throws `ConfigError` naming the setting before any request
 * is served.
 */
export function createVerifier(options: ClerkAuthOptions, deps: VerifierDeps = {}): ClerkTokenVerifier {
  checkOptionTypes(options);
  return build(options, deps);
}

/**
 * The gateway's verifier, from its Worker env (`CLERK_*`, `JWKS_*`, `ACCEPTS`). Read by
 * `authOptionsFromEnv`, the options' types are settled already: the deploy bundle does not carry
 * the check of options given in code (issue #14's budget).
 */
export function createEnvVerifier(env: ClerkEnv & { ACCEPTS?: string }, deps: VerifierDeps = {}): ClerkTokenVerifier {
  return build({ ...authOptionsFromEnv(env), accepts: env.ACCEPTS }, deps);
}

function build(options: ClerkAuthOptions, deps: VerifierDeps): ClerkTokenVerifier {
  const config = resolveAuthConfig(options);
  const keys = createKeyStore(
    { source: config.keySource, issuer: config.issuer, algorithms: config.algorithms, jwks: config.jwks },
    { kv: deps.kv ?? null, fetch: deps.fetch, now: deps.now, logger: deps.logger ?? silentLogger },
  );
  return new ClerkTokenVerifier(config, keys, { now: deps.now, fetch: deps.fetch });
}

/**
 * Options for the library faces: {@link ClerkAuthOptions} given in code, each one that is left
 * undefined taken from the matching `CLERK_*`/`JWKS_*` variable of `env` (a Worker's env), or of
 * `process.env` when no `env` is given and the runtime has one (Node; workerd only with
 * `nodejs_compat`). `kv` defaults to `env.JWKS_CACHE`.
 */
export interface LibraryVerifierOptions extends ClerkAuthOptions, VerifierDeps {
  env?: VariableSource;
}

/** Every {@link LibraryVerifierOptions} name. */
// Pure: library-only, so the deploy bundle drops it (a spread alone would keep it, issue #14).
export const LIBRARY_VERIFIER_OPTION_NAMES: ReadonlySet<string> = /* @__PURE__ */ new Set(/* @__PURE__ */ [...CLERK_OPTION_NAMES].concat(["kv", "fetch", "now", "logger", "env"]));

/**
 * Resolves {@link LibraryVerifierOptions} into a verifier. Throws `ConfigError` on bad options,
 * an unknown option name included (`where` names the face in the message).
 */
export function createLibraryVerifier(options: LibraryVerifierOptions, where = "createLibraryVerifier"): ClerkTokenVerifier {
  if (!options || typeof options !== "object") return createLibraryVerifier({}, where);
  checkOptionNames(options, LIBRARY_VERIFIER_OPTION_NAMES, where);
  const { env, kv, fetch, now, logger, ...explicit } = options;
  const source = env ?? processEnv();
  const fromEnv = source ? authOptionsFromEnv(stringsOf(source)) : {};
  const merged: ClerkAuthOptions = { ...fromEnv };
  for (const [name, value] of Object.entries(explicit)) {
    if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  if (explicit.jwks && fromEnv.jwks && typeof explicit.jwks === "object") merged.jwks = { ...fromEnv.jwks, ...definedOnly(explicit.jwks) };
  const binding = (env as { JWKS_CACHE?: KVNamespace } | undefined)?.JWKS_CACHE;
  return createVerifier(merged, { kv: kv === undefined ? (binding ?? null) : kv, fetch, now, logger });
}
