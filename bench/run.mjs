#!/usr/bin/env node
// npm run bench: every figure of BENCHMARKS.md in one run, on 127.0.0.1 only, bounded in time.
//
//   node bench/run.mjs                 full run (~9 min); rewrites BENCHMARKS.md,
//                                      bench/results/latest.json and chart.svg
//   node bench/run.mjs --smoke --out DIR
//                                      tiny counts (seconds); results and chart in DIR only
//   --only verify,overhead,keys,start,profile,load,spend-guard
//                                      run some sections (BENCHMARKS.md keeps the others' blocks)
//   --load-connections N --load-duration S --load-cold N --load-baseline --load-no-warmup
//   --spend-guard-rounds N --spend-guard-seconds S
//                                      override the full plan of those two sections
//
// `npm run load` is `npm run bench -- --only load`. The run fails (exit 1) if the load section
// saw an error, an unexpected status or an unauthenticated request upstream: that is a bug, not
// a slow machine.
//
// The machine is shared and noisy, so every comparison is a ratio within this run, from
// interleaved rounds (order rotated each cycle), as a median.

import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { bundleWorker } from "../scripts/lib/bundle.mjs";
import { largestContributors } from "../scripts/lib/bundle-budget.mjs";
import { BENCH, buildBenchWorker, ROOT } from "./lib/build.mjs";
import { renderChart } from "./lib/chart.mjs";
import { machine } from "./lib/machine.mjs";
import { renderBlocks, updateMarkdown } from "./lib/report.mjs";
import { mintTokens, newSigningKey, startKeyServer, startUpstream } from "./lib/servers.mjs";
import { evaluateTargets } from "./lib/targets.mjs";
import { benchKeys } from "./sections/keys.mjs";
import { LOAD_DEFAULTS, loadCorrect, runLoad } from "./sections/load.mjs";
import { benchOverhead } from "./sections/overhead.mjs";
import { benchProfile } from "./sections/profile.mjs";
import { benchSpendGuard } from "./sections/spend-guard.mjs";
import { benchStart } from "./sections/start.mjs";
import { benchVerify } from "./sections/verify.mjs";
import { benchMastraWorker, MASTRA_WORKER_PLANS, renderMastraWorker } from "./sections/mastra-worker.mjs";
import { benchMachine, MACHINE_PLANS, renderMachine } from "./sections/machine.mjs";

const SECTIONS = ["verify", "overhead", "keys", "start", "profile", "load", "spend-guard", "mastra-worker", "machine"];
/** The sections the targets are measured in (bench/lib/targets.mjs). */
const TARGET_SECTIONS = ["verify", "overhead", "keys", "start"];
/** Run by default: the Mastra Worker section builds and runs real Mastra (minutes) and is asked for by name in a smoke run. */
const SMOKE_DEFAULT = SECTIONS.filter((s) => s !== "mastra-worker");

/** Counts and durations. Full: what BENCHMARKS.md reports. Smoke: proves the harness runs. */
const PLANS = {
  full: {
    verify: { tokens: 1000, roundMs: 150, cycles: 7 },
    overhead: { durationS: 4, cycles: 4, connections: 16, latencyCount: 2000, warmupS: 1 },
    keys: { requests: 100_000, ttlWindowS: 4, newTokenRatePerS: 400 },
    start: { samples: 15, profileSamples: 5 },
    profile: { iterations: 4000, cycles: 5, profileS: 3 },
    load: { connections: LOAD_DEFAULTS.connections, durationS: LOAD_DEFAULTS.durationS, hot: LOAD_DEFAULTS.hot, cold: LOAD_DEFAULTS.cold },
    spendGuard: { rounds: 81, seconds: 2, connections: 32, warmupS: 2 },
  },
  smoke: {
    // Rounds of 25 ms, not less: workerd's clock is coarse (it moves with I/O, a Spectre mitigation),
    // so a round of a few ms can read 0 ms and give no rate at all.
    verify: { tokens: 8, roundMs: 25, cycles: 2 },
    overhead: { durationS: 0.5, cycles: 2, connections: 2, latencyCount: 20, warmupS: 0.2 },
    keys: { requests: 200, ttlWindowS: 1, newTokenRatePerS: 40 },
    start: { samples: 1, profileSamples: 1 },
    profile: { iterations: 20, cycles: 2, profileS: 0.5 },
    load: { connections: 4, durationS: 1, hot: 10, cold: 40 },
    spendGuard: { rounds: 2, seconds: 0.5, connections: 2, warmupS: 0.2 },
  },
};

async function main() {
  const { values } = parseArgs({
    options: {
      smoke: { type: "boolean", default: false },
      out: { type: "string" },
      only: { type: "string" },
      "load-connections": { type: "string" },
      "load-duration": { type: "string" },
      "load-cold": { type: "string" },
      "load-baseline": { type: "boolean", default: false },
      "load-no-warmup": { type: "boolean", default: false },
      "spend-guard-rounds": { type: "string" },
      "spend-guard-seconds": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`Usage: node bench/run.mjs [--smoke] [--out DIR] [--only ${SECTIONS.join(",")}]
  [--load-connections N] [--load-duration S] [--load-cold N] [--load-baseline] [--load-no-warmup]
  [--spend-guard-rounds N] [--spend-guard-seconds S]`);
    return;
  }
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : values.smoke ? SMOKE_DEFAULT : SECTIONS;
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (known: ${SECTIONS.join(", ")})`);
  const base = PLANS[values.smoke ? "smoke" : "full"];
  const num = (v, d) => (v === undefined ? d : Number(v));
  const plan = {
    ...base,
    load: {
      ...base.load,
      connections: num(values["load-connections"], base.load.connections),
      durationS: num(values["load-duration"], base.load.durationS),
      cold: num(values["load-cold"], base.load.cold),
      baseline: values["load-baseline"],
      warmup: !values["load-no-warmup"],
    },
    spendGuard: { ...base.spendGuard, rounds: num(values["spend-guard-rounds"], base.spendGuard.rounds), seconds: num(values["spend-guard-seconds"], base.spendGuard.seconds) },
  };
  const outDir = resolve(values.out ?? join(BENCH, "results"));
  const writeMarkdown = !values.smoke && !values.out;
  const buildDir = join(BENCH, ".build", values.smoke ? `smoke-${process.pid}` : "full");
  const log = (s) => console.log(s);
  const startedAt = performance.now();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;

  log(`bench: ${values.smoke ? "smoke" : "full"} run of ${only.join(", ")} → ${relative(ROOT, outDir) || "."}`);
  const key = await newSigningKey();
  const keyServer = await startKeyServer(key);
  const upstream = await startUpstream();
  // The machine is shared: how loaded it was is part of every figure (BENCHMARKS.md "This run").
  const results = { command, smoke: values.smoke, machine: machine(), loadAverage: { start: loadavg()[0] } };
  try {
    const tokens = await mintTokens(key, { issuer: keyServer.issuer, count: Math.max(plan.verify.tokens, 1) });
    const token = tokens[0];
    const dryRun = async (config, outdir) => {
      const b = await bundleWorker({ config, outdir, metafile: true });
      return { path: b.scriptPath, bytes: b.bytes, gzipBytes: b.gzipBytes, wranglerLine: b.wranglerLine, contributors: largestContributors(b.contributions) };
    };
    let gatewayBundle;
    let clerkBundle;
    let honoJwkBundle;
    if (only.some((s) => ["overhead", "start", "profile", "spend-guard"].includes(s) || (s === "load" && !plan.load.baseline))) {
      log("build: wrangler deploy --dry-run (gateway)");
      gatewayBundle = await dryRun(join(ROOT, "wrangler.toml"), join(buildDir, "gateway"));
    }
    // The same bundle unminified, for CPU profiles only: esbuild's `// path` line before each module
    // is what attributes a sample to its source module (bench/lib/profile.mjs).
    let gatewayReadable;
    if (only.some((s) => ["profile", "start"].includes(s))) {
      log("build: wrangler deploy --dry-run --no-minify (gateway, for profiles)");
      gatewayReadable = (await bundleWorker({ config: join(ROOT, "wrangler.toml"), outdir: join(buildDir, "gateway-readable"), args: ["--no-minify"] })).scriptPath;
    }
    if (only.some((s) => ["overhead", "start"].includes(s))) {
      log("build: wrangler deploy --dry-run (@clerk/backend Worker, hono/jwk Worker)");
      clerkBundle = await dryRun(join(BENCH, "clerk-worker", "wrangler.toml"), join(buildDir, "clerk-worker"));
      honoJwkBundle = await dryRun(join(BENCH, "hono-jwk-worker", "wrangler.toml"), join(buildDir, "hono-jwk-worker"));
    }

    if (only.includes("verify")) {
      log("§1 verification");
      results.verify = {
        ...(await benchVerify({ key, keyServer, tokens, roundMs: plan.verify.roundMs, cycles: plan.verify.cycles, buildDir, log })),
        roundMs: plan.verify.roundMs,
        cycles: plan.verify.cycles,
      };
    }
    if (only.includes("overhead")) {
      log("§2 gateway overhead");
      results.overhead = await benchOverhead({ keyServer, upstream, token, gatewayBundle: gatewayBundle.path, clerkBundle: clerkBundle.path, honoJwkBundle: honoJwkBundle.path, ...plan.overhead, log });
    }
    if (only.includes("keys")) {
      log("§3 key traffic");
      const countingBundle = await buildBenchWorker("bench/gateway-counting-worker.ts", join(buildDir, "gateway-counting-worker.js"));
      const newTokens = await mintTokens(key, { issuer: keyServer.issuer, count: Math.ceil(plan.keys.newTokenRatePerS * plan.keys.ttlWindowS) });
      results.keys = await benchKeys({ keyServer, token, newTokens, countingBundle, ...plan.keys, log });
    }
    if (only.includes("start")) {
      log("§4 size and start");
      results.start = await benchStart({ keyServer, upstream, token, gatewayBundle, clerkBundle, honoJwkBundle, gatewayReadable, ...plan.start, log });
    }
    if (only.includes("profile")) {
      log("§5 where the time goes");
      results.profile = await benchProfile({ keyServer, upstream, token, gatewayBundle: gatewayReadable, buildDir, ...plan.profile, log });
    }
    if (only.includes("load")) {
      log("§6 load");
      results.load = await runLoad({ ...plan.load, scriptPath: gatewayBundle?.path, log: (s) => log(`  ${s}`) });
    }
    if (only.includes("spend-guard")) {
      log("§7 spend guard");
      results.spendGuard = await benchSpendGuard({ key, upstream, gatewayBundle: gatewayBundle.path, ...plan.spendGuard, log });
    }
    if (only.includes("machine")) {
      log("§9 machine tokens");
      results.machineTokens = await benchMachine({ key, keyServer, tokens, plan: MACHINE_PLANS[values.smoke ? "smoke" : "full"], buildDir, log });
    }
    if (only.includes("mastra-worker")) {
      log("§8 Mastra served in a Worker");
      results.mastraWorker = await benchMastraWorker({ plan: MASTRA_WORKER_PLANS[values.smoke ? "smoke" : "full"], buildDir: join(buildDir, "mastra-worker"), log });
    }
  } finally {
    await upstream.close();
    await keyServer.close();
    // A smoke run's bundles are of no further use; a full run's stay for inspection.
    if (values.smoke) await rm(buildDir, { recursive: true, force: true });
  }

  results.elapsedS = (performance.now() - startedAt) / 1000;
  results.loadAverage.end = loadavg()[0];
  results.targets = evaluateTargets(results);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, values.smoke || values.out ? "results.json" : "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, "chart.svg"), renderChart(results));
  if (writeMarkdown) {
    const blocks = renderBlocks(results);
    if (results.mastraWorker) blocks["mastra-worker"] = renderMastraWorker(results.mastraWorker);
    if (results.machineTokens) blocks.machine = renderMachine(results.machineTokens);
    // "This run" and "Targets" speak for the targets: only a run of every section a target is
    // measured in rewrites them (the command they show names the sections).
    if (!TARGET_SECTIONS.every((s) => only.includes(s))) {
      delete blocks.run;
      delete blocks.targets;
    }
    await updateMarkdown(join(ROOT, "BENCHMARKS.md"), blocks);
  }

  log(`\ndone in ${results.elapsedS.toFixed(0)} s`);
  for (const t of results.targets) log(`  ${t.verdict === "met" ? "met " : t.verdict === "missed" ? "MISS" : "??? "}  ${t.target}: ${t.value}${t.verdict === "inconclusive" ? " (inconclusive: spread too wide)" : ""}`);
  if (results.spendGuard) log(`  spend guard: throughput on/off ${(results.spendGuard.ratio * 100).toFixed(1)} %, budget ${results.spendGuard.verdict}`);
  if (results.load) {
    const l = results.load;
    log(`  load: ${l.requests} requests (${l.rps}/s), ${l.errors} errors, ${l.unexpected} unexpected statuses, ${l.upstream.withoutIdentity} unauthenticated upstream, JWKS fetches ${l.jwksFetches.warmup}+${l.jwksFetches.run}`);
    if (!loadCorrect(l)) {
      log(`  load: WRONG ANSWERS ${JSON.stringify(l.unexpectedSamples)}`);
      process.exitCode = 1;
    }
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(`bench failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
