import { JwksUnavailableError, Reason, TokenVerificationError } from "../verify/errors.js";
import type { Logger } from "../core/log.js";
import { importJwks, type VerificationKey } from "./jwks.js";
import { fetchJwksDocument, JwksFetchError } from "./origin.js";
import type { IoContext, KeyResolver, KeyStatus, KeyStoreCounters } from "./types.js";

export interface RemoteKeyStoreOptions {
  /** Label for status and logs: `jwks-uri`, `publishable-key` or `secret-key`. */
  source: string;
  url: string;
  /** Extra request headers (the Backend API's `Authorization`); never logged. */
  headers?: Record<string, string>;
  algorithms: readonly string[];
  /** Shared cache across isolates. Optional: without it every isolate goes to the origin once. */
  kv?: KVNamespace | null;
  /** Keys younger than this are fresh. Default 600 s. */
  ttlMs: number;
  /** Past TTL, keys are still served while the origin fails, up to this age. Default 86400 s. */
  maxStaleMs: number;
  /** Minimum time between origin fetches for unknown kids or background refreshes. Default 30 s. */
  cooldownMs: number;
  /** Timeout of one origin fetch, and of one KV read or write. Default 5000 ms. */
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

interface KeySet {
  keys: Map<string, VerificationKey>;
  /** Epoch ms of the origin fetch that produced this set (possibly by another isolate, via KV). */
  fetchedAt: number;
  loadedFrom: "origin" | "kv";
}

const MAX_BAD_KIDS = 1024;
/** How often a request waiting for another request's cold load looks again. */
const COLD_POLL_MS = 5;

/**
 * Clerk's JWKS in three layers: isolate memory (imported CryptoKeys by kid) → Workers KV (the JWKS
 * JSON and its fetch time, keyed by URL) → the origin. A known kid in a fresh set costs one Map
 * lookup; nothing else is touched.
 *
 * Workers forbid one request from awaiting I/O another request started
 * (https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/ — "Cannot perform I/O on
 * behalf of a different request"; jose works around the same rule, panva/jose#355). So no promise
 * is shared between requests here: a request that needs keys it does not have does its own I/O,
 * and a background refresh runs under the `waitUntil` of the request that started it while the
 * others keep serving the set in memory. A single-flight flag stops concurrent background refreshes.
 */
export class RemoteKeyStore implements KeyResolver {
  readonly counters: KeyStoreCounters = { originFetches: 0, originFailures: 0, kvReads: 0, kvWrites: 0, staleServed: 0 };
  readonly #o: RemoteKeyStoreOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #kvKey: string;
  #set: KeySet | null = null;
  /** Last origin attempt of any kind, success or not: the cooldown counts from here. */
  #lastOriginAttempt = Number.NEGATIVE_INFINITY;
  /** Start of an in-flight cold load (no key set in memory yet); 0 when none. */
  #coldSince = 0;
  #backgroundSince = 0;
  /** Kids already looked for and not found, with the time until which they are not looked for again. */
  readonly #badKids = new Map<string, number>();

  constructor(options: RemoteKeyStoreOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    // Scoped by URL (never by kid) so that one KV entry holds the whole set of one instance.
    this.#kvKey = `jwks:v1:${options.url}`;
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
    let set = this.#set;
    if (!set) set = await this.#loadCold(io);

    const age = this.#now() - set.fetchedAt;
    if (age > this.#o.ttlMs) {
      if (age > this.#o.maxStaleMs) {
        // Too old to trust even as a fallback: this request must get a newer set or fail closed.
        set = await this.#refreshOrFail(io);
      } else {
        this.counters.staleServed++;
        this.#refreshInBackground(io);
      }
    }

    const found = set.keys.get(kid);
    if (found) return found;
    return this.#unknownKid(kid, io);
  }

  status(): KeyStatus {
    const set = this.#set;
    if (!set) return { source: this.#o.source, state: "empty", kids: [], ageSeconds: null, loadedFrom: null };
    const age = this.#now() - set.fetchedAt;
    return {
      source: this.#o.source,
      state: age <= this.#o.ttlMs ? "fresh" : "stale",
      kids: [...set.keys.keys()],
      ageSeconds: Math.max(0, Math.floor(age / 1000)),
      loadedFrom: set.loadedFrom,
    };
  }

  /** First use in this isolate: KV first (another isolate may have fetched), then the origin. */
  async #loadCold(io: IoContext): Promise<KeySet> {
    // A burst on a cold isolate: one request loads, the others wait for its result. They cannot
    // await its promise (I/O of another request), so each polls the isolate's memory on timers of
    // its own, and loads by itself if the first load ends without keys or takes too long.
    if (this.#coldSince && this.#now() - this.#coldSince < this.#o.timeoutMs * 2) {
      const loaded = await this.#waitForColdLoad(this.#o.timeoutMs * 2);
      if (loaded) return loaded;
    }
    this.#coldSince = this.#now();
    try {
      const fromKv = await this.#readKv();
      if (fromKv) {
        this.#set = fromKv;
        return fromKv;
      }
      return await this.#refreshOrFail(io, /* kvAlreadyChecked */ true);
    } finally {
      this.#coldSince = 0;
    }
  }

  async #waitForColdLoad(maxMs: number): Promise<KeySet | null> {
    // Real time, not the injected clock: this is a wait, not a freshness decision.
    const deadline = Date.now() + maxMs;
    while (!this.#set && this.#coldSince && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, COLD_POLL_MS));
    }
    return this.#set;
  }

  async #refreshOrFail(io: IoContext, kvAlreadyChecked = false): Promise<KeySet> {
    if (!kvAlreadyChecked) {
      const fromKv = await this.#readKv();
      if (fromKv && this.#now() - fromKv.fetchedAt <= this.#o.ttlMs) {
        this.#set = fromKv;
        return fromKv;
      }
    }
    try {
      return await this.#fetchOrigin(io);
    } catch (error) {
      const held = this.#set;
      if (held && this.#now() - held.fetchedAt <= this.#o.maxStaleMs) return held;
      throw new JwksUnavailableError(
        `signing keys could not be loaded (${describe(error)})`,
        Math.max(1, Math.ceil(this.#o.cooldownMs / 1000)),
      );
    }
  }

  #refreshInBackground(io: IoContext): void {
    const now = this.#now();
    if (now - this.#lastOriginAttempt < this.#o.cooldownMs) return;
    if (this.#backgroundSince && now - this.#backgroundSince < this.#o.timeoutMs * 2) return;
    this.#backgroundSince = now;
    // Claimed now, before the KV read: an unknown-kid lookup meanwhile must not fetch as well.
    this.#lastOriginAttempt = now;
    const work = (async () => {
      try {
        // Another isolate may already have refreshed the shared copy.
        const fromKv = await this.#readKv();
        if (fromKv && (!this.#set || fromKv.fetchedAt > this.#set.fetchedAt) && this.#now() - fromKv.fetchedAt <= this.#o.ttlMs) {
          this.#set = fromKv;
          return;
        }
        await this.#fetchOrigin(io);
      } catch (error) {
        this.#o.logger.log("warn", "jwks.refresh_failed", { source: this.#o.source, detail: describe(error), stale: true });
      } finally {
        this.#backgroundSince = 0;
      }
    })();
    if (io.waitUntil) io.waitUntil(work);
  }

  async #unknownKid(kid: string, io: IoContext): Promise<VerificationKey> {
    const now = this.#now();
    const until = this.#badKids.get(kid);
    const mismatch = () =>
      new TokenVerificationError(Reason.JwkKidMismatch, "the token's kid matches none of the signing keys", kid);
    if (until !== undefined && until > now) throw mismatch();

    // Rotation: the kid may be new. Look again, but at most once per cooldown whatever the kid,
    // so a flood of random kids costs one origin fetch per cooldown, not one per request.
    if (now - this.#lastOriginAttempt >= this.#o.cooldownMs) {
      // Claimed before the first await: concurrent requests with unknown kids would otherwise all
      // pass the check above before any of them reached the origin.
      this.#lastOriginAttempt = now;
      try {
        const fromKv = await this.#readKv();
        const set =
          fromKv && fromKv.keys.has(kid) && (!this.#set || fromKv.fetchedAt >= this.#set.fetchedAt)
            ? (this.#set = fromKv)
            : await this.#fetchOrigin(io);
        const found = set.keys.get(kid);
        if (found) return found;
      } catch (error) {
        this.#o.logger.log("warn", "jwks.refresh_failed", { source: this.#o.source, detail: describe(error), kid: kid.slice(0, 64) });
      }
    }
    if (this.#badKids.size >= MAX_BAD_KIDS) this.#badKids.clear();
    this.#badKids.set(kid, now + this.#o.cooldownMs);
    throw mismatch();
  }

  async #fetchOrigin(io: IoContext): Promise<KeySet> {
    const startedAt = this.#now();
    this.#lastOriginAttempt = startedAt;
    this.counters.originFetches++;
    let document: unknown;
    let keys: Map<string, VerificationKey>;
    try {
      document = await fetchJwksDocument(this.#o.url, {
        headers: this.#o.headers,
        timeoutMs: this.#o.timeoutMs,
        fetch: this.#fetch,
      });
      keys = await importJwks(document, this.#o.algorithms);
    } catch (error) {
      this.counters.originFailures++;
      this.#o.logger.log("warn", "jwks.fetch_failed", { source: this.#o.source, detail: describe(error) });
      throw error;
    }
    const set: KeySet = { keys, fetchedAt: startedAt, loadedFrom: "origin" };
    this.#set = set;
    this.#badKids.clear();
    this.#o.logger.log("info", "jwks.fetched", { source: this.#o.source, kids: [...keys.keys()] });
    // KV is written only after a real origin fetch, and off the request's critical path.
    const write = this.#writeKv({ v: 1, fetchedAt: startedAt, jwks: document });
    if (io.waitUntil) io.waitUntil(write);
    else await write;
    return set;
  }

  async #readKv(): Promise<KeySet | null> {
    const kv = this.#o.kv;
    if (!kv) return null;
    this.counters.kvReads++;
    try {
      const record = await bounded(kv.get<KvRecord>(this.#kvKey, "json"), this.#o.timeoutMs, "KV read");
      if (!record || record.v !== 1 || typeof record.fetchedAt !== "number") return null;
      if (this.#now() - record.fetchedAt > this.#o.maxStaleMs) return null;
      const keys = await importJwks(record.jwks, this.#o.algorithms);
      return { keys, fetchedAt: record.fetchedAt, loadedFrom: "kv" };
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
        kv.put(this.#kvKey, JSON.stringify(record), { expirationTtl: Math.max(60, Math.ceil(this.#o.maxStaleMs / 1000)) }),
        this.#o.timeoutMs,
        "KV write",
      );
    } catch (error) {
      this.#o.logger.log("warn", "jwks.kv_write_failed", { source: this.#o.source, detail: describe(error) });
    }
  }
}

/**
 * A KV call that never settles must not hold a request (or its waitUntil) forever: past the
 * timeout it counts as failed, which for a read is a cache miss and for a write a lost write.
 */
function bounded<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([operation, deadline]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  if (error instanceof JwksFetchError) return error.detail;
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 200);
  return "unknown error";
}
