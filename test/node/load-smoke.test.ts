// A short run of the load benchmark (bench/sections/load.mjs; `npm run load` is the full one): the gateway
// in workerd under concurrent mixed traffic must answer every request with exactly the status it
// deserves, with no connection error, no request without identity reaching the upstream, and the
// JWKS fetched from the origin once. Correctness under load only: no timing thresholds here.
import { describe, expect, it } from "vitest";
import { runLoad } from "../../bench/sections/load.mjs";

describe("load smoke: 20 connections × 3 s against the gateway in workerd", () => {
  it("0 errors, 0 unexpected statuses, one JWKS fetch, only authenticated requests upstream", async () => {
    const result = await runLoad({ connections: 20, durationS: 3, hot: 50, cold: 300 });
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.unexpected).toBe(0);
    expect(result.unexpectedSamples).toEqual([]);
    // The mix really ran: valid and invalid tokens were both answered, and nothing else.
    expect(result.expected[200]).toBeGreaterThan(0);
    expect(result.expected[401]).toBeGreaterThan(0);
    expect(Object.keys(result.statuses).sort()).toEqual(["200", "401"]);
    // Every 200 came from the upstream, with the identity the gateway set; nothing else got there
    // (a request still in flight when the run stopped may have reached it unanswered).
    expect(result.upstream.withoutIdentity).toBe(0);
    expect(result.upstream.requests).toBeGreaterThanOrEqual(result.statuses[200]!);
    expect(result.upstream.requests).toBeLessThanOrEqual(result.statuses[200]! + 20);
    expect(result.jwksFetches.warmup + result.jwksFetches.run).toBe(1);
  }, 120_000);
});
