// §1 Verification: ops/s of each subject on the same token set, inside workerd (Miniflare) and in
// Node, rounds interleaved, one request per round so that only the loop is timed.

import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Miniflare } from "miniflare";
import { BENCH, bundleNodeSuite, buildBenchWorker } from "../lib/build.mjs";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median, pairedRatio, spread } from "../lib/stats.mjs";

export const COMPATIBILITY_DATE = "2026-05-01";

/**
 * @param {{ key, keyServer, tokens: string[], roundMs: number, cycles: number, buildDir: string, log: (s: string) => void }} o
 */
export async function benchVerify(o) {
  const input = {
    tokens: o.tokens,
    issuer: o.keyServer.issuer,
    jwks: o.key.jwks,
    pem: o.key.pem,
    jwksUrl: o.keyServer.jwksUrl,
    apiUrl: o.keyServer.url,
    secretKey: SECRET_KEY,
  };

  const workerPath = await buildBenchWorker("bench/verify-worker.ts", join(o.buildDir, "verify-worker.js"));
  const mf = new Miniflare({ modules: true, scriptPath: workerPath, compatibilityDate: COMPATIBILITY_DATE });
  let workerd;
  try {
    const call = async (path, body) => {
      const response = await mf.dispatchFetch(`http://bench.local${path}`, { method: "POST", body: JSON.stringify(body) });
      const json = await response.json();
      if (!response.ok) throw new Error(`verify worker ${path}: ${json.error}`);
      return json;
    };
    await call("/setup", input);
    const { SUBJECTS } = await import(pathToFileURL(await bundleNodeSuite(join(o.buildDir, "verify-suite.node.mjs"))).href);
    o.log(`  workerd: ${SUBJECTS.length} subjects × ${o.cycles} rounds of ~${o.roundMs} ms`);
    workerd = await measure(SUBJECTS, (subject, iterations) => call("/round", { subject, iterations }), o);
  } finally {
    await mf.dispose();
  }

  const suiteModule = await import(pathToFileURL(join(o.buildDir, "verify-suite.node.mjs")).href);
  const suite = await suiteModule.createSuite(input);
  o.log(`  node: ${suiteModule.SUBJECTS.length} subjects × ${o.cycles} rounds of ~${o.roundMs} ms`);
  const node = await measure(suiteModule.SUBJECTS, (subject, iterations) => suite.run(subject, iterations), o);

  return { tokens: o.tokens.length, workerd, node };
}

/** Calibrates each subject to ~roundMs per round, then runs interleaved rounds. */
async function measure(subjects, runRound, o) {
  const iterations = {};
  for (const subject of subjects) {
    // Grow until a round is long enough to time (workerd's clock ticks in whole milliseconds).
    let n = 8;
    let result = await runRound(subject, n);
    while (result.ms < Math.max(10, o.roundMs / 10) && n < 1e7) {
      n *= 4;
      result = await runRound(subject, n);
    }
    iterations[subject] = Math.max(1, Math.round((n * o.roundMs) / Math.max(result.ms, 1)));
  }
  const samples = await interleave(subjects, o.cycles, async (subject) => {
    const r = await runRound(subject, iterations[subject]);
    return (r.iterations / r.ms) * 1000;
  });
  const out = {};
  for (const subject of subjects) {
    const opsPerSec = median(samples[subject]);
    out[subject] = { opsPerSec, usPerOp: 1e6 / opsPerSec, iterationsPerRound: iterations[subject], rounds: samples[subject], spread: spread(samples[subject]) };
  }
  const r = (a, b) => pairedRatio(samples[a], samples[b]);
  out.ratios = {
    hotVsJose: r("verifier-hot", "jose-jwtVerify"),
    hotVsClerkJwtKey: r("verifier-hot", "clerk-verifyToken-jwtKey"),
    hotVsClerkJwks: r("verifier-hot", "clerk-verifyToken-jwks"),
    coldVsJose: r("verifier-cold", "jose-jwtVerify"),
    coldVsClerkJwks: r("verifier-cold", "clerk-verifyToken-jwks"),
    // Cost ratios (time per op): how many bare verifications one cold verification costs.
    coldCostVsSubtleFromToken: r("subtle-verify-from-token", "verifier-cold"),
    coldCostVsSubtleBytes: r("subtle-verify-bytes", "verifier-cold"),
  };
  return out;
}
