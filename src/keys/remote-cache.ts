import { bounded } from "../core/deadline.js";
import type { Logger } from "../core/log.js";
import { decide, refreshStep, type Decision, type RequestState, type SetView, type Timing } from "./freshness.js";
import type { IoContext } from "./types.js";

/** One copy of the remote document: what the origin served (here or in another isolate, via KV) and when. */
export interface Copy<T> extends SetView {
  value: T;
  loadedFrom: "origin" | "kv";
}

export interface RemoteCacheOptions<T> {
  timing: Timing;
  /** Timeout of one KV read or write. */
  kvTimeoutMs: number;
  /** Shared cache across isolates. Optional: without it every isolate goes to the origin once. */
  kv?: KVNamespace | null;
  /** The KV key, asked for once (on first KV use). */
  key(): Promise<string>;
  /**
   * One origin attempt (it logs its own outcome): the value, and the fields of the KV record
   * other isolates revive it from. Throws when it fails.
   */
  load(): Promise<{ value: T; record: object }>;
  /** A KV record (`{ v: 1, fetchedAt, ...record }`) back into a value; null or a throw when unusable. */
  revive(record: Record<string, unknown>): T | null | Promise<T | null>;
  /** Does a value have `kid` (a directory has every one). */
  has(value: T, kid: string): boolean;
  /** A background refresh failed (after load logged it). */
  refreshFailed?(error: unknown): void;
  now: () => number;
  logger: Logger;
  /** Names the KV log lines (`<event>.kv_read_failed`, `<event>.kv_write_failed`), with these fields. */
  event: string;
  fields?: Record<string, unknown>;
}

/** Counters a test, `/metrics` or a benchmark reads to prove the hot path touches no slow layer. */
export interface RemoteCacheCounters {
  originFetches: number;
  originFailures: number;
  kvReads: number;
  kvWrites: number;
  staleServed: number;
}

const MAX_ABSENT_KIDS = 1024;
/** How often a request waiting for another request's lookup looks again. */
const WAIT_POLL_MS = 5;

/**
 * A remote JSON document in three layers — isolate memory → Workers KV (the document and its
 * fetch time) → the origin — carried out as freshness.ts decides. One engine for Clerk's JWKS
 * (remote-store.ts) and the upstream's agent directory (proxy/agent-directory-store.ts): what
 * differs is only what a load fetches and what a KV record revives into.
 *
 * Workers forbid one request from awaiting I/O another request started
 * (https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/ — "Cannot perform I/O on
 * behalf of a different request"; jose works around the same rule, panva/jose#355). So no promise
 * is shared between requests here: a request that needs what another request is already looking
 * for polls isolate memory on timers of its own, and does its own I/O when that lookup ends
 * without what it needs (within the budgets) or takes too long. A background refresh runs under
 * the `waitUntil` of the request that started it.
 */
export class RemoteCache<T> {
  readonly counters: RemoteCacheCounters = { originFetches: 0, originFailures: 0, kvReads: 0, kvWrites: 0, staleServed: 0 };
  readonly #o: RemoteCacheOptions<T>;
  #kvKey: string | null = null;
  /** The copy held in isolate memory. */
  held: Copy<T> | null = null;
  /** The last origin attempt failed (for status: an empty cache that tried and failed is unavailable, not starting). */
  lastAttemptFailed = false;
  #lookupAt = Number.NEGATIVE_INFINITY;
  #originOkAt = Number.NEGATIVE_INFINITY;
  #originFailedAt = Number.NEGATIVE_INFINITY;
  #refreshAt = Number.NEGATIVE_INFINITY;
  #inFlightSince = 0;
  /** Kids looked up and not found, with the time until which they are not looked up again. */
  readonly #absentKids = new Map<string, number>();

  constructor(options: RemoteCacheOptions<T>) {
    this.#o = options;
  }

  /** The copy held, when it is fresh: the hot path (no await, no I/O). */
  fresh(): Copy<T> | undefined {
    const held = this.held;
    return held && this.#o.now() - held.fetchedAt <= this.#o.timing.ttlMs ? held : undefined;
  }

  /** Carries out what freshness.ts decides until it answers serve (the held copy) or fail (returned). */
  async resolve(kid: string, io: IoContext): Promise<Copy<T> | Extract<Decision, { action: "fail" }>> {
    const request: RequestState = { kv: undefined, originTried: false, waited: false };
    let kvCopy: Copy<T> | null = null;
    for (;;) {
      const now = this.#o.now();
      const decision = decide(kid, { held: this.held, lookupAt: this.#lookupAt, originOkAt: this.#originOkAt, originFailedAt: this.#originFailedAt, refreshAt: this.#refreshAt, inFlightSince: this.#inFlightSince, kidAbsentUntil: this.#absentKids.get(kid) }, request, now, this.#o.timing);
      switch (decision.action) {
        case "serve": {
          const held = this.held!;
          if (now - held.fetchedAt > this.#o.timing.ttlMs) {
            this.counters.staleServed++;
            if (decision.refresh) this.#refreshInBackground(io);
          }
          return held;
        }
        case "adopt-kv":
          this.held = kvCopy;
          break;
        case "read-kv":
          // Claimed before the first await: concurrent requests wait for this lookup instead.
          if (decision.spendsLookup) this.#lookupAt = now;
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
          if (decision.why === "kid-unknown" && request.originTried) {
            if (this.#absentKids.size >= MAX_ABSENT_KIDS) this.#absentKids.clear();
            this.#absentKids.set(kid, now + this.#o.timing.cooldownMs);
          }
          return decision;
      }
    }
  }

  /**
   * Marks one I/O step of a lookup as in flight while it runs, so other requests of the isolate
   * wait for it instead of repeating it. Between two steps of one lookup there is no await, so a
   * waiter never sees the gap.
   */
  async #inFlight<R>(step: () => Promise<R>): Promise<R> {
    const since = (this.#inFlightSince = this.#o.now() || 1);
    try {
      return await step();
    } finally {
      if (this.#inFlightSince === since) this.#inFlightSince = 0;
    }
  }

  /** Polls isolate memory until the lookup in flight ends (real time: this is a wait, not a freshness decision). */
  async #waitForLookup(): Promise<void> {
    const deadline = Date.now() + this.#o.timing.inFlightMs;
    while (this.#inFlightSince !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  #refreshInBackground(io: IoContext): void {
    this.#refreshAt = this.#o.now();
    const work = this.#inFlight(async () => {
      try {
        let kv: Copy<T> | null | undefined;
        for (;;) {
          const step = refreshStep(this.held, kv, this.#o.now(), this.#o.timing);
          if (step === "done") return;
          if (step === "read-kv") kv = await this.#readKv();
          else if (step === "adopt-kv") {
            this.held = kv!;
            kv = null;
          } else {
            await this.#fetchOrigin(io, false);
            return;
          }
        }
      } catch (error) {
        this.#o.refreshFailed?.(error);
      }
    });
    io.waitUntil?.(work);
  }

  /** One origin attempt. `load`: no usable copy is held, so a failure answers at once for a cooldown. */
  async #fetchOrigin(io: IoContext, load: boolean): Promise<void> {
    const startedAt = this.#o.now();
    this.counters.originFetches++;
    let loaded: { value: T; record: object };
    try {
      loaded = await this.#o.load();
    } catch (error) {
      this.counters.originFailures++;
      this.lastAttemptFailed = true;
      if (load) this.#originFailedAt = startedAt;
      throw error;
    }
    this.held = this.#copy(loaded.value, startedAt, "origin");
    this.#originOkAt = startedAt;
    this.lastAttemptFailed = false;
    this.#originFailedAt = Number.NEGATIVE_INFINITY;
    this.#absentKids.clear();
    // KV is written only after a real origin fetch, and off the request's critical path.
    const write = this.#writeKv({ v: 1, fetchedAt: startedAt, ...loaded.record });
    if (io.waitUntil) io.waitUntil(write);
    else await write;
  }

  #copy(value: T, fetchedAt: number, loadedFrom: "origin" | "kv"): Copy<T> {
    return { value, fetchedAt, loadedFrom, has: (kid) => this.#o.has(value, kid) };
  }

  /** KV's copy when it is there and usable; null otherwise (no KV, a miss, a failure, a corrupt record). */
  async #readKv(): Promise<Copy<T> | null> {
    const { kv, kvTimeoutMs, timing } = this.#o;
    if (!kv) return null;
    this.counters.kvReads++;
    try {
      const record = await bounded(kv.get<Record<string, unknown>>(await this.#key(), "json"), kvTimeoutMs, "KV read");
      if (!record || record.v !== 1 || typeof record.fetchedAt !== "number" || this.#o.now() - record.fetchedAt > timing.maxStaleMs) return null;
      const value = await this.#o.revive(record);
      return value === null ? null : this.#copy(value, record.fetchedAt, "kv");
    } catch (error) {
      // A failing or corrupt KV is a cache miss, never an outage: the origin is still there.
      this.#o.logger.log("warn", `${this.#o.event}.kv_read_failed`, { ...this.#o.fields, detail: describeError(error) });
      return null;
    }
  }

  async #writeKv(record: object): Promise<void> {
    const { kv, kvTimeoutMs, timing } = this.#o;
    if (!kv) return;
    try {
      this.counters.kvWrites++;
      // Kept as long as it may be served stale; KV's minimum expiration is 60 s.
      await bounded(kv.put(await this.#key(), JSON.stringify(record), { expirationTtl: Math.max(60, Math.ceil(timing.maxStaleMs / 1000)) }), kvTimeoutMs, "KV write");
    } catch (error) {
      this.#o.logger.log("warn", `${this.#o.event}.kv_write_failed`, { ...this.#o.fields, detail: describeError(error) });
    }
  }

  async #key(): Promise<string> {
    return (this.#kvKey ??= await this.#o.key());
  }
}

/** An error for a log line, at most 200 characters. jose's errors are named by their `code`: a minified bundle renames their classes. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${(error as { code?: unknown }).code ?? error.name}: ${error.message}`.slice(0, 200);
  return "unknown error";
}
