import type { GatewayEnv } from "../gateway/env.js";
import { ConfigError } from "../core/errors.js";
import { parsePublishableKey } from "./publishable-key.js";

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
}

export interface JwksTiming {
  cacheTtlS: number;
  maxStaleS: number;
  refetchCooldownS: number;
  fetchTimeoutMs: number;
}

export type KeySource =
  | { kind: "jwt-key"; pem: string }
  | {
      kind: "jwks-uri" | "publishable-key" | "secret-key";
      url: string;
      /** Request headers for the JWKS fetch (the Backend API needs the secret key). */
      headers?: Record<string, string>;
    };

/** Validated, immutable verification settings. Built once per isolate per configuration. */
export interface AuthConfig {
  keySource: KeySource;
  issuer: string;
  authorizedParties: readonly string[] | null;
  clockSkewMs: number;
  algorithms: readonly string[];
  acceptPendingSessions: boolean;
  jwks: JwksTiming;
}

export const DEFAULT_API_URL = "https://api.clerk.com";
export const DEFAULT_ALGORITHMS = ["RS256"] as const;
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const DEFAULT_TIMING: JwksTiming = { cacheTtlS: 600, maxStaleS: 86_400, refetchCooldownS: 30, fetchTimeoutMs: 5_000 };

/** Validates options into an {@link AuthConfig}; throws {@link ConfigError} naming the variable. */
export function resolveAuthConfig(options: ClerkAuthOptions): AuthConfig {
  const publishable = nonEmpty(options.publishableKey)
    ? parsePublishableKey(options.publishableKey!)
    : null;

  const keySource = resolveKeySource(options, publishable?.jwksUrl ?? null);

  const issuer = nonEmpty(options.issuer) ? options.issuer!.trim() : publishable?.issuer;
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

  const clockSkewMs = options.clockSkewMs ?? 5_000;
  checkNumber(clockSkewMs, "CLERK_CLOCK_SKEW_MS", 0, 300_000);

  const jwks = { ...DEFAULT_TIMING, ...definedOnly(options.jwks ?? {}) };
  checkNumber(jwks.cacheTtlS, "JWKS_CACHE_TTL_S", 1, 86_400 * 7);
  checkNumber(jwks.maxStaleS, "JWKS_MAX_STALE_S", 0, 86_400 * 30);
  checkNumber(jwks.refetchCooldownS, "JWKS_REFETCH_COOLDOWN_S", 0, 86_400);
  checkNumber(jwks.fetchTimeoutMs, "JWKS_FETCH_TIMEOUT_MS", 1, 60_000);
  if (jwks.maxStaleS < jwks.cacheTtlS) {
    throw new ConfigError("JWKS_MAX_STALE_S", `must be at least JWKS_CACHE_TTL_S (${jwks.cacheTtlS})`);
  }

  return Object.freeze({
    keySource,
    issuer,
    authorizedParties: parties.length ? Object.freeze(parties) : null,
    clockSkewMs,
    algorithms: Object.freeze(algorithms),
    acceptPendingSessions: options.acceptPendingSessions === true,
    jwks: Object.freeze(jwks),
  });
}

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
    if (!/^sk_(test|live)_[A-Za-z0-9]+$/.test(secret)) {
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

/** Reads the `CLERK_*`/`JWKS_*` variables of a Worker env into {@link ClerkAuthOptions}. */
export function authOptionsFromEnv(env: GatewayEnv): ClerkAuthOptions {
  return {
    publishableKey: env.CLERK_PUBLISHABLE_KEY,
    secretKey: env.CLERK_SECRET_KEY,
    jwksUri: env.CLERK_JWKS_URI,
    jwtKey: env.CLERK_JWT_KEY,
    apiUrl: env.CLERK_API_URL,
    issuer: env.CLERK_ISSUER,
    authorizedParties: nonEmpty(env.CLERK_AUTHORIZED_PARTIES) ? env.CLERK_AUTHORIZED_PARTIES!.split(",") : undefined,
    clockSkewMs: intVar(env.CLERK_CLOCK_SKEW_MS, "CLERK_CLOCK_SKEW_MS"),
    algorithms: nonEmpty(env.CLERK_ALGORITHMS)
      ? env.CLERK_ALGORITHMS!.split(",").map((a) => a.trim()).filter(Boolean)
      : undefined,
    acceptPendingSessions: boolVar(env.CLERK_ACCEPT_PENDING_SESSIONS, "CLERK_ACCEPT_PENDING_SESSIONS"),
    jwks: {
      cacheTtlS: intVar(env.JWKS_CACHE_TTL_S, "JWKS_CACHE_TTL_S"),
      maxStaleS: intVar(env.JWKS_MAX_STALE_S, "JWKS_MAX_STALE_S"),
      refetchCooldownS: intVar(env.JWKS_REFETCH_COOLDOWN_S, "JWKS_REFETCH_COOLDOWN_S"),
      fetchTimeoutMs: intVar(env.JWKS_FETCH_TIMEOUT_MS, "JWKS_FETCH_TIMEOUT_MS"),
    },
  };
}

export function intVar(value: string | undefined, variable: string): number | undefined {
  if (!nonEmpty(value)) return undefined;
  const text = value!.trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(variable, `must be a non-negative integer, got "${text.slice(0, 32)}"`);
  return Number(text);
}

export function boolVar(value: string | undefined, variable: string): boolean | undefined {
  if (!nonEmpty(value)) return undefined;
  const text = value!.trim().toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new ConfigError(variable, `must be true or false, got "${text.slice(0, 32)}"`);
}

export function nonEmpty(value: string | undefined | null): boolean {
  return typeof value === "string" && value.trim() !== "";
}

function checkNumber(value: number, variable: string, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(variable, `must be between ${min} and ${max}, got ${value}`);
  }
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** True for hosts that never leave the machine: the only place plain http is acceptable. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

export function checkUrl(value: string, variable: string, { allowPath }: { allowPath: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, "is not an absolute URL");
  }
  if (url.username || url.password) throw new ConfigError(variable, "must not contain credentials");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new ConfigError(variable, `must use https (plain http is allowed only for loopback hosts), got ${url.protocol}//${url.host}`);
  }
  if (!allowPath && url.pathname !== "/") throw new ConfigError(variable, "must be an origin without a path");
  return url;
}

function checkOrigin(value: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `"${value.slice(0, 64)}" is not an origin (scheme://host[:port])`);
  }
  if (url.origin !== value.replace(/\/$/, "") || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigError(variable, `"${value.slice(0, 64)}" is not an origin (scheme://host[:port])`);
  }
  return url.origin;
}

/** The fields of an object that are not undefined (so a spread does not erase defaults). */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
