/**
 * The one rule for "is this copy of the JWKS good enough", as a pure function of what the isolate
 * holds, what KV holds, the token's kid and the clock. The key store (remote-store.ts) only
 * carries out the answer — read KV, adopt its copy, go to the origin, wait, serve or fail — and
 * asks again, so every path (cold isolate, stale set, past the stale bound, unknown kid, a refresh
 * in flight) is decided here and tested from a table (test/worker/freshness.test.ts).
 *
 * Three budgets bound the slow layers, each at most once per cooldown per isolate:
 * - `lookupAt`: a lookup for a kid the held set lacks (a flood of random kids costs one). A
 *   successful origin fetch of this isolate within the cooldown counts as one: the origin's set
 *   was just seen, so a kid it lacks is not looked for again before the cooldown passes;
 * - `originFailedAt`: after a failed origin attempt with no usable set, requests are answered
 *   503 at once until the cooldown passes (a junk-token flood during an outage costs nothing);
 * - `refreshAt`: a background refresh of a stale set.
 * A background refresh never spends the lookup budget: a refresh that only adopted another
 * isolate's KV copy must not make a token with a new kid fail (issue #10 §1).
 */

/** What the decision needs to know of a key set: its age and whether it has the kid. */
export interface SetView {
  /** Epoch ms of the origin fetch that produced the set (possibly by another isolate, via KV). */
  fetchedAt: number;
  has(kid: string): boolean;
}

export interface Timing {
  /** A set younger than this is fresh. */
  ttlMs: number;
  /** A set older than this is never served, not even while the origin fails. */
  maxStaleMs: number;
  /** The minimum time between two spends of the same budget. */
  cooldownMs: number;
  /** How long a lookup in flight may be waited for before a request does its own. */
  inFlightMs: number;
}

/** The isolate's side of the decision (the key store's fields). */
export interface StoreState {
  held: SetView | null;
  /** Start of the last unknown-kid lookup; -Infinity when none. */
  lookupAt: number;
  /** Start of the last origin fetch of this isolate that produced a usable set; -Infinity when none. */
  originOkAt: number;
  /** Start of the last origin attempt that failed while no usable set was held; -Infinity when none. */
  originFailedAt: number;
  /** Start of the last background refresh; -Infinity when none. */
  refreshAt: number;
  /** Start of a lookup, load or refresh in flight in this isolate; 0 when none. */
  inFlightSince: number;
  /** Until when this kid is known to be absent (looked up and not found); undefined when not. */
  kidAbsentUntil: number | undefined;
}

/** What one request has done so far in its own lookup. */
export interface RequestState {
  /** KV's copy as read by this request: undefined before the read, null when KV had none (or there is no KV). */
  kv: SetView | null | undefined;
  /** This request went to the origin (whatever came of it). */
  originTried: boolean;
  /** This request already waited for another request's lookup. */
  waited: boolean;
}

export type Decision =
  /** The held set has the kid: use it. `refresh`: also start a background refresh. */
  | { action: "serve"; refresh: boolean }
  /** Take KV's copy as the held set, then decide again. */
  | { action: "adopt-kv" }
  /** Read KV's copy; `spendsLookup`: this starts an unknown-kid lookup (claim its budget first). */
  | { action: "read-kv"; spendsLookup: boolean }
  /** Fetch the origin now; `load`: no usable set is held, so a failure closes the door for a cooldown. */
  | { action: "fetch-origin"; load: boolean }
  /** Another request of this isolate is looking: wait for it (by polling memory), then decide again. */
  | { action: "wait" }
  /** `kid-unknown`: 401 jwk-kid-mismatch. `unavailable`: 503 with Retry-After. */
  | { action: "fail"; why: "kid-unknown" | "unavailable"; retryAfterMs: number };

export function ageOf(set: SetView, now: number): number {
  return now - set.fetchedAt;
}

/** What to do next for a token with `kid`. */
export function decide(kid: string, store: StoreState, request: RequestState, now: number, t: Timing): Decision {
  const held = store.held;
  const usable = held !== null && ageOf(held, now) <= t.maxStaleMs;
  const inFlight = store.inFlightSince !== 0 && now - store.inFlightSince < t.inFlightMs;
  const kv = request.kv;
  // KV's copy is worth taking when it is within the stale bound and newer than what is held.
  const kvNewer = !!kv && ageOf(kv, now) <= t.maxStaleMs && (held === null || kv.fetchedAt > held.fetchedAt);

  if (usable && held.has(kid)) {
    return { action: "serve", refresh: ageOf(held, now) > t.ttlMs && refreshAllowed(store, now, t, inFlight) };
  }

  if (!usable) {
    // Cold isolate, or a set too old to trust: this request needs a newer set or fails closed.
    if (kvNewer) return { action: "adopt-kv" };
    if (request.originTried) return { action: "fail", why: "unavailable", retryAfterMs: retryAfter(store.originFailedAt, now, t) };
    if (inFlight && !request.waited) return { action: "wait" };
    if (now - store.originFailedAt < t.cooldownMs) {
      return { action: "fail", why: "unavailable", retryAfterMs: retryAfter(store.originFailedAt, now, t) };
    }
    if (kv === undefined) return { action: "read-kv", spendsLookup: false };
    return { action: "fetch-origin", load: true };
  }

  // A usable set without this kid: a rotation (the kid is new), or a token not from this instance.
  if (kvNewer && kv!.has(kid)) return { action: "adopt-kv" };
  if (request.originTried) return { action: "fail", why: "kid-unknown", retryAfterMs: 0 };
  if (store.kidAbsentUntil !== undefined && store.kidAbsentUntil > now) return { action: "fail", why: "kid-unknown", retryAfterMs: 0 };
  // A lookup or refresh in flight may be bringing the kid: wait for it rather than refuse.
  if (inFlight && !request.waited) return { action: "wait" };
  if (kv === undefined) {
    // The KV read is the first step of the lookup, so it spends the lookup budget too.
    const lookupAllowed = now - Math.max(store.lookupAt, store.originOkAt) >= t.cooldownMs;
    return lookupAllowed ? { action: "read-kv", spendsLookup: true } : { action: "fail", why: "kid-unknown", retryAfterMs: 0 };
  }
  return { action: "fetch-origin", load: false };
}

function refreshAllowed(store: StoreState, now: number, t: Timing, inFlight: boolean): boolean {
  return !inFlight && now - store.refreshAt >= t.cooldownMs;
}

function retryAfter(since: number, now: number, t: Timing): number {
  const left = t.cooldownMs - (now - since);
  return Number.isFinite(left) && left > 0 ? left : t.cooldownMs;
}

/**
 * The background refresh of a stale set: KV first (another isolate may have refreshed the shared
 * copy), then the origin. `adopt-kv` when KV's copy is newer than the held one; the origin when
 * what is held after that is still past its TTL.
 */
export function refreshStep(held: SetView | null, kv: SetView | null | undefined, now: number, t: Timing): "read-kv" | "adopt-kv" | "fetch-origin" | "done" {
  if (kv === undefined) return "read-kv";
  if (kv && ageOf(kv, now) <= t.maxStaleMs && (!held || kv.fetchedAt > held.fetchedAt)) return "adopt-kv";
  return held && ageOf(held, now) <= t.ttlMs ? "done" : "fetch-origin";
}
