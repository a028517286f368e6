#!/usr/bin/env node
// Mastra served at the edge (issue 15): the template Mastra Worker (examples/mastra-worker) as
// deployed — its `wrangler deploy --dry-run` bundle in workerd — against the two ways it could be
// done worse: Mastra imported at module scope (start-up CPU), and Mastra + server built for
// every request as Mastra's Cloudflare deployer entry does (warm CPU per request).
//
//   node bench/sections/mastra-worker.mjs [--smoke] [--out DIR]
//
// Figures: bundle sizes; start-up CPU (the top-level evaluation, profiled as `wrangler check
// startup` does, but waiting for the profiler); first request on a new
// isolate; warm generate CPU per request (V8 sampling profiler, busy samples / requests, cycles
// interleaved, ratio per cycle, median); isolate heap after 1 call and after N calls (forced GC).
// Everything on 127.0.0.1: Clerk's JWKS from a local server, the model is the template's mock.

import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generateSigningKey, mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
import { inspect } from "../lib/profile.mjs";
import { dryRunBundle, FREE_PLAN_GZIP_BYTES, ROOT, startBundle, TEMPLATE_CONFIG, workerOptionsFor } from "../../scripts/lib/mastra-worker.mjs";

/** Full: what the report quotes. Smoke: proves the harness runs (seconds, not minutes). */
export const MASTRA_WORKER_PLANS = {
  full: { startSamples: 3, firstSamples: 5, warmCycles: 5, warmCalls: 40, heapCalls: 1000, heapMaxS: 180 },
  smoke: { startSamples: 1, firstSamples: 1, warmCycles: 1, warmCalls: 3, heapCalls: 10, heapMaxS: 20 },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * @param {{ plan: typeof MASTRA_WORKER_PLANS.full, buildDir: string, log?: (s: string) => void }} o
 */
export async function benchMastraWorker({ plan, buildDir, log = () => {} }) {
  await mkdir(buildDir, { recursive: true });
  const clerk = await startClerkStandIn();
  try {
    log("  mastra-worker: bundling (wrangler deploy --dry-run) the template, the eager and the per-request variants");
    const variants = {
      template: TEMPLATE_CONFIG,
      eager: await variantConfig(buildDir, "eager", join(ROOT, "bench", "mastra-worker", "eager.ts")),
      "per-request": await variantConfig(buildDir, "per-request", join(ROOT, "bench", "mastra-worker", "per-request.ts")),
    };
    const bundles = {};
    for (const [name, config] of Object.entries(variants)) bundles[name] = await dryRunBundle({ outdir: join(buildDir, `bundle-${name}`), config });

    log(`  mastra-worker: start-up CPU (the bundle's top-level evaluation, profiled) × ${plan.startSamples}`);
    const startup = { template: [], eager: [] };
    for (let i = 0; i < plan.startSamples; i++) {
      for (const name of i % 2 ? ["eager", "template"] : ["template", "eager"]) startup[name].push(await startupProfile(bundles[name].scriptPath, variants[name]));
    }
    for (const [name, samples] of Object.entries(startup)) {
      startup[name] = { busyMs: median(samples.map((x) => x.busyMs)), wallMs: median(samples.map((x) => x.wallMs)), samples: samples.map((x) => Math.round(x.busyMs)) };
    }

    log(`  mastra-worker: first request on a new isolate × ${plan.firstSamples}`);
    const first = { template: [], "per-request": [] };
    for (let i = 0; i < plan.firstSamples; i++) {
      for (const name of i % 2 ? ["per-request", "template"] : ["template", "per-request"]) {
        const t0 = performance.now();
        const worker = await startBundle({ scriptPath: bundles[name].scriptPath, config: variants[name], vars: clerk.vars });
        const readyMs = performance.now() - t0;
        try {
          const t1 = performance.now();
          await generate(worker.url, await clerk.token("user_first"), "first", "Lisbon");
          first[name].push({ readyMs, firstMs: performance.now() - t1 });
        } finally {
          await worker.dispose();
        }
      }
    }
    const firstRequest = Object.fromEntries(Object.entries(first).map(([k, s]) => [k, { firstMs: median(s.map((x) => x.firstMs)), readyMs: median(s.map((x) => x.readyMs)), samples: s.map((x) => Math.round(x.firstMs)) }]));

    log(`  mastra-worker: warm CPU per request, ${plan.warmCycles} cycles × ${plan.warmCalls} calls each, generate and a light route`);
    const token = await clerk.token("user_warm");
    const warm = await warmCpu(bundles, variants, clerk, plan, (url, i) => generate(url, token, `warm-${i % 10}`, "Oslo"));
    // GET /api/agents/:id: auth + Mastra's server, no model and no storage: what per-request
    // construction costs next to a request that does little else.
    const warmLight = await warmCpu(bundles, variants, clerk, plan, (url) => agentInfo(url, token));

    log(`  mastra-worker: heap after ${plan.heapCalls} calls (at most ${plan.heapMaxS} s)`);
    const heap = await heapGrowth(bundles.template, clerk, plan);

    const results = {
      bundles: Object.fromEntries(Object.entries(bundles).map(([k, b]) => [k, { bytes: b.bytes, gzipBytes: b.gzipBytes, wrangler: b.wranglerLine }])),
      freePlanGzipBytes: FREE_PLAN_GZIP_BYTES,
      startup,
      firstRequest,
      warm,
      warmLight,
      heap,
    };
    results.targets = targets(results);
    return results;
  } finally {
    await clerk.close();
  }
}

function targets(r) {
  return [
    { target: "start-up CPU ≤ 100 ms", value: `${r.startup.template.busyMs.toFixed(1)} ms (Mastra at module scope: ${r.startup.eager.busyMs.toFixed(0)} ms)`, met: r.startup.template.busyMs <= 100 },
    { target: "bundle gzipped < 3 MiB", value: mib(r.bundles.template.gzipBytes), met: r.bundles.template.gzipBytes < r.freePlanGzipBytes },
    { target: "warm generate ≥ 10× cheaper than per-request construction", value: `${r.warm.ratio.toFixed(1)}× (light route: ${r.warmLight.ratio.toFixed(1)}×)`, met: r.warm.ratio >= 10 },
    { target: "heap bounded after N calls", value: `${r.heap.calls} calls: +${r.heap.growthPer100Mib.toFixed(2)} MiB per 100`, met: r.heap.growthPer100Mib < 1 },
  ];
}

/** Markdown for the report (a table per figure). */
export function renderMastraWorker(r) {
  const rows = (head, lines) => [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...lines.map((l) => `| ${l.join(" | ")} |`)].join("\n");
  return [
    rows(["Target", "Measured", "Met"], r.targets.map((t) => [t.target, t.value, t.met ? "yes" : "**no**"])),
    "",
    rows(["Bundle (wrangler deploy --dry-run, minified)", "Raw", "Gzipped", "wrangler"], Object.entries(r.bundles).map(([k, b]) => [k, mib(b.bytes), mib(b.gzipBytes), b.wrangler ?? ""])),
    "",
    rows(["Start-up (top-level evaluation)", "CPU (profiled)", "Wall", "Samples (ms)"], Object.entries(r.startup).map(([k, s]) => [k === "template" ? "template (lazy import)" : "Mastra imported at module scope", `${s.busyMs.toFixed(1)} ms`, `${s.wallMs.toFixed(0)} ms`, s.samples.join(", ")])),
    "",
    rows(["First request on a new isolate", "Median", "Samples (ms)", "Isolate ready"], Object.entries(r.firstRequest).map(([k, s]) => [k, `${s.firstMs.toFixed(0)} ms`, s.samples.join(", "), `${s.readyMs.toFixed(0)} ms`])),
    "",
    rows(["Warm generate, per request", "CPU (profiled, median)", "Wall (client, median)"], [
      ["template (built once per isolate)", `${r.warm.templateMs.toFixed(2)} ms`, `${r.warm.templateWallMs.toFixed(1)} ms`],
      ["per request (as Mastra's deployer entry)", `${r.warm.perRequestMs.toFixed(2)} ms`, `${r.warm.perRequestWallMs.toFixed(1)} ms`],
      ["ratio (CPU per cycle, median)", `${r.warm.ratio.toFixed(1)}× (cycles: ${r.warm.ratios.map((x) => x.toFixed(1)).join(", ")})`, `${(r.warm.perRequestWallMs / r.warm.templateWallMs).toFixed(1)}×`],
    ]),
    "",
    rows(["Warm GET /api/agents/:id (auth + server, no model, no storage)", "CPU (profiled, median)", "Wall (client, median)"], [
      ["template (built once per isolate)", `${r.warmLight.templateMs.toFixed(2)} ms`, `${r.warmLight.templateWallMs.toFixed(1)} ms`],
      ["per request (as Mastra's deployer entry)", `${r.warmLight.perRequestMs.toFixed(2)} ms`, `${r.warmLight.perRequestWallMs.toFixed(1)} ms`],
      ["ratio (CPU per cycle, median)", `${r.warmLight.ratio.toFixed(1)}×`, `${(r.warmLight.perRequestWallMs / r.warmLight.templateWallMs).toFixed(1)}×`],
    ]),
    "",
    rows(["Template, warm generate: heaviest functions (self)", "ms per call"], r.warm.templateTop.map((t) => [`\`${t.fn}\``, t.msPerCall.toFixed(2)])),
    "",
    rows(["Isolate heap (after GC)", "Used"], [
      ["after the first call (Mastra built)", mib(r.heap.afterFirstBytes)],
      ...(r.heap.halfway ? [[`after ${r.heap.halfway.calls} calls`, mib(r.heap.halfway.bytes)]] : []),
      [`after ${r.heap.calls} calls (${r.heap.seconds.toFixed(0)} s)`, mib(r.heap.afterBytes)],
      ["growth per 100 calls, whole run", `${r.heap.growthPer100Mib.toFixed(2)} MiB`],
      ...(r.heap.secondHalfPer100Mib === null ? [] : [["growth per 100 calls, second half", `${r.heap.secondHalfPer100Mib.toFixed(2)} MiB`]]),
    ]),
  ].join("\n");
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

/** A wrangler config for a bench entry: the template's, with `main` and the aliases made absolute. */
async function variantConfig(buildDir, name, main) {
  const dir = join(ROOT, "examples", "mastra-worker");
  let text = await readFile(TEMPLATE_CONFIG, "utf8");
  text = text.replace(/^main = .*$/m, `main = ${JSON.stringify(main)}`).replace(/^name = .*$/m, `name = "mastra-worker-bench-${name}"`);
  text = text.replace(/= "(\.\.?\/[^"]+)"/g, (_, rel) => `= ${JSON.stringify(resolve(dir, rel))}`);
  const path = join(buildDir, `wrangler-${name}.toml`);
  await writeFile(path, text);
  return path;
}

/**
 * Start-up CPU of a bundle: what `wrangler check startup` measures (the bundle's top-level
 * evaluation, profiled), made reliable. A wrapper module imports the bundle on its first
 * "/startup" request; the profiler is started and acknowledged before that request (workerd
 * answers the inspector only while the isolate runs, so "/noop" requests let it), and the busy
 * samples of that request are the start-up cost. Each sample is a new workerd.
 */
async function startupProfile(scriptPath, config) {
  const { Miniflare } = await import("miniflare");
  const options = await workerOptionsFor({ scriptPath, config, name: "startup", port: 0 });
  const wrapper = {
    type: "ESModule",
    path: join(dirname(scriptPath), "__startup_probe.mjs"),
    contents: `export default { async fetch(request) {
      if (new URL(request.url).pathname === "/startup") await import("./${basename(scriptPath)}");
      return new Response("ok");
    } };`,
  };
  const mf = new Miniflare({ workers: [{ ...options, modules: [wrapper, ...options.modules] }], inspectorPort: 0 });
  try {
    await mf.ready;
    const url = (await mf.unsafeGetDirectURL("startup")).href.replace(/\/$/, "");
    const cdp = await inspect(mf, "startup");
    try {
      const nudge = () => fetch(`${url}/noop`).then((r) => r.arrayBuffer());
      await whileNudging(cdp.send("Profiler.enable"), nudge);
      await whileNudging(cdp.send("Profiler.setSamplingInterval", { interval: 100 }), nudge);
      await whileNudging(cdp.send("Profiler.start"), nudge);
      const t0 = performance.now();
      await (await fetch(`${url}/startup`)).arrayBuffer();
      const wallMs = performance.now() - t0;
      const { profile } = await whileNudging(cdp.send("Profiler.stop"), nudge);
      return { busyMs: busyMicros(profile) / 1000, wallMs };
    } finally {
      cdp.close();
    }
  } finally {
    await mf.dispose();
  }
}

/** Resolves with `pending`, sending requests meanwhile so that workerd gets to answer the inspector. */
async function whileNudging(pending, nudge) {
  let done = false;
  const result = pending.finally(() => (done = true));
  while (!done) await Promise.race([nudge(), result]);
  return result;
}

/** Self time per function (ms per call), the heaviest first: where a warm request's CPU goes. */
function topFunctions(profile, n, calls) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id).callFrame;
    const key = `${frame.functionName || "(anonymous)"} ${frame.url ? `@${frame.url.split("/").pop()}:${frame.lineNumber}` : ""}`.trim();
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, us]) => ({ fn, msPerCall: us / 1000 / calls }));
}

function busyMicros(profile) {
  const idle = new Set(profile.nodes.filter((n) => ["(idle)", "(program)", "(garbage collector)"].includes(n.callFrame.functionName) && n.callFrame.functionName !== "(garbage collector)").map((n) => n.id));
  let busy = 0;
  profile.samples.forEach((id, i) => {
    if (!idle.has(id)) busy += profile.timeDeltas[i] ?? 0;
  });
  return busy;
}

async function warmCpu(bundles, variants, clerk, plan, call) {
  const workers = {};
  try {
    for (const name of ["template", "per-request"]) {
      workers[name] = await startBundle({ scriptPath: bundles[name].scriptPath, config: variants[name], vars: clerk.vars, inspect: true });
      workers[name].cdp = await inspect(workers[name].mf, workers[name].name);
      // Warm: modules loaded, Mastra built (template), keys cached, JIT settled.
      for (let i = 0; i < 5; i++) await call(workers[name].url, i);
    }
    const per = { template: [], "per-request": [] };
    // Wall time per call from the client: includes the I/O (D1) a per-request build repeats.
    const wall = { template: [], "per-request": [] };
    const ratios = [];
    let top = [];
    for (let c = 0; c < plan.warmCycles; c++) {
      const cycle = {};
      for (const name of c % 2 ? ["per-request", "template"] : ["template", "per-request"]) {
        const { cdp, url } = workers[name];
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
        await cdp.send("Profiler.start");
        const t0 = performance.now();
        for (let i = 0; i < plan.warmCalls; i++) await call(url, i);
        wall[name].push((performance.now() - t0) / plan.warmCalls);
        const { profile } = await cdp.send("Profiler.stop");
        cycle[name] = busyMicros(profile) / 1000 / plan.warmCalls;
        if (name === "template") top = topFunctions(profile, 8, plan.warmCalls);
        per[name].push(cycle[name]);
      }
      ratios.push(cycle["per-request"] / cycle.template);
    }
    return {
      templateMs: median(per.template),
      perRequestMs: median(per["per-request"]),
      ratio: median(ratios),
      ratios,
      templateWallMs: median(wall.template),
      perRequestWallMs: median(wall["per-request"]),
      calls: plan.warmCalls,
      cycles: plan.warmCycles,
      templateTop: top,
    };
  } finally {
    for (const w of Object.values(workers)) {
      w.cdp?.close();
      await w.dispose();
    }
  }
}

async function heapGrowth(bundle, clerk, plan) {
  const worker = await startBundle({ scriptPath: bundle.scriptPath, vars: clerk.vars, inspect: true });
  const cdp = await inspect(worker.mf, worker.name);
  try {
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => clerk.token(`user_heap_${i}`)));
    await generate(worker.url, users[0], "heap-0", "Rome");
    const afterFirstBytes = await usedHeap(cdp, worker.url);
    const started = performance.now();
    let calls = 0;
    let halfway = null;
    while (calls < plan.heapCalls && performance.now() - started < plan.heapMaxS * 1000) {
      if (calls === Math.floor(plan.heapCalls / 2)) halfway = { calls, bytes: await usedHeap(cdp, worker.url) };
      // Ten users, one thread each: memory reads the last 10 messages of a growing thread in D1.
      await generate(worker.url, users[calls % 10], `heap-${calls % 10}`, "Rome");
      calls++;
    }
    const seconds = (performance.now() - started) / 1000;
    const afterBytes = await usedHeap(cdp, worker.url);
    const growthPer100Mib = ((afterBytes - afterFirstBytes) / 1024 / 1024 / Math.max(calls, 1)) * 100;
    // Second half alone: growth that is still going on, as opposed to caches filling once.
    const secondHalfPer100Mib = halfway ? ((afterBytes - halfway.bytes) / 1024 / 1024 / Math.max(calls - halfway.calls, 1)) * 100 : null;
    return { calls, seconds, afterFirstBytes, halfway, afterBytes, growthPer100Mib, secondHalfPer100Mib };
  } finally {
    cdp.close();
    await worker.dispose();
  }
}

/**
 * Bytes that survive a full GC. workerd handles inspector messages only while the isolate runs, so
 * a forced GC completes with the next request: /healthz requests nudge it until it has.
 */
async function usedHeap(cdp, url) {
  await cdp.send("HeapProfiler.enable");
  // Twice: a first full GC can leave objects whose finalizers free more on the second.
  for (let i = 0; i < 2; i++) {
    let done = false;
    const collected = cdp.send("HeapProfiler.collectGarbage").then(() => (done = true));
    while (!done) await (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) })).arrayBuffer();
    await collected;
  }
  const { usedSize } = await cdp.send("Runtime.getHeapUsage");
  return usedSize;
}

async function generate(url, token, thread, city) {
  const response = await fetch(`${url}/api/agents/weatherAgent/generate`, {
    signal: AbortSignal.timeout(60_000),
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ messages: `What is the weather in ${city}?`, memory: { thread } }),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${url}: generate answered ${response.status}: ${body.slice(0, 200)}`);
  return body;
}

async function agentInfo(url, token) {
  const response = await fetch(`${url}/api/agents/weatherAgent`, { signal: AbortSignal.timeout(60_000), headers: { authorization: `Bearer ${token}` } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${url}: agent info answered ${response.status}: ${body.slice(0, 200)}`);
  return body;
}

/** Clerk's JWKS on a loopback port, and tokens signed with its key. */
async function startClerkStandIn() {
  const key = await generateSigningKey({ kid: "ins_bench_mastra_worker" });
  const server = createServer((req, res) => {
    res.writeHead(req.url === "/.well-known/jwks.json" ? 200 : 404, { "content-type": "application/json" });
    res.end(req.url === "/.well-known/jwks.json" ? JSON.stringify({ keys: [key.publicJwk] }) : "{}");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    vars: { CLERK_ISSUER: issuer, CLERK_JWKS_URI: `${issuer}/.well-known/jwks.json`, LOG_LEVEL: "error" },
    token: (sub) => mintClerkToken(key, { issuer, sub, ttlSeconds: 3600 }),
    close: () => new Promise((r) => server.close(r)),
  };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values } = parseArgs({ options: { smoke: { type: "boolean", default: false }, out: { type: "string" } } });
  const buildDir = join(ROOT, "bench", ".build", `mastra-worker-${values.smoke ? `smoke-${process.pid}` : "full"}`);
  const startedAt = performance.now();
  try {
    const results = await benchMastraWorker({ plan: MASTRA_WORKER_PLANS[values.smoke ? "smoke" : "full"], buildDir, log: (s) => console.log(s) });
    console.log(`\n${renderMastraWorker(results)}\n\n(${((performance.now() - startedAt) / 1000).toFixed(0)} s)`);
    if (values.out) {
      await mkdir(values.out, { recursive: true });
      await writeFile(join(values.out, "mastra-worker.json"), JSON.stringify(results, null, 2));
    }
  } finally {
    if (values.smoke) await rm(buildDir, { recursive: true, force: true });
  }
}
