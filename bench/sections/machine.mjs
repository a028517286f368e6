// §9 Machine tokens (issue #13): M2M JWTs cold and hot beside session tokens, opaque API keys on a
// cache hit and a miss (a loopback stand-in of Clerk's Backend API answers the miss), and
// @clerk/backend's authenticateRequest with acceptsToken on the same tokens. In Node, the loop
// only (no HTTP to the gateway), rounds interleaved; every comparison is a ratio within this run.

import { once } from "node:events";
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { mintM2MToken } from "../../scripts/lib/clerk-token.mjs";
import { BENCH } from "../lib/build.mjs";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median, pairedRatio, spread } from "../lib/stats.mjs";

export const MACHINE_PLANS = { full: { tokens: 1000, roundMs: 150, cycles: 7 }, smoke: { tokens: 8, roundMs: 25, cycles: 2 } };
const API_KEY = "ak_bench_2xQ7mK9pLr4vT1nW8sY3zB6c";

/** Clerk's `/api_keys/verify` on loopback: 200 with the key's resource for the one it knows, 404 otherwise. */
async function startBackendApi() {
  let lookups = 0;
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      lookups++;
      const known = request.method === "POST" && request.url === "/api_keys/verify" && JSON.parse(body || "{}").secret === API_KEY;
      response.writeHead(known ? 200 : 404, { "content-type": "application/json" });
      response.end(JSON.stringify(known ? { object: "api_key", id: "ak_id_bench", type: "api_key", name: "bench", subject: "user_bench", scopes: ["read"], claims: null, revoked: false, expired: false, expiration: null, created_at: 1, updated_at: 1 } : { errors: [{ code: "resource_not_found" }] }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${server.address().port}`, lookups: () => lookups, close: () => new Promise((resolve) => server.close(resolve)) };
}

/**
 * @param {{ key, keyServer, tokens: string[], plan: { tokens: number, roundMs: number, cycles: number }, buildDir: string, log: (s: string) => void }} o
 */
export async function benchMachine(o) {
  const api = await startBackendApi();
  try {
    const outfile = join(o.buildDir, "machine-suite.node.mjs");
    await build({ entryPoints: [join(BENCH, "machine-suite.ts")], outfile, bundle: true, format: "esm", platform: "node", target: "node20", packages: "external", logLevel: "silent" });
    const { SUBJECTS, createMachineSuite } = await import(pathToFileURL(outfile).href);
    const m2mTokens = [];
    for (let i = 0; i < o.plan.tokens; i++) m2mTokens.push(await mintM2MToken(o.key, { issuer: o.keyServer.issuer, machineId: `mch_bench${String(i).padStart(6, "0")}`, scopes: ["mch_target"] }));
    const suite = await createMachineSuite({
      sessionTokens: o.tokens.slice(0, o.plan.tokens),
      m2mTokens,
      apiKey: API_KEY,
      issuer: o.keyServer.issuer,
      pem: o.key.pem,
      apiUrl: api.url,
      secretKey: SECRET_KEY,
      publishableKey: `pk_test_${Buffer.from("clerk.bench.example$").toString("base64").replace(/=+$/, "")}`,
    });
    o.log(`  node: ${SUBJECTS.length} subjects × ${o.plan.cycles} rounds of ~${o.plan.roundMs} ms`);
    const iterations = {};
    for (const subject of SUBJECTS) {
      let n = 4;
      let r = await suite.run(subject, n);
      while (r.ms < Math.max(10, o.plan.roundMs / 10) && n < 1e7) r = await suite.run(subject, (n *= 4));
      iterations[subject] = Math.max(1, Math.round((n * o.plan.roundMs) / Math.max(r.ms, 1)));
    }
    const before = api.lookups();
    const samples = await interleave(SUBJECTS, o.plan.cycles, async (subject) => {
      const r = await suite.run(subject, iterations[subject]);
      return (r.iterations / r.ms) * 1000;
    });
    const out = { tokens: m2mTokens.length, roundMs: o.plan.roundMs, cycles: o.plan.cycles, backendApiLookups: api.lookups() - before, subjects: {} };
    for (const subject of SUBJECTS) out.subjects[subject] = { opsPerSec: median(samples[subject]), usPerOp: 1e6 / median(samples[subject]), spread: spread(samples[subject]) };
    const r = (a, b) => pairedRatio(samples[a], samples[b]);
    out.ratios = {
      m2mHotVsSessionHot: r("m2m-jwt-hot", "session-hot"),
      m2mColdVsSessionCold: r("m2m-jwt-cold", "session-cold"),
      m2mHotVsClerk: r("m2m-jwt-hot", "clerk-m2m-jwt"),
      m2mColdVsClerk: r("m2m-jwt-cold", "clerk-m2m-jwt"),
      opaqueHitVsClerk: r("opaque-hit", "clerk-api-key"),
      opaqueMissVsClerk: r("opaque-miss", "clerk-api-key"),
      opaqueHitVsMiss: r("opaque-hit", "opaque-miss"),
    };
    return out;
  } finally {
    await api.close();
  }
}

const LABELS = {
  "session-hot": "session token, hot (seen before)",
  "session-cold": "session token, cold (new token, keys in memory)",
  "m2m-jwt-hot": "M2M JWT, hot",
  "m2m-jwt-cold": "M2M JWT, cold",
  "opaque-hit": "API key `ak_…`, cache hit (no Backend API call)",
  "opaque-miss": "API key `ak_…`, miss (one loopback Backend API call)",
  "clerk-m2m-jwt": "@clerk/backend authenticateRequest, acceptsToken m2m_token (jwtKey)",
  "clerk-api-key": "@clerk/backend authenticateRequest, acceptsToken api_key (loopback Backend API)",
};

/** The BENCHMARKS.md block of §9. */
export function renderMachine(m) {
  const x = (v) => `${v >= 10 ? v.toFixed(0) : v.toFixed(2)}×`;
  return [
    `${m.tokens} distinct M2M JWTs and as many session tokens of one RS256 key; one API key against a loopback Backend API stand-in. ${m.cycles} interleaved rounds of ~${m.roundMs} ms per subject, in Node (the loop only).`,
    "",
    "| subject | ops/s (median) | µs/op | spread of rounds |",
    "|---|---:|---:|---:|",
    ...Object.entries(LABELS).map(([k, label]) => `| ${label} | ${Math.round(m.subjects[k].opsPerSec)} | ${m.subjects[k].usPerOp.toFixed(1)} | ${(m.subjects[k].spread * 100).toFixed(0)} % |`),
    "",
    `Ratios (median of per-cycle ratios): M2M JWT ÷ session token **${x(m.ratios.m2mHotVsSessionHot)}** hot, ${x(m.ratios.m2mColdVsSessionCold)} cold; ` +
      `M2M JWT ÷ @clerk/backend ${x(m.ratios.m2mHotVsClerk)} hot, ${x(m.ratios.m2mColdVsClerk)} cold; ` +
      `API key cache hit ÷ @clerk/backend (a Backend API call each time) **${x(m.ratios.opaqueHitVsClerk)}**, miss ÷ @clerk/backend ${x(m.ratios.opaqueMissVsClerk)}, hit ÷ miss ${x(m.ratios.opaqueHitVsMiss)}. ` +
      `Backend API lookups during the timed rounds: ${m.backendApiLookups} (misses and @clerk/backend only).`,
  ].join("\n");
}
