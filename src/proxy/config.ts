import { ConfigError } from "../core/errors.js";
import { boolVar, checkOrigin, checkUrl, intVar, jsonVar, listVar, nonEmpty } from "../core/env.js";
import { AssertionKey, parseAssertionJwks, type AssertionJwk, type AssertionSigner } from "../assertion/assertion.js";
import { isClaimPath } from "../identity/claim-path.js";
import type { IdentityHeaderMapping } from "./headers.js";

/** Where requests go: a service binding (another Worker) or an HTTP origin, and nothing else. */
export type Upstream =
  | { kind: "binding"; fetcher: Fetcher; base: URL }
  | { kind: "url"; base: URL };

export interface ProxyConfig {
  upstream: Upstream;
  /** Origin plus base path, without a trailing slash: request paths are appended to it. */
  base: string;
  /** No response headers within this → 504. Default 30000 ms. */
  timeoutMs: number;
  identityHeaders: readonly IdentityHeaderMapping[];
  /** Canonical names of configured identity headers, stripped from requests like x-clerk-*. */
  reserved: ReadonlySet<string>;
  forwardAuthorization: boolean;
  /**
   * `GATEWAY_ASSERTION_SECRET` (HS256) or `GATEWAY_ASSERTION_KEY` (ES256/EdDSA) is set:
   * authenticated requests carry a signed `x-gateway-assertion` for `audience`.
   */
  assertion: { key: AssertionSigner; audience: string; published: readonly AssertionJwk[] } | null;
  /** `MASTRA_STUDIO_HOSTS`: host names the gateway serves Mastra Studio on (requests there are marked `x-mastra-client-type: studio`). */
  studioHosts: ReadonlySet<string>;
}

/** The variables {@link resolveProxyConfig} reads. */
export interface ProxyEnv {
  /** Service binding to a Mastra Worker; takes precedence over MASTRA_URL (which then only lends its base path). */
  MASTRA?: Fetcher;
  MASTRA_URL?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  IDENTITY_HEADERS?: string;
  FORWARD_AUTHORIZATION?: string;
  /** When set (≥ 32 characters), every forwarded authenticated request carries `x-gateway-assertion` (HS256). */
  GATEWAY_ASSERTION_SECRET?: string;
  /**
   * A private ES256/EdDSA JWK, or a JWKS whose first key signs: assertions an upstream verifies
   * with public keys only (served at `/.well-known/jwks.json`). The other keys are published too,
   * for a rotation.
   */
  GATEWAY_ASSERTION_KEY?: string;
  /**
   * The `aud` of assertions: the upstream's origin as it knows itself. Default: `MASTRA_URL`'s
   * origin, or `https://mastra.internal` over a service binding without `MASTRA_URL`.
   */
  GATEWAY_ASSERTION_AUDIENCE?: string;
  /** Comma-separated host names on which the gateway fronts Mastra Studio. */
  MASTRA_STUDIO_HOSTS?: string;
}

const HEADER_NAME = /^[a-z0-9][a-z0-9-]*$/;
/** Names an IDENTITY_HEADERS entry may not take: they mean something else to HTTP or to us. */
const FORBIDDEN_IDENTITY = new Set(["host", "authorization", "cookie", "content-length", "content-type", "connection", "upgrade", "transfer-encoding", "te", "trailer", "keep-alive", "forwarded"]);

/** Forwarding settings, validated once; null when no upstream is configured (the Worker is then a pure auth service). */
export function resolveProxyConfig(env: ProxyEnv): ProxyConfig | null {
  const identityHeaders = parseIdentityHeaders(env.IDENTITY_HEADERS);
  const timeoutMs = intVar(env.UPSTREAM_TIMEOUT_MS, "UPSTREAM_TIMEOUT_MS") ?? 30_000;
  if (timeoutMs < 1 || timeoutMs > 600_000) throw new ConfigError("UPSTREAM_TIMEOUT_MS", `must be between 1 and 600000, got ${timeoutMs}`);
  const forwardAuthorization = boolVar(env.FORWARD_AUTHORIZATION, "FORWARD_AUTHORIZATION") ?? true;
  // Validated even without an upstream, so a short secret is reported before it is ever used.
  const assertionKey = resolveAssertionKeys(env);
  const upstream = resolveUpstream(env);
  if (!upstream) return null;
  return {
    upstream,
    base: upstream.base.origin + upstream.base.pathname.replace(/\/+$/, ""),
    timeoutMs,
    identityHeaders,
    reserved: new Set(identityHeaders.map((m) => m.header.replace(/_/g, "-"))),
    forwardAuthorization,
    // aud is the upstream origin; over a binding, MASTRA_URL's origin or https://mastra.internal.
    assertion: assertionKey
      ? {
          key: assertionKey.signer,
          audience: nonEmpty(env.GATEWAY_ASSERTION_AUDIENCE) ? checkOrigin(env.GATEWAY_ASSERTION_AUDIENCE.trim(), "GATEWAY_ASSERTION_AUDIENCE") : upstream.base.origin,
          published: assertionKey.published,
        }
      : null,
    studioHosts: parseHosts(env.MASTRA_STUDIO_HOSTS, "MASTRA_STUDIO_HOSTS"),
  };
}

function resolveUpstream(env: ProxyEnv): Upstream | null {
  const base = nonEmpty(env.MASTRA_URL) ? parseBase(env.MASTRA_URL) : null;
  if (env.MASTRA && typeof (env.MASTRA as Fetcher).fetch === "function") {
    // Over a binding the host is never resolved; the URL only carries the path (and MASTRA_URL's base path).
    return { kind: "binding", fetcher: env.MASTRA, base: base ?? new URL("https://mastra.internal/") };
  }
  return base ? { kind: "url", base } : null;
}

function parseBase(value: string): URL {
  const url = checkUrl(value.trim(), "MASTRA_URL", { allowPath: true });
  if (url.search || url.hash) throw new ConfigError("MASTRA_URL", "must be an origin with an optional base path, without ? or #");
  return url;
}

function parseIdentityHeaders(value: string | undefined): IdentityHeaderMapping[] {
  if (!nonEmpty(value)) return [];
  const raw = jsonVar(value, "IDENTITY_HEADERS", '{"header-name": "claim.path"}');
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError("IDENTITY_HEADERS", 'must be a JSON object {"header-name": "claim.path"}');
  return Object.entries(raw as Record<string, unknown>).map(([name, claim]) => {
    const header = name.toLowerCase();
    if (!HEADER_NAME.test(header) || FORBIDDEN_IDENTITY.has(header) || header.startsWith("proxy-") || header.startsWith("x-forwarded-")) {
      throw new ConfigError("IDENTITY_HEADERS", `"${name.slice(0, 60)}" cannot be used as an identity header name`);
    }
    if (!isClaimPath(claim)) throw new ConfigError("IDENTITY_HEADERS", `"${name.slice(0, 60)}" must map to a claim path like "email" or "metadata.plan"`);
    return { header, claim };
  });
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parseHosts(value: string | undefined, variable: string): ReadonlySet<string> {
  const hosts = new Set<string>();
  for (const entry of listVar(value, variable) ?? []) {
    const host = entry.toLowerCase();
    if (!HOST_NAME.test(host)) throw new ConfigError(variable, `"${entry.slice(0, 80)}" is not a host name (no scheme, port or path)`);
    hosts.add(host);
  }
  return hosts;
}

/** The assertion keys: the one that signs, and the public keys to publish (asymmetric form only). */
export interface AssertionKeys {
  signer: AssertionSigner;
  published: readonly AssertionJwk[];
}

/** `GATEWAY_ASSERTION_SECRET` or `GATEWAY_ASSERTION_KEY` (one of them), validated once. */
export function resolveAssertionKeys(env: Pick<ProxyEnv, "GATEWAY_ASSERTION_SECRET" | "GATEWAY_ASSERTION_KEY">): AssertionKeys | null {
  const secret = nonEmpty(env.GATEWAY_ASSERTION_SECRET);
  const jwk = nonEmpty(env.GATEWAY_ASSERTION_KEY);
  if (secret && jwk) throw new ConfigError("GATEWAY_ASSERTION_KEY", "set either GATEWAY_ASSERTION_SECRET (HS256) or GATEWAY_ASSERTION_KEY (ES256/EdDSA), not both");
  if (secret) return { signer: new AssertionKey(env.GATEWAY_ASSERTION_SECRET!), published: [] };
  if (!jwk) return null;
  const keys = parseAssertionJwks(env.GATEWAY_ASSERTION_KEY, "GATEWAY_ASSERTION_KEY");
  if (!keys[0]!.isPrivate) throw new ConfigError("GATEWAY_ASSERTION_KEY", "its first key signs, so it must be a private JWK (with d)");
  return { signer: keys[0]!, published: keys };
}
