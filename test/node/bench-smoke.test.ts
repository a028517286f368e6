import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);

// The benchmark harness with tiny counts: proves every section runs end to end (workerd,
// Miniflare, autocannon, wrangler's dry-run, the inspector) and writes well-formed results.
// It asserts shapes only; speed is what `npm run bench` reports, never a test. ~45 s on a quiet
// 2-core machine; the timeouts leave room for a loaded one.
describe("npm run bench (smoke)", () => {
  let out: string | undefined;
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("runs every section and writes results and a chart", async () => {
    out = await mkdtemp(join(tmpdir(), "mea-bench-smoke-"));
    await run(process.execPath, ["bench/run.mjs", "--smoke", "--out", out], { timeout: 270_000, maxBuffer: 16 * 1024 * 1024 });
    const results = JSON.parse(await readFile(join(out, "results.json"), "utf8"));
    const positive = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n > 0;
    const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;

    expect(results.smoke).toBe(true);
    expect(results.machine.node).toBe(process.version);
    for (const runtime of ["workerd", "node"]) {
      const v = results.verify[runtime];
      for (const subject of ["verifier-hot", "verifier-cold", "jose-jwtVerify", "clerk-verifyToken-jwtKey", "clerk-verifyToken-jwks", "subtle-verify-from-token", "subtle-verify-bytes"]) {
        expect(positive(v[subject].opsPerSec), `${runtime} ${subject}`).toBe(true);
      }
      for (const ratio of Object.values(v.ratios)) expect(positive(ratio)).toBe(true);
    }

    for (const worker of ["passthrough", "gateway", "clerk-backend", "hono-jwk"]) {
      const w = results.overhead.workers[worker];
      expect(positive(w.rps), worker).toBe(true);
      expect(positive(w.p50Us) && positive(w.p99Us), worker).toBe(true);
      // CPU time from /proc: a number where Linux has it (a short smoke round may read 0 ticks).
      expect(typeof w.cpuUsPerRequest, worker).toBe("number");
    }
    expect(positive(results.overhead.ratios.gatewayVsPassthroughRps)).toBe(true);
    expect(positive(results.overhead.ratios.gatewayVsHonoJwkRps)).toBe(true);

    const k = results.keys;
    // Counts, not speed: the cold isolate with a cold KV went to the origin, once.
    expect(k.coldIsolateColdKv).toMatchObject({ requests: 1, originFetches: 1, kvWrites: 1 });
    for (const row of [k.warmIsolate, k.coldIsolateWarmKv, k.ttlHot, k.ttl]) {
      expect(count(row.originFetches) && count(row.kvReads) && positive(row.requests)).toBe(true);
    }

    expect(positive(results.start.bundles.gateway.gzipBytes)).toBe(true);
    expect(positive(results.start.bundles["clerk-backend"].gzipBytes)).toBe(true);
    expect(positive(results.start.bundles["hono-jwk"].gzipBytes)).toBe(true);
    expect(results.start.contributors.map((c: { name: string }) => c.name)).toContain("src/routes/mastra-routes.ts");
    expect(Object.keys(results.start.firstRequestMs)).toEqual([
      "passthrough",
      "passthrough (gateway's bindings)",
      "gateway (cold KV)",
      "gateway (warm KV)",
      "gateway (no KV binding)",
      "passthrough (one KV read first)",
      "passthrough (one KV read first, empty KV)",
      "passthrough (one JWKS fetch first)",
      "clerk-backend",
      "hono-jwk",
    ]);
    for (const f of Object.values(results.start.firstRequestMs) as { firstMs: number }[]) expect(positive(f.firstMs)).toBe(true);
    for (const ratio of Object.values(results.start.ratios)) expect(positive(ratio)).toBe(true);
    // The first request's profile has every step (what a smoke run's few samples caught of each is
    // the machine's business, not a result) — and the gateway was not built by that request
    // (src/index.ts builds it while the isolate starts).
    const profile = results.start.firstRequestProfile;
    expect(profile.busyMs).toBeGreaterThan(0);
    for (const name of ["`gatewayFor`", "`authenticate`", "`verify`", "`forward`"]) {
      const ms = profile.phases.find((p: { phase: string }) => p.phase.includes(name))?.ms;
      expect(typeof ms === "number" && Number.isFinite(ms) && ms >= 0, name).toBe(true);
    }
    expect(profile.self.map((f: { name: string }) => f.name)).not.toContain("createGateway");

    expect(results.profile.breakdown.length).toBeGreaterThan(5);
    // Issue #11: route classification beside plain path matching, in the same run.
    // (A smoke round is too short for the isolate's clock to move: present and a number, not a speed.)
    for (const row of ["route classification", "plain path matching"]) {
      expect(count(results.profile.breakdown.find((b: { part: string }) => b.part.startsWith(row))?.rounds.length), row).toBe(true);
    }
    expect(results.profile.cpu.functions.length).toBeGreaterThan(0);

    // Load: correctness under concurrent mixed traffic, counts only.
    expect(results.load).toMatchObject({ errors: 0, unexpected: 0, upstream: { withoutIdentity: 0 } });
    expect(positive(results.load.requests)).toBe(true);
    expect(results.load.isolateHeapMiB.retainedAfterGc.length).toBeGreaterThanOrEqual(2);

    // Spend guard: both sides measured, the verdict one of the three.
    for (const side of ["off", "on"]) expect(positive(results.spendGuard[side].rps) && positive(results.spendGuard[side].cpuUs), side).toBe(true);
    expect(positive(results.spendGuard.ratio)).toBe(true);
    expect(["met", "not met", "inconclusive"]).toContain(results.spendGuard.verdict);

    // §9 machine tokens (issue #13): every subject measured, every ratio a number.
    for (const v of Object.values(results.machineTokens.subjects) as { opsPerSec: number }[]) expect(positive(v.opsPerSec)).toBe(true);
    for (const ratio of Object.values(results.machineTokens.ratios)) expect(positive(ratio)).toBe(true);

    expect(results.targets.map((t: { id: string }) => t.id)).toEqual([
      "throughput",
      "peers",
      "latency",
      "hot",
      "hot-us",
      "cold",
      "clerk",
      "hot-path-io",
      "ttl",
      "bundle",
      "first-cold-kv",
      "first-warm-kv",
      "first-same-source",
      "start",
      "start-same-bindings",
    ]);
    for (const t of results.targets) {
      expect(typeof t.met).toBe("boolean");
      expect(["met", "missed", "inconclusive"]).toContain(t.verdict);
    }

    const svg = await readFile(join(out, "chart.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("Verification inside workerd");
    expect(svg).toContain("First authenticated request");
  }, 300_000);
});
