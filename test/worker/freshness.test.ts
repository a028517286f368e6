import { describe, expect, it } from "vitest";
import { decide, refreshStep, type Decision, type RequestState, type SetView, type StoreState, type Timing } from "../../src/keys/freshness.js";

// The key store's one rule, case by case (src/keys/freshness.ts). Times in ms; the clock is 1e6.
const NOW = 1_000_000;
const T: Timing = { ttlMs: 600_000, maxStaleMs: 3_600_000, cooldownMs: 30_000, inFlightMs: 10_000 };
const NONE = Number.NEGATIVE_INFINITY;

const set = (ageMs: number, ...kids: string[]): SetView => ({ fetchedAt: NOW - ageMs, has: (kid) => kids.includes(kid) });
const store = (over: Partial<StoreState> = {}): StoreState => ({
  held: null,
  lookupAt: NONE,
  originOkAt: NONE,
  originFailedAt: NONE,
  refreshAt: NONE,
  inFlightSince: 0,
  kidAbsentUntil: undefined,
  ...over,
});
const fresh: RequestState = { kv: undefined, originTried: false, waited: false };
const req = (over: Partial<RequestState> = {}): RequestState => ({ ...fresh, ...over });

// Each case asks for kid "k" — or, where the label says "unknown kid", for "new", which no set
// below has unless it says so.
const cases: [string, StoreState, RequestState, Decision][] = [
  // A usable set with the kid: serve, and refresh in the background once past the TTL.
  ["fresh set with the kid: serve", store({ held: set(1_000, "k") }), fresh, { action: "serve", refresh: false }],
  ["stale set with the kid: serve and refresh", store({ held: set(700_000, "k") }), fresh, { action: "serve", refresh: true }],
  ["stale set, refresh within its cooldown: serve only", store({ held: set(700_000, "k"), refreshAt: NOW - 5_000 }), fresh, { action: "serve", refresh: false }],
  ["stale set, a lookup in flight: serve only", store({ held: set(700_000, "k"), inFlightSince: NOW - 1_000 }), fresh, { action: "serve", refresh: false }],
  // Nothing usable held: KV, then the origin, fail closed; one origin attempt per cooldown while it fails.
  ["cold: read KV", store(), fresh, { action: "read-kv", spendsLookup: false }],
  ["cold, KV has a usable copy: adopt it", store(), req({ kv: set(700_000, "k") }), { action: "adopt-kv" }],
  ["cold, KV copy past the stale bound: origin", store(), req({ kv: set(3_700_000, "k") }), { action: "fetch-origin", load: true }],
  ["cold, KV empty: origin", store(), req({ kv: null }), { action: "fetch-origin", load: true }],
  ["cold, origin tried and failed: 503", store({ originFailedAt: NOW - 100 }), req({ kv: null, originTried: true }), { action: "fail", why: "unavailable", retryAfterMs: 29_900 }],
  ["cold, origin failed 10 s ago: 503 at once, no KV read", store({ originFailedAt: NOW - 10_000 }), fresh, { action: "fail", why: "unavailable", retryAfterMs: 20_000 }],
  ["cold, origin failed a cooldown ago: try again", store({ originFailedAt: NOW - 30_000 }), fresh, { action: "read-kv", spendsLookup: false }],
  ["cold, another request is loading: wait", store({ inFlightSince: NOW - 1_000 }), fresh, { action: "wait" }],
  ["cold, waited already: do it yourself", store({ inFlightSince: NOW - 1_000 }), req({ waited: true }), { action: "read-kv", spendsLookup: false }],
  ["cold, the load in flight is older than its bound: do it yourself", store({ inFlightSince: NOW - 10_000 }), fresh, { action: "read-kv", spendsLookup: false }],
  ["set past the stale bound: like cold", store({ held: set(3_700_000, "k") }), fresh, { action: "read-kv", spendsLookup: false }],
  ["set past the stale bound, KV newer: adopt", store({ held: set(3_700_000, "k") }), req({ kv: set(1_000, "k") }), { action: "adopt-kv" }],
  // A usable set without the kid: one lookup per cooldown, a refresh never takes its turn.
  ["unknown kid: look up, KV first (spends the lookup)", store({ held: set(1_000, "k") }), fresh, { action: "read-kv", spendsLookup: true }],
  ["unknown kid, KV newer and has it: adopt", store({ held: set(700_000, "k") }), req({ kv: set(1_000, "k", "new") }), { action: "adopt-kv" }],
  ["unknown kid, KV lacks it: origin", store({ held: set(700_000, "k") }), req({ kv: set(1_000, "k") }), { action: "fetch-origin", load: false }],
  ["unknown kid, origin tried: 401", store({ held: set(0, "k") }), req({ kv: null, originTried: true }), { action: "fail", why: "kid-unknown", retryAfterMs: 0 }],
  ["unknown kid, a lookup 10 s ago: 401 at once", store({ held: set(1_000, "k"), lookupAt: NOW - 10_000 }), fresh, { action: "fail", why: "kid-unknown", retryAfterMs: 0 }],
  ["unknown kid, the origin's set seen 10 s ago: 401 at once", store({ held: set(10_000, "k"), originOkAt: NOW - 10_000 }), fresh, { action: "fail", why: "kid-unknown", retryAfterMs: 0 }],
  ["unknown kid, a refresh 1 s ago (KV only): still looked up", store({ held: set(1_000, "k"), refreshAt: NOW - 1_000 }), fresh, { action: "read-kv", spendsLookup: true }],
  ["unknown kid, a refresh in flight: wait for it", store({ held: set(700_000, "k"), inFlightSince: NOW - 500 }), fresh, { action: "wait" }],
  ["unknown kid known absent: 401 without waiting", store({ held: set(1_000, "k"), inFlightSince: NOW - 500, kidAbsentUntil: NOW + 1 }), fresh, { action: "fail", why: "kid-unknown", retryAfterMs: 0 }],
  ["unknown kid, stale set, lookup allowed: look up (the lookup is the refresh)", store({ held: set(700_000, "k") }), fresh, { action: "read-kv", spendsLookup: true }],
];

describe("freshness: decide()", () => {
  it.each(cases)("%s", (_label, s, r, expected) => {
    const kid = _label.startsWith("unknown kid") ? "new" : "k";
    expect(decide(kid, s, r, NOW, T)).toEqual(expected);
  });
});

describe("freshness: refreshStep()", () => {
  it.each([
    ["first, KV", set(700_000), undefined, "read-kv"],
    ["KV newer: adopt", set(700_000), set(1_000), "adopt-kv"],
    ["KV newer but stale too: adopt (then the origin)", set(900_000), set(700_000), "adopt-kv"],
    ["KV not newer, held stale: origin", set(700_000), set(700_000), "fetch-origin"],
    ["KV empty, held stale: origin", set(700_000), null, "fetch-origin"],
    ["held fresh after adopting: done", set(1_000), null, "done"],
  ] as const)("%s", (_label, held, kv, expected) => {
    expect(refreshStep(held, kv, NOW, T)).toBe(expected);
  });
});
