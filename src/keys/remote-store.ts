import { JwksUnavailableError, OriginFetchError, Reason, TokenVerificationError } from "../core/errors.js";
import { keyDigest } from "../core/digest.js";
import type { Logger } from "../core/log.js";
import { importJwks, type VerificationKey } from "./jwks.js";
import { fetchJson } from "./origin.js";
import { describeError, RemoteCache } from "./remote-cache.js";
import type { IoContext, KeyResolver, KeyStatus, KeyStoreCounters } from "./types.js";

export interface RemoteKeyStoreOptions {
  /** Label for status and logs: `jwks-uri`, `publishable-key` or `secret-key`. */
  source: string;
  url: string;
  /** Extra request headers (the Backend API's `Authorization`); never logged. */
  headers?: Record<string, string>;
  /**
   * What names this Clerk instance in the shared KV cache: the issuer. The KV key is this plus a
   * hash of the URL and its credential, so gateways of different instances (staging, production)
   * can share one namespace without loading each other's keys — whatever their key source.
   */
  instance: string;
  algorithms: readonly string[];
  /** Shared cache across isolates. Optional: without it every isolate goes to the origin once. */
  kv?: KVNamespace | null;
  /** Keys younger than this are fresh (`JWKS_CACHE_TTL_S`, default 600 s). */
  ttlMs: number;
  /** Past TTL, keys are still served while the origin fails, up to this age (`JWKS_MAX_STALE_S`, default 86400 s). */
  maxStaleMs: number;
  /** Minimum time between two unknown-kid lookups, two refreshes, or two origin attempts while none succeeds (default 30 s). */
  cooldownMs: number;
  /** Timeout of one origin fetch, and of one KV read or write (default 5000 ms). */
  timeoutMs: number;
  fetch?: typeof fetch;
  now?: () => number;
  logger: Logger;
}

/** A JWKS larger than this is not a JWKS. */
const MAX_JWKS_BYTES = 256 * 1024;

/**
 * Clerk's JWKS in three layers: isolate memory (imported CryptoKeys by kid) → Workers KV (the JWKS
 * JSON and its fetch time, `{ v: 1, fetchedAt, jwks }`) → the origin, as remote-cache.ts carries
 * out freshness.ts's answers. A known kid in a fresh set costs one Map lookup; nothing else is
 * touched.
 */
export class RemoteKeyStore implements KeyResolver {
  readonly #o: RemoteKeyStoreOptions;
  readonly #cache: RemoteCache<Map<string, VerificationKey>>;
  readonly #now: () => number;

  constructor(options: RemoteKeyStoreOptions) {
    this.#o = options;
    const now = (this.#now = options.now ?? Date.now);
    const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    // Where the JWKS URL is logged: without a query string, which could carry a credential.
    const url = loggedUrl(options.url);
    const fields = { source: options.source };
    const log = (level: "info" | "warn", event: string, more: Record<string, unknown>) => options.logger.log(level, event, { ...fields, url, ...more });
    this.#cache = new RemoteCache({
      // A lookup is a KV read and an origin fetch, each bounded by the timeout.
      timing: { ttlMs: options.ttlMs, maxStaleMs: options.maxStaleMs, cooldownMs: options.cooldownMs, inFlightMs: options.timeoutMs * 2 },
      kvTimeoutMs: options.timeoutMs,
      kv: options.kv,
      key: () => jwksCacheKey(options.instance, options.url, options.headers),
      load: async () => {
        try {
          const jwks = await fetchJson(options.url, { headers: options.headers, timeoutMs: options.timeoutMs, maxBytes: MAX_JWKS_BYTES, fetch: fetcher });
          const keys = await importJwks(jwks, options.algorithms);
          log("info", "jwks.fetched", { kids: [...keys.keys()] });
          return { value: keys, record: { jwks } };
        } catch (error) {
          log("warn", "jwks.fetch_failed", { detail: describe(error) });
          throw error;
        }
      },
      revive: (record) => importJwks(record.jwks, options.algorithms),
      has: (keys, kid) => keys.has(kid),
      refreshFailed: (error) => log("warn", "jwks.refresh_failed", { detail: describe(error), stale: true }),
      now,
      logger: options.logger,
      event: "jwks",
      fields,
    });
  }

  get counters(): KeyStoreCounters {
    return this.#cache.counters;
  }

  peekKey(kid: string): VerificationKey | undefined {
    return this.#cache.fresh()?.value.get(kid);
  }

  hasKid(kid: string): boolean {
    const held = this.#cache.held;
    return !!held && held.value.has(kid) && this.#now() - held.fetchedAt <= this.#o.maxStaleMs;
  }

  async getKey(kid: string, io: IoContext): Promise<VerificationKey> {
    const answer = await this.#cache.resolve(kid, io);
    if ("value" in answer) return answer.value.get(kid)!;
    if (answer.why === "unavailable") throw new JwksUnavailableError("signing keys could not be loaded", Math.max(1, Math.ceil(answer.retryAfterMs / 1000)));
    throw new TokenVerificationError(Reason.JwkKidMismatch, "the token's kid matches none of the signing keys", kid);
  }

  status(): KeyStatus {
    const held = this.#cache.held;
    const failing = this.#cache.lastAttemptFailed;
    if (!held) return { source: this.#o.source, state: "empty", kids: [], ageSeconds: null, loadedFrom: null, failing };
    const age = this.#now() - held.fetchedAt;
    return {
      source: this.#o.source,
      failing,
      state: age <= this.#o.ttlMs ? "fresh" : age <= this.#o.maxStaleMs ? "stale" : "expired",
      kids: [...held.value.keys()],
      ageSeconds: Math.max(0, Math.floor(age / 1000)),
      loadedFrom: held.loadedFrom,
    };
  }
}

/**
 * The KV key of one instance's JWKS: `jwks:v2:<issuer>:<hash>`, readable enough to find in the
 * dashboard and distinct per instance and credential. The hash covers the URL and the fetch's
 * headers (the Backend API source's secret key, whose URL is the same for every instance), so
 * two instances never share an entry and the secret itself is never part of the key.
 */
export async function jwksCacheKey(instance: string, url: string, headers: Record<string, string> = {}): Promise<string> {
  const material = JSON.stringify([instance, url, headers]);
  const hex = await keyDigest(material);
  return `jwks:v2:${instance.slice(0, 200)}:${hex}`;
}

function describe(error: unknown): string {
  return error instanceof OriginFetchError ? error.detail : describeError(error);
}

function loggedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "";
  }
}
