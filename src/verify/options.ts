import { ConfigError } from "../core/errors.js";
import { boolVar, checkNumber, checkOrigin, checkUrl, definedOnly, intVar, kindOf, listVar, nonEmpty } from "../core/env.js";
import { DEFAULT_CLOCK_SKEW_MS, MAX_CLOCK_SKEW_MS } from "../core/limits.js";
import type { JwksTiming, KeySource } from "../keys/types.js";
import { parseAccepts, type TokenClass } from "../credentials/token-class.js";
import { parsePublishableKey } from "./publishable-key.js";
import { DEFAULT_TOKEN_CACHE, type TokenCacheLimits } from "./token-cache.js";

export type { JwksTiming, KeySource };

/**
 * How to verify Clerk session tokens. The field names follow `@mastra/auth-clerk` and
 * `@clerk/backend`; each defaults to the matching `CLERK_*` variable where one is read.
 */
export interface ClerkAuthOptions {
  /** `pk_test_…`/`pk_live_…`: derives the issuer and the JWKS URL. */
  publishableKey?: string;
  /** `sk_…`: with no JWKS URL, fetch keys from the Backend API `${apiUrl}/v1/jwks`. */
  secretKey?: string;
  /** JWKS URL; overrides the one derived from the publishable key. */
  jwksUri?: string;
  /** PEM public key (SPKI): verification with no network at all. Takes precedence. */
  jwtKey?: string;
  /** Clerk Backend API origin. Default `https://api.clerk.com`. */
  apiUrl?: string;
  /** Expected `iss`. Default: derived from the publishable key. Compared exactly. */
  issuer?: string;
  /** When non-empty, `azp` must be one of these origins; a token without `azp` is rejected. */
  authorizedParties?: string[];
  /** Tolerance for `exp`, `nbf` and `iat`. Default 5000 ms. */
  clockSkewMs?: number;
  /** Accepted `alg` values. Default `["RS256"]` (what Clerk signs with); asymmetric only. */
  algorithms?: string[];
  /** Accept `sts: "pending"` sessions (a sign-in with tasks left). Default false. */
  acceptPendingSessions?: boolean;
  /** JWKS freshness. Defaults: TTL 600 s, stale-if-error 86400 s, unknown-kid cooldown 30 s, fetch timeout 5000 ms. */
  jwks?: Partial<JwksTiming>;
  /** Bounds of the verified-token cache. Defaults: 10000 entries, 16 MiB (16777216 bytes); 0 in either disables it. */
  tokenCache?: Partial<TokenCacheLimits>;
  /**
   * Which token classes are accepted (issue #13; docs/machine-callers.md): `session`, `m2m`,
   * `oauth`, `api_key` (or `any`), as `@clerk/backend`'s `acceptsToken`. Default `["session"]`.
   * The gateway reads `ACCEPTS`; an AUTH_RULES rule's own `accepts` overrides it on its routes.
   */
  accepts?: readonly string[] | string;
  /** Audiences an OAuth access token may name besides this gateway's origin (and an MCP resource). */
  oauthAudiences?: string[];
  /** Clerk's Machine Secret Key (`ak_…`): verifies opaque `mt_…` M2M tokens (default: `secretKey`). */
  machineSecretKey?: string;
  /** How long a Backend API answer about an opaque token is kept (both ways). Default 10 s; 0 disables. */
  machineTokenCacheTtlS?: number;
  /** Backend API lookups of unknown opaque tokens per client address per minute. Default 30. */
  machineTokenLookupsPerMinute?: number;
}

/** How opaque machine tokens are verified: Clerk's Backend API, and the bounds on asking it. */
export interface MachineTokenConfig {
  /** `${apiUrl}` without a trailing slash: @clerk/backend's verify paths carry no API version. */
  apiUrl: string;
  /** `CLERK_SECRET_KEY`: API keys, OAuth tokens (and M2M tokens without a machine key). */
  secretKey: string | null;
  /** `CLERK_MACHINE_SECRET_KEY`: M2M tokens. */
  machineSecretKey: string | null;
  cacheTtlS: number;
  lookupsPerMinute: number;
}

/** Validated, immutable verification settings. Built once per isolate per configuration. */
export interface AuthConfig {
  keySource: KeySource;
  issuer: string;
  authorizedParties: readonly string[] | null;
  clockSkewMs: number;
  algorithms: readonly string[];
  acceptPendingSessions: boolean;
  jwks: JwksTiming;
  /** TOKEN_CACHE_MAX_ENTRIES and TOKEN_CACHE_MAX_BYTES. */
  tokenCache: TokenCacheLimits;
  /** The token classes accepted where nothing more specific says (a rule's `accepts`). */
  accepts: ReadonlySet<TokenClass>;
  /** `CLERK_OAUTH_AUDIENCES`. */
  oauthAudiences: readonly string[];
  machine: MachineTokenConfig;
  /**
   * What picking the session cookie needs (credentials/clerk-cookies.ts): the publishable key
   * (its SHA-1 names the suffixed cookies; null without one), the Frontend API host and whether
   * the instance is a production one.
   */
  cookies: { publishableKey: string | null; frontendApi: string; production: boolean };
}

export const DEFAULT_API_URL = "https://api.clerk.com";
export const DEFAULT_ALGORITHMS = ["RS256"] as const;
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const DEFAULT_TIMING: JwksTiming = { cacheTtlS: 600, maxStaleS: 86_400, refetchCooldownS: 30, fetchTimeoutMs: 5_000 };

/**
 * Validates options into an {@link AuthConfig}; throws {@link ConfigError} naming the variable.
 * Their types are settled first: by {@link checkOptionTypes} for options given in code, by
 * {@link authOptionsFromEnv} for a Worker env.
 */
export function resolveAuthConfig(options: ClerkAuthOptions): AuthConfig {
  const publishable = nonEmpty(options.publishableKey) ? parsePublishableKey(options.publishableKey) : null;

  const keySource = resolveKeySource(options, publishable?.jwksUrl ?? null);

  const issuer = nonEmpty(options.issuer) ? options.issuer.trim() : publishable?.issuer;
  if (!issuer) {
    throw new ConfigError(
      "CLERK_ISSUER",
      "no issuer can be derived: set CLERK_ISSUER or CLERK_PUBLISHABLE_KEY (tokens are checked against an exact iss)",
    );
  }
  checkUrl(issuer, "CLERK_ISSUER", { allowPath: true });

  // Stored as URL origins so that a trailing slash in the setting cannot make every azp mismatch.
  const parties = (options.authorizedParties ?? [])
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => checkOrigin(p, "CLERK_AUTHORIZED_PARTIES"));

  const algorithms = options.algorithms?.length ? [...options.algorithms] : [...DEFAULT_ALGORITHMS];
  for (const alg of algorithms) {
    if (!ASYMMETRIC.has(alg)) {
      throw new ConfigError("CLERK_ALGORITHMS", `"${alg}" is not an accepted asymmetric JWS algorithm`);
    }
  }

  const clockSkewMs = checkNumber(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS, "CLERK_CLOCK_SKEW_MS", 0, MAX_CLOCK_SKEW_MS);

  const jwks = { ...DEFAULT_TIMING, ...definedOnly(options.jwks ?? {}) };
  checkNumber(jwks.cacheTtlS, "JWKS_CACHE_TTL_S", 1, 86_400 * 7);
  checkNumber(jwks.maxStaleS, "JWKS_MAX_STALE_S", 0, 86_400 * 30);
  checkNumber(jwks.refetchCooldownS, "JWKS_REFETCH_COOLDOWN_S", 0, 86_400);
  checkNumber(jwks.fetchTimeoutMs, "JWKS_FETCH_TIMEOUT_MS", 1, 60_000);
  if (jwks.maxStaleS < jwks.cacheTtlS) {
    throw new ConfigError("JWKS_MAX_STALE_S", `must be at least JWKS_CACHE_TTL_S (${jwks.cacheTtlS})`);
  }
  const tokenCache = { ...DEFAULT_TOKEN_CACHE, ...definedOnly(options.tokenCache ?? {}) };
  // Whole numbers; the byte bound at most half of an isolate's 128 MB.
  for (const [value, variable, max] of [[tokenCache.maxEntries, "TOKEN_CACHE_MAX_ENTRIES", 1_000_000], [tokenCache.maxBytes, "TOKEN_CACHE_MAX_BYTES", 64 * 1024 * 1024]] as const) {
    if (!Number.isInteger(checkNumber(value, variable, 0, max))) throw new ConfigError(variable, `must be a whole number, got ${value}`);
  }

  const accepts = options.accepts === undefined || (typeof options.accepts === "string" && options.accepts.trim() === "") ? new Set<TokenClass>(["session"]) : parseAccepts(options.accepts, "ACCEPTS");
  const oauthAudiences = (options.oauthAudiences ?? []).map((a) => a.trim()).filter(Boolean);
  if (oauthAudiences.some((a) => /\s/.test(a))) throw new ConfigError("CLERK_OAUTH_AUDIENCES", "an audience has whitespace in it");
  const machine = resolveMachineConfig(options);
  checkMachineSecrets(accepts, machine, "ACCEPTS");

  return Object.freeze({
    keySource,
    issuer,
    authorizedParties: parties.length ? Object.freeze(parties) : null,
    clockSkewMs,
    algorithms: Object.freeze(algorithms),
    acceptPendingSessions: options.acceptPendingSessions === true,
    jwks: Object.freeze(jwks),
    tokenCache: Object.freeze(tokenCache),
    accepts,
    oauthAudiences: Object.freeze(oauthAudiences),
    machine,
    cookies: Object.freeze({
      publishableKey: publishable ? options.publishableKey!.trim() : null,
      frontendApi: publishable?.frontendApiHost ?? issuer.replace(/^https?:\/\//i, ""),
      production: publishable?.instanceType === "live",
    }),
  });
}

const SECRET_KEY = /^sk_(test|live)_[A-Za-z0-9]+$/;

function resolveMachineConfig(options: ClerkAuthOptions): MachineTokenConfig {
  const secretKey = nonEmpty(options.secretKey) ? options.secretKey!.trim() : null;
  if (secretKey !== null && !SECRET_KEY.test(secretKey)) throw new ConfigError("CLERK_SECRET_KEY", "is not a Clerk secret key (expected sk_test_… or sk_live_…)");
  const machineSecretKey = nonEmpty(options.machineSecretKey) ? options.machineSecretKey!.trim() : null;
  // Never echoed: a secret. Clerk's machine secret keys are `ak_…`; only the shape a header can carry is checked.
  if (machineSecretKey !== null && !/^[\x21-\x7e]{8,512}$/.test(machineSecretKey)) throw new ConfigError("CLERK_MACHINE_SECRET_KEY", "is not a machine secret key (printable, no spaces)");
  const apiUrl = (nonEmpty(options.apiUrl) ? options.apiUrl!.trim() : DEFAULT_API_URL).replace(/\/+$/, "");
  checkUrl(apiUrl, "CLERK_API_URL", { allowPath: true });
  return Object.freeze({
    apiUrl,
    secretKey,
    machineSecretKey,
    cacheTtlS: checkNumber(options.machineTokenCacheTtlS ?? DEFAULT_MACHINE_TOKEN_CACHE_TTL_S, "MACHINE_TOKEN_CACHE_TTL_S", 0, 3_600),
    lookupsPerMinute: checkNumber(options.machineTokenLookupsPerMinute ?? DEFAULT_MACHINE_TOKEN_LOOKUPS, "MACHINE_TOKEN_LOOKUPS_PER_MINUTE", 1, 100_000),
  });
}

/**
 * Classes that may come as opaque tokens need a key to ask the Backend API with: API keys only
 * come opaque, so accepting them without CLERK_SECRET_KEY is a misconfiguration (M2M and OAuth
 * tokens also come as JWTs, which need none; their opaque forms are then refused 500 naming the key).
 */
export function checkMachineSecrets(classes: ReadonlySet<TokenClass>, machine: MachineTokenConfig, where: string): void {
  if (classes.has("api_key") && machine.secretKey === null) {
    throw new ConfigError("CLERK_SECRET_KEY", `${where} accepts api_key, which Clerk's Backend API verifies: set CLERK_SECRET_KEY`);
  }
}

/** Short: an opaque token exists to be revocable, and a revoked one is still accepted this long. */
export const DEFAULT_MACHINE_TOKEN_CACHE_TTL_S = 10;
export const DEFAULT_MACHINE_TOKEN_LOOKUPS = 30;

function resolveKeySource(options: ClerkAuthOptions, derivedJwksUrl: string | null): KeySource {
  if (nonEmpty(options.jwtKey)) {
    // Env editors often turn newlines into literal "\n"; accept both spellings of the same PEM.
    const pem = options.jwtKey!.replace(/\\n/g, "\n").trim();
    if (!/^-----BEGIN PUBLIC KEY-----\s+[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----$/.test(pem)) {
      throw new ConfigError("CLERK_JWT_KEY", "is not a PEM public key (expected -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)");
    }
    return { kind: "jwt-key", pem };
  }
  if (nonEmpty(options.jwksUri)) {
    const url = options.jwksUri!.trim();
    checkUrl(url, "CLERK_JWKS_URI", { allowPath: true });
    return { kind: "jwks-uri", url };
  }
  if (derivedJwksUrl) return { kind: "publishable-key", url: derivedJwksUrl };
  if (nonEmpty(options.secretKey)) {
    const secret = options.secretKey!.trim();
    if (!SECRET_KEY.test(secret)) {
      // Never echo the value: it may be a real secret pasted in the wrong place.
      throw new ConfigError("CLERK_SECRET_KEY", "is not a Clerk secret key (expected sk_test_… or sk_live_…)");
    }
    const apiUrl = (nonEmpty(options.apiUrl) ? options.apiUrl!.trim() : DEFAULT_API_URL).replace(/\/+$/, "");
    checkUrl(apiUrl, "CLERK_API_URL", { allowPath: true });
    return { kind: "secret-key", url: `${apiUrl}/v1/jwks`, headers: { Authorization: `Bearer ${secret}` } };
  }
  throw new ConfigError(
    "CLERK_PUBLISHABLE_KEY",
    "no key source: set one of CLERK_JWT_KEY, CLERK_JWKS_URI, CLERK_PUBLISHABLE_KEY or CLERK_SECRET_KEY",
  );
}

/** The variables {@link authOptionsFromEnv} reads (a part of the gateway's env). */
export interface ClerkEnv {
  CLERK_PUBLISHABLE_KEY?: string;
  CLERK_SECRET_KEY?: string;
  CLERK_JWKS_URI?: string;
  CLERK_JWT_KEY?: string;
  CLERK_API_URL?: string;
  CLERK_ISSUER?: string;
  CLERK_AUTHORIZED_PARTIES?: string;
  CLERK_CLOCK_SKEW_MS?: string;
  CLERK_ALGORITHMS?: string;
  CLERK_ACCEPT_PENDING_SESSIONS?: string;
  JWKS_CACHE_TTL_S?: string;
  JWKS_MAX_STALE_S?: string;
  JWKS_REFETCH_COOLDOWN_S?: string;
  JWKS_FETCH_TIMEOUT_MS?: string;
  TOKEN_CACHE_MAX_ENTRIES?: string;
  TOKEN_CACHE_MAX_BYTES?: string;
  CLERK_OAUTH_AUDIENCES?: string;
  CLERK_MACHINE_SECRET_KEY?: string;
  MACHINE_TOKEN_CACHE_TTL_S?: string;
  MACHINE_TOKEN_LOOKUPS_PER_MINUTE?: string;
}

/**
 * Reads the `CLERK_*`/`JWKS_*` variables of a Worker env into {@link ClerkAuthOptions}. A
 * variable read as text that is not a string (a `[vars]` value written without quotes) is a
 * {@link ConfigError} naming it, as a wrong type given in code is one naming the option.
 */
export function authOptionsFromEnv(env: ClerkEnv): ClerkAuthOptions {
  const text = (name: keyof ClerkEnv): string | undefined => {
    const value: unknown = env[name];
    if (value !== undefined && typeof value !== "string") throw new ConfigError(name, `must be a string, got ${kindOf(value)}`);
    return value;
  };
  return {
    publishableKey: text("CLERK_PUBLISHABLE_KEY"),
    secretKey: text("CLERK_SECRET_KEY"),
    jwksUri: text("CLERK_JWKS_URI"),
    jwtKey: text("CLERK_JWT_KEY"),
    apiUrl: text("CLERK_API_URL"),
    issuer: text("CLERK_ISSUER"),
    authorizedParties: listVar(env.CLERK_AUTHORIZED_PARTIES, "CLERK_AUTHORIZED_PARTIES"),
    clockSkewMs: intVar(env.CLERK_CLOCK_SKEW_MS, "CLERK_CLOCK_SKEW_MS"),
    algorithms: listVar(env.CLERK_ALGORITHMS, "CLERK_ALGORITHMS"),
    acceptPendingSessions: boolVar(env.CLERK_ACCEPT_PENDING_SESSIONS, "CLERK_ACCEPT_PENDING_SESSIONS"),
    oauthAudiences: listVar(env.CLERK_OAUTH_AUDIENCES, "CLERK_OAUTH_AUDIENCES"),
    machineSecretKey: text("CLERK_MACHINE_SECRET_KEY"),
    machineTokenCacheTtlS: intVar(env.MACHINE_TOKEN_CACHE_TTL_S, "MACHINE_TOKEN_CACHE_TTL_S"),
    machineTokenLookupsPerMinute: intVar(env.MACHINE_TOKEN_LOOKUPS_PER_MINUTE, "MACHINE_TOKEN_LOOKUPS_PER_MINUTE"),
    jwks: {
      cacheTtlS: intVar(env.JWKS_CACHE_TTL_S, "JWKS_CACHE_TTL_S"),
      maxStaleS: intVar(env.JWKS_MAX_STALE_S, "JWKS_MAX_STALE_S"),
      refetchCooldownS: intVar(env.JWKS_REFETCH_COOLDOWN_S, "JWKS_REFETCH_COOLDOWN_S"),
      fetchTimeoutMs: intVar(env.JWKS_FETCH_TIMEOUT_MS, "JWKS_FETCH_TIMEOUT_MS"),
    },
    tokenCache: {
      maxEntries: intVar(env.TOKEN_CACHE_MAX_ENTRIES, "TOKEN_CACHE_MAX_ENTRIES"),
      maxBytes: intVar(env.TOKEN_CACHE_MAX_BYTES, "TOKEN_CACHE_MAX_BYTES"),
    },
  };
}

/** Every {@link ClerkAuthOptions} name: the library faces refuse any other (a misspelt security setting must not vanish). */
export const CLERK_OPTION_NAMES: ReadonlySet<string> = /* @__PURE__ */ new Set([
  "publishableKey",
  "secretKey",
  "jwksUri",
  "jwtKey",
  "apiUrl",
  "issuer",
  "authorizedParties",
  "clockSkewMs",
  "algorithms",
  "acceptPendingSessions",
  "jwks",
  "tokenCache",
  "accepts",
  "oauthAudiences",
  "machineSecretKey",
  "machineTokenCacheTtlS",
  "machineTokenLookupsPerMinute",
]);
const JWKS_OPTION_NAMES: ReadonlySet<string> = /* @__PURE__ */ new Set(["cacheTtlS", "maxStaleS", "refetchCooldownS", "fetchTimeoutMs"]);
const TOKEN_CACHE_OPTION_NAMES: ReadonlySet<string> = /* @__PURE__ */ new Set(["maxEntries", "maxBytes"]);

/**
 * Options given in code have types that env strings cannot get wrong: check them here, so a
 * string where a list belongs is a {@link ConfigError} naming the option, never a TypeError
 * from deep inside (or, worse, a string iterated as a list of characters).
 */
export function checkOptionTypes(options: ClerkAuthOptions): void {
  const o = options as Record<string, unknown>;
  for (const name of ["publishableKey", "secretKey", "jwksUri", "jwtKey", "apiUrl", "issuer", "machineSecretKey"]) {
    if (o[name] !== undefined && typeof o[name] !== "string") throw new ConfigError(name, `must be a string, got ${kindOf(o[name])}`);
  }
  for (const name of ["authorizedParties", "algorithms", "oauthAudiences"]) {
    const value = o[name];
    if (value !== undefined && (!Array.isArray(value) || !value.every((v) => typeof v === "string"))) {
      throw new ConfigError(name, `must be an array of strings, got ${kindOf(value)}`);
    }
  }
  for (const name of ["machineTokenCacheTtlS", "machineTokenLookupsPerMinute"]) {
    if (o[name] !== undefined && typeof o[name] !== "number") throw new ConfigError(name, `must be a number, got ${kindOf(o[name])}`);
  }
  if (o.accepts !== undefined && typeof o.accepts !== "string" && !(Array.isArray(o.accepts) && o.accepts.every((v) => typeof v === "string"))) {
    throw new ConfigError("accepts", `must be an array of token classes, got ${kindOf(o.accepts)}`);
  }
  if (o.clockSkewMs !== undefined && typeof o.clockSkewMs !== "number") throw new ConfigError("clockSkewMs", `must be a number of milliseconds, got ${kindOf(o.clockSkewMs)}`);
  if (o.acceptPendingSessions !== undefined && typeof o.acceptPendingSessions !== "boolean") {
    throw new ConfigError("acceptPendingSessions", `must be true or false, got ${kindOf(o.acceptPendingSessions)}`);
  }
  for (const [option, names] of [["jwks", JWKS_OPTION_NAMES], ["tokenCache", TOKEN_CACHE_OPTION_NAMES]] as const) {
    const group = o[option];
    if (group === undefined) continue;
    if (!group || typeof group !== "object" || Array.isArray(group)) throw new ConfigError(option, `must be an object, got ${kindOf(group)}`);
    for (const [name, value] of Object.entries(group)) {
      if (!names.has(name)) throw new ConfigError(`${option}.${name}`, `is not an option of ${option} (${[...names].join(", ")})`);
      if (value !== undefined && typeof value !== "number") throw new ConfigError(`${option}.${name}`, `must be a number, got ${kindOf(value)}`);
    }
  }
}

