import { JwksFetchError, JwksUnavailableError, Reason, TokenVerificationError } from "../core/errors.js";
import { bounded } from "../core/deadline.js";
import { keyDigest } from "../core/digest.js";
import type { Logger } from "../core/log.js";
import { decide, refreshStep, type RequestState, type SetView, type StoreState, type Timing } from "./freshness.js";
import { importJwks, type VerificationKey } from "./jwks.js";
import { fetchJwksDocument } from "./origin.js";
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

/** What is written to KV: the raw JWKS plus when the origin served it. */
interface KvRecord {
  v: 1;
  fetchedAt: number;
  jwks: unknown;
}

interface KeySet extends SetView {
  keys: Map<string, VerificationKey>;
  loadedFrom: "origin" | "kv";
}

const MAX_ABSENT_KIDS = 1024;
/** How often a request waiting for another request's lookup looks again. */
const WAIT_POLL_MS = 5;

/**
 * Clerk's JWKS in three layers: isolate memory (imported CryptoKeys by kid) → Workers KV (the JWKS
 * JSON and its fetch time) → the origin. A known kid in a fresh set costs one Map lookup; nothing
 * else is touched. Every other case is decided by `freshness.ts`; this class only carries out
 * what it answers.
 *
 * Workers forbid one request from awaiting I/O another request started
 * (https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/ — "Cannot perform I/O on
 * behalf of a different request"; jose works around the same rule, panva/jose#355). So no promise
 * is shared between requests here: a request that needs keys another request is already looking
 * for polls isolate memory on timers of its own, and does its own I/O when that lookup ends
 * without what it needs (within the budgets) or takes too long. A background refresh runs under
 * the `waitUntil` of the request that started it.
 */
export class RemoteKeyStore implements KeyResolver {
  readonly counters: KeyStoreCounters = { originFetches: 0, originFailures: 0, kvReads: 0, kvWrites: 0, staleServed: 0 };
  readonly #o: RemoteKeyStoreOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #timing: Timing;
  /** Where the JWKS URL is logged: without a query string, which could carry a credential. */
  readonly #loggedUrl: string;
  #kvKey: string | null = null;
  #set: KeySet | null = null;
  #lookupAt = Number.NEGATIVE_INFINITY;
  #originOkAt = Number.NEGATIVE_INFINITY;
  #originFailedAt = Number.NEGATIVE_INFINITY;
  #refreshAt = Number.NEGATIVE_INFINITY;
  #inFlightSince = 0;
  /** The last origin attempt failed (for status: an empty store that tried and failed is unavailable, not starting). */
  #lastAttemptFailed = false;
  /** Kids looked up and not found, with the time until which they are not looked up again. */
  readonly #absentKids = new Map<string, number>();

  constructor(options: RemoteKeyStoreOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#timing = {
      ttlMs: options.ttlMs,
      maxStaleMs: options.maxStaleMs,
      cooldownMs: options.cooldownMs,
      // A lookup is a KV read and an origin fetch, each bounded by the timeout.
      inFlightMs: options.timeoutMs * 2,
    };
    this.#loggedUrl = loggedUrl(options.url);
  }

  peekKey(kid: string): VerificationKey | undefined {
    const set = this.#set;
    return set && this.#now() - set.fetchedAt <= this.#o.ttlMs ? set.keys.get(kid) : undefined;
  }

  hasKid(kid: string): boolean {
    const set = this.#set;
    return !!set && set.keys.has(kid) && this.#now() - set.fetchedAt <= this.#o.maxStaleMs;
  }

  async getKey(kid: string, io: IoContext): Promise<VerificationKey> {
    return (await this.#resolve(kid, io)).keys.get(kid)!;
  }

  /** Carries out what freshness.ts decides until it answers serve (the held set) or fail (thrown). */
  async #resolve(kid: string, io: IoContext): Promise<KeySet> {
    const request: RequestState = { kv: undefined, originTried: false, waited: false };
    let kvCopy: KeySet | null = null;
    for (;;) {
      const decision = decide(kid, this.#state(kid), request, this.#now(), this.#timing);
      switch (decision.action) {
        case "serve": {
          const set = this.#set!;
          if (this.#now() - set.fetchedAt > this.#o.ttlMs) {
            this.counters.staleServed++;
            if (decision.refresh) this.#refreshInBackground(io);
          }
          return set;
        }
        case "adopt-kv":
          this.#set = kvCopy;
          break;
        case "read-kv":
          // Claimed before the first await: concurrent requests wait for this lookup instead.
          if (decision.spendsLookup) this.#lookupAt = this.#now();
          kvCopy = await this.#inFlight(() => this.#readKv());
          request.kv = kvCopy;
          break;
        case "fetch-origin":
          request.originTried = true;
          await this.#inFlight(() => this.#fetchOrigin(io, decision.load)).catch(() => undefined);
          break;
        case "wait":
          request.waited = true;
          await this.#waitForLookup();
          break;
        case "fail":
          if (decision.why === "unavailable") {
            throw new JwksUnavailableError("signing keys could not be loaded", Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
          }
          if (request.originTried) this.#rememberAbsent(kid);
          throw new TokenVerificationError(Reason.JwkKidMismatch, "the token's kid matches none of the signing keys", kid);
      }
    }
  }

  /**
   * Marks one I/O step of a lookup as in flight while it runs, so other requests of the isolate
   * wait for it instead of repeating it. Between two steps of one lookup there is no await, so a
   * waiter never sees the gap.
   */
  async #inFlight<T>(step: () => Promise<T>): Promise<T> {
    const since = (this.#inFlightSince = this.#now() || 1);
    try {
      return await step();
    } finally {
      if (this.#inFlightSince === since) this.#inFlightSince = 0;
    }
  }

  status(): KeyStatus {
    const set = this.#set;
    const failing = this.#lastAttemptFailed;
    if (!set) return { source: this.#o.source, state: "empty", kids: [], ageSeconds: null, loadedFrom: null, failing };
    const age = this.#now() - set.fetchedAt;
    return {
      source: this.#o.source,
      failing,
      state: age <= this.#o.ttlMs ? "fresh" : age <= this.#o.maxStaleMs ? "stale" : "expired",
      kids: [...set.keys.keys()],
      ageSeconds: Math.max(0, Math.floor(age / 1000)),
      loadedFrom: set.loadedFrom,
    };
  }

  #state(kid: string): StoreState {
    return {
      held: this.#set,
      lookupAt: this.#lookupAt,
      originOkAt: this.#originOkAt,
      originFailedAt: this.#originFailedAt,
      refreshAt: this.#refreshAt,
      inFlightSince: this.#inFlightSince,
      kidAbsentUntil: this.#absentKids.get(kid),
    };
  }

  #rememberAbsent(kid: string): void {
    if (this.#absentKids.size >= MAX_ABSENT_KIDS) this.#absentKids.clear();
    this.#absentKids.set(kid, this.#now() + this.#o.cooldownMs);
  }

  /** Polls isolate memory until the lookup in flight ends (real time: this is a wait, not a freshness decision). */
  async #waitForLookup(): Promise<void> {
    const deadline = Date.now() + this.#timing.inFlightMs;
    while (this.#inFlightSince !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  #refreshInBackground(io: IoContext): void {
    this.#refreshAt = this.#now();
    const work = this.#inFlight(async () => {
      try {
        let kv: KeySet | null | undefined;
        for (;;) {
          const step = refreshStep(this.#set, kv, this.#now(), this.#timing);
          if (step === "done") return;
          if (step === "read-kv") kv = await this.#readKv();
          else if (step === "adopt-kv") {
            this.#set = kv!;
            kv = null;
          } else {
            await this.#fetchOrigin(io, false);
            return;
          }
        }
      } catch (error) {
        this.#o.logger.log("warn", "jwks.refresh_failed", { source: this.#o.source, url: this.#loggedUrl, detail: describe(error), stale: true });
      }
    });
    if (io.waitUntil) io.waitUntil(work);
  }

  /** One origin attempt. `load`: no usable set is held, so a failure answers 503 for a cooldown. */
  async #fetchOrigin(io: IoContext, load: boolean): Promise<KeySet> {
    const startedAt = this.#now();
    this.counters.originFetches++;
    let document: unknown;
    let keys: Map<string, VerificationKey>;
    try {
      document = await fetchJwksDocument(this.#o.url, { headers: this.#o.headers, timeoutMs: this.#o.timeoutMs, fetch: this.#fetch });
      keys = await importJwks(document, this.#o.algorithms);
    } catch (error) {
      this.counters.originFailures++;
      this.#lastAttemptFailed = true;
      if (load) this.#originFailedAt = startedAt;
      this.#o.logger.log("warn", "jwks.fetch_failed", { source: this.#o.source, url: this.#loggedUrl, detail: describe(error) });
      throw error;
    }
    const set: KeySet = { keys, fetchedAt: startedAt, loadedFrom: "origin", has: (kid) => keys.has(kid) };
    this.#set = set;
    this.#originOkAt = startedAt;
    this.#lastAttemptFailed = false;
    this.#originFailedAt = Number.NEGATIVE_INFINITY;
    this.#absentKids.clear();
    this.#o.logger.log("info", "jwks.fetched", { source: this.#o.source, url: this.#loggedUrl, kids: [...keys.keys()] });
    // KV is written only after a real origin fetch, and off the request's critical path.
    const write = this.#writeKv({ v: 1, fetchedAt: startedAt, jwks: document });
    if (io.waitUntil) io.waitUntil(write);
    else await write;
    return set;
  }

  /** KV's copy when it is there and usable; null otherwise (no KV, a miss, a failure, a corrupt record). */
  async #readKv(): Promise<KeySet | null> {
    const kv = this.#o.kv;
    if (!kv) return null;
    this.counters.kvReads++;
    try {
      const record = await bounded(kv.get<KvRecord>(await this.#key(), "json"), this.#o.timeoutMs, "KV read");
      if (!record || record.v !== 1 || typeof record.fetchedAt !== "number") return null;
      if (this.#now() - record.fetchedAt > this.#o.maxStaleMs) return null;
      const keys = await importJwks(record.jwks, this.#o.algorithms);
      return { keys, fetchedAt: record.fetchedAt, loadedFrom: "kv", has: (kid) => keys.has(kid) };
    } catch (error) {
      // A failing or corrupt KV is a cache miss, never an outage: the origin is still there.
      this.#o.logger.log("warn", "jwks.kv_read_failed", { source: this.#o.source, detail: describe(error) });
      return null;
    }
  }

  async #writeKv(record: KvRecord): Promise<void> {
    const kv = this.#o.kv;
    if (!kv) return;
    try {
      this.counters.kvWrites++;
      // Kept as long as it may be served stale; KV's minimum expiration is 60 s.
      await bounded(
        kv.put(await this.#key(), JSON.stringify(record), { expirationTtl: Math.max(60, Math.ceil(this.#o.maxStaleMs / 1000)) }),
        this.#o.timeoutMs,
        "KV write",
      );
    } catch (error) {
      this.#o.logger.log("warn", "jwks.kv_write_failed", { source: this.#o.source, detail: describe(error) });
    }
  }

  async #key(): Promise<string> {
    this.#kvKey ??= await jwksCacheKey(this.#o.instance, this.#o.url, this.#o.headers);
    return this.#kvKey;
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
  if (error instanceof JwksFetchError) return error.detail;
  // jose's errors name themselves after their class, which a minified bundle renames: their `code` is stable.
  if (error instanceof Error) return `${(error as { code?: unknown }).code ?? error.name}: ${error.message}`.slice(0, 200);
  return "unknown error";
}

function loggedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "";
  }
}
