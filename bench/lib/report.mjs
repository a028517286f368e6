// Renders one run's results as BENCHMARKS.md. The whole file is written here: a short header, then
// one heading per section and its generated block between `<!-- bench:NAME:begin -->` and
// `<!-- bench:NAME:end -->` (the one marker convention). A section this run did not measure keeps
// the block of the run that did (read back from the file by its markers). Prose about the figures
// lives in docs/performance.md, never in BENCHMARKS.md.

import { readFile, writeFile } from "node:fs/promises";

const int = (n) => Math.round(n).toLocaleString("en-US");
const x = (n) => `${n.toFixed(2)}×`;
const us = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const pct = (n) => `${(n * 100).toFixed(0)} %`;

const LABELS = {
  "verifier-hot": "this verifier, hot (token seen before)",
  "verifier-cold": "this verifier, cold (new token, keys in memory)",
  "jose-jwtVerify": "`jose.jwtVerify` + `createLocalJWKSet`",
  "clerk-verifyToken-jwtKey": "`@clerk/backend` `verifyToken` (`jwtKey`)",
  "clerk-verifyToken-jwks": "`@clerk/backend` `verifyToken` (JWKS, loopback)",
  "subtle-verify-from-token": "bare `crypto.subtle.verify` (split + decode + verify)",
  "subtle-verify-bytes": "bare `crypto.subtle.verify` (bytes ready)",
};

export function renderBlocks(r) {
  const blocks = {};
  const m = r.machine;
  blocks.run = [
    `Command: \`${r.command}\` — ${r.smoke ? "**smoke run (tiny counts, not a measurement)**" : "full run"}, ${(r.elapsedS).toFixed(0)} s in all.`,
    "",
    `Machine: \`${m.uname}\``,
    `CPU: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB · Node ${m.node} · workerd ${m.workerd} (Miniflare ${m.miniflare}) · wrangler ${m.wrangler} · autocannon ${m.autocannon}`,
    `Date: ${m.date}`,
    ...(r.loadAverage ? [`1-minute load average: ${r.loadAverage.start.toFixed(2)} at the start, ${r.loadAverage.end.toFixed(2)} at the end (${m.cores} cores; above ~0.5 the machine is shared with other work, and absolute figures suffer more than ratios)`] : []),
    "",
    "Chart: [bench/results/chart.svg](bench/results/chart.svg) · raw results: [bench/results/latest.json](bench/results/latest.json)",
  ].join("\n");

  if (r.targets?.length) {
    blocks.targets = [
      "| target | this run | met |",
      "|---|---|---|",
      ...r.targets.map((t) => `| ${t.target} | ${t.value}${t.note ? ` (${t.note})` : ""} | ${t.verdict === "met" ? "yes" : t.verdict === "missed" ? "**no**" : "inconclusive (spread too wide)"} |`),
    ].join("\n");
  }

  if (r.verify) {
    const table = (rt) => {
      const v = r.verify[rt];
      const rows = Object.keys(LABELS)
        .filter((k) => v[k])
        .map((k) => `| ${LABELS[k]} | ${int(v[k].opsPerSec)} | ${us(v[k].usPerOp)} | ${pct(v[k].spread)} |`);
      const q = v.ratios;
      return [
        "| subject | ops/s (median) | µs/op | spread of rounds |",
        "|---|---:|---:|---:|",
        ...rows,
        "",
        `Ratios (median of per-cycle ratios): hot ÷ jose **${x(q.hotVsJose)}**, hot ÷ @clerk/backend ${x(q.hotVsClerkJwtKey)} (jwtKey) / ${x(q.hotVsClerkJwks)} (JWKS), ` +
          `cold ÷ jose ${x(q.coldVsJose)}, cold ÷ @clerk/backend (JWKS) ${x(q.coldVsClerkJwks)}; ` +
          `a cold verification costs ${x(q.coldCostVsSubtleFromToken)} a bare split-decode-verify and ${x(q.coldCostVsSubtleBytes)} the RSA verification alone.`,
      ].join("\n");
    };
    blocks.verify = [
      `${r.verify.tokens} distinct Clerk-shaped v2 RS256 tokens (2048-bit key, org + 3 permissions, ~1 KB each); every subject is first checked to accept every one of them. ` +
        `${r.verify.cycles} interleaved rounds of ~${r.verify.roundMs} ms per subject (order rotated each cycle).`,
      "",
      "**Inside workerd** (Miniflare; the loop runs inside the Worker, one request per round):",
      "",
      table("workerd"),
      "",
      "**In Node** (the same bundled suite, same rounds):",
      "",
      table("node"),
    ].join("\n");
  }

  if (r.overhead) {
    const o = r.overhead;
    const rows = Object.entries(o.workers).map(
      ([name, w]) =>
        `| ${name} | ${int(w.rps)} | ${pct(w.rpsSpread)} | ${Number.isFinite(w.cpuUsPerRequest) ? `${w.cpuUsPerRequest.toFixed(0)} (${pct(w.cpuSpread)})` : "–"} | ${w.loadedP50Ms} / ${w.loadedP99Ms} | ${us(w.p50Us)} / ${us(w.p99Us)} |`,
    );
    const q = o.ratios;
    blocks.overhead = [
      `\`GET ${o.path}\` with a valid token on every request; each Worker alone in its own workerd, reached through a direct socket (no dev proxy, no Miniflare entry worker); ` +
        `upstream: a Node \`http\` server answering 200 "ok" in its own process. Peers: \`@clerk/backend\` \`verifyToken\` (bench/clerk-worker) and Hono's own \`hono/jwk\` middleware with the keys fetched once per isolate (bench/hono-jwk-worker), each verifying the token and forwarding the request with the user id. ` +
        `Throughput: autocannon, ${o.connections} connections, ${o.cycles} interleaved rounds of ${o.durationS} s. ` +
        `workerd CPU per request: the Worker's workerd process's user + system time from \`/proc/<pid>/stat\` over each round ÷ the round's requests (10 ms ticks; the median of rounds, their spread in brackets). ` +
        `Latency: ${o.latencyCount} requests one at a time on one keep-alive connection per round (µs resolution; autocannon's histogram has 1 ms resolution).`,
      "",
      "| Worker | req/s (median) | spread | workerd CPU µs/request | loaded p50 / p99 (ms, autocannon) | serial p50 / p99 (µs) |",
      "|---|---:|---:|---:|---:|---:|",
      ...rows,
      "",
      `Throughput ÷ pass-through (median of per-cycle ratios): gateway **${x(q.gatewayVsPassthroughRps)}**, @clerk/backend ${x(q.clerkVsPassthroughRps)}, hono/jwk ${x(q.honoJwkVsPassthroughRps)}; ` +
        `gateway ÷ @clerk/backend **${x(q.gatewayVsClerkRps)}**, gateway ÷ hono/jwk **${x(q.gatewayVsHonoJwkRps)}**; gateway's workerd CPU per request ÷ pass-through's ${x(q.gatewayVsPassthroughCpu)}. ` +
        (q.floorVsPassthroughRps ? `The floor of identity forwarding (${"`passthrough + identity headers`"}, bench/passthrough-identity-worker.js: header copy, 8 identity and X-Forwarded headers, an upstream timeout, no verification) ÷ pass-through ${x(q.floorVsPassthroughRps)}; gateway ÷ that floor ${x(q.gatewayVsFloorRps)}. ` : "") +
        `Added latency (− pass-through, median of per-cycle differences): gateway p50 **${us(q.gatewayAddedP50Us)} µs**, p99 ${us(q.gatewayAddedP99Us)} µs; @clerk/backend p50 +${us(q.clerkAddedP50Us)} µs; hono/jwk p50 +${us(q.honoJwkAddedP50Us)} µs.`,
      "",
      `Origin JWKS fetches while measuring the gateway: ${o.keyTraffic.originFetches} in ${int(o.keyTraffic.gatewayRequests)} requests.`,
    ].join("\n");
  }

  if (r.keys) {
    const k = r.keys;
    const row = (label, s) => `| ${label} | ${int(s.requests)} | ${s.originFetches} | ${s.kvReads} | ${s.kvWrites ?? "–"} |`;
    blocks.keys = [
      `Origin fetches are counted where they arrive (the loopback JWKS server); KV reads and writes by a counting wrapper around the real \`JWKS_CACHE\` binding ` +
        `(bench/gateway-counting-worker.ts, the real src/index.ts entry behind it). Requests: \`GET ${k.path}\` driven from inside the isolate through the entry's \`fetch\`.`,
      "",
      "| isolate | requests | origin fetches | KV reads | KV writes |",
      "|---|---:|---:|---:|---:|",
      row("cold isolate, cold KV (its first request)", k.coldIsolateColdKv),
      row("warm isolate (after that first request)", k.warmIsolate),
      row("cold isolate, warm KV (first request included)", k.coldIsolateWarmKv),
      ...[k.ttlHot, k.ttl].map((t) => `| HTTP load for ${t.windowS} s at TTL ${t.ttlS} s (cooldown 0), ${t.label} | ${int(t.requests)} | ${t.originFetches} | ${t.kvReads} | – |`),
      "",
      `Per 100,000 requests: warm isolate ${k.warmIsolate.originFetchesPer100k} origin fetches and ${k.warmIsolate.kvReadsPer100k} KV reads; ` +
        `cold isolate with warm KV ${k.coldIsolateWarmKv.originFetchesPer100k} origin fetches and ${k.coldIsolateWarmKv.kvReadsPer100k} KV reads. ` +
        `With a 1 s TTL and new tokens arriving: ${k.ttl.originFetchesPerTtl.toFixed(2)} origin fetches per TTL (each refresh also reads KV first, in case another isolate refreshed it); ` +
        `with only cached tokens, ${k.ttlHot.originFetches}: a verified-token cache hit never consults the key set, so stale keys are refreshed by the first request that needs them.`,
    ].join("\n");
  }

  if (r.start) {
    const s = r.start;
    const b = s.bundles;
    const q = s.ratios;
    const bundleRow = (label, w) => `| ${label} | ${(w.bytes / 1024).toFixed(1)} KiB | ${(w.gzipBytes / 1024).toFixed(1)} KiB | ${w.wrangler ?? "–"} |`;
    const first = Object.entries(s.firstRequestMs).map(([name, f]) => `| ${name} | ${f.firstMs.toFixed(1)} | ${pct(f.firstSpread)} | ${f.readyMs.toFixed(0)} | ${pct(f.readySpread)} |`);
    const p = s.firstRequestProfile;
    blocks.start = [
      "Bundles as `wrangler deploy --dry-run` makes them (all three minified by their wrangler.toml):",
      "",
      "| Worker | bundle | gzipped (`zlib` level 6) | wrangler's own line |",
      "|---|---:|---:|---|",
      bundleRow("**gateway** (wrangler.toml)", b.gateway).replace(/\| ([\d.]+ KiB) \| ([\d.]+ KiB) \|/, "| $1 | **$2** |"),
      bundleRow("@clerk/backend Worker (bench/clerk-worker)", b["clerk-backend"]),
      bundleRow("hono/jwk Worker (bench/hono-jwk-worker)", b["hono-jwk"]),
      ...(s.contributors
        ? [
            "",
            "The gateway bundle's largest contributors (esbuild's metafile: bytes each source left in the minified bundle, before gzip; packages summed):",
            "",
            "| contributor | bytes | share |",
            "|---|---:|---:|",
            ...s.contributors.map((c) => `| ${c.name} | ${int(c.bytes)} | ${pct(c.share)} |`),
          ]
        : []),
      "",
      `First authenticated request on a new isolate (a fresh workerd per sample, ${s.samples} samples per Worker, interleaved; medians): the time from sending \`GET ${"/api/agents"}\` to the end of the response, ` +
        "with the JWKS from the loopback origin (cold KV; the peers always) or from KV (warm KV). Start to ready: from `new Miniflare()` to `ready` (spawning workerd, compiling and evaluating the script, Miniflare's handshake), each script handed over whole as its one module, so that Miniflare does not parse it in the bench's process first.",
      "",
      "| Worker | first request (ms) | spread | workerd start to ready (ms) | spread |",
      "|---|---:|---:|---:|---:|",
      ...first,
      "",
      `Ratios (median of per-cycle ratios): first request ÷ @clerk/backend's: cold KV **${x(q.firstColdKvVsClerk)}**, warm KV **${x(q.firstWarmKvVsClerk)}**, no KV binding ${x(q.firstNoKvVsClerk)}. ` +
        `Start to ready ÷ pass-through's: **${x(q.readyVsPassthrough)}**; ÷ the pass-through Worker with the gateway's bindings: ${x(q.readyVsPassthroughSameBindings)} ` +
        `(the bindings alone: ${x(q.bindingsReadyVsPassthrough)}). ` +
        `The floors (pass-through Workers doing only a first request's I/O): the gateway with a warm KV ÷ the pass-through after one KV read ${x(q.firstWarmKvVsKvFloor)}, ` +
        `and that pass-through ÷ @clerk/backend's ${x(q.kvFloorVsClerk)} (Miniflare's local KV on its first read); ` +
        `the gateway with a cold KV ÷ the pass-through after one read of an empty KV ${x(q.firstColdKvVsKvFloor)}, that pass-through ÷ @clerk/backend's ${x(q.emptyKvFloorVsClerk)}; the gateway without KV ÷ the pass-through after one JWKS fetch ${x(q.firstNoKvVsFetchFloor)}, @clerk/backend's ÷ the same ${x(q.clerkVsFetchFloor)}.`,
      ...(p
        ? [
            "",
            `Where the gateway's first request goes: V8 CPU profile through workerd's inspector, ${p.isolates} fresh isolates with warm KV (the unminified build of the same bundle), ` +
              `median ${p.busyMs.toFixed(1)} ms of busy samples per first request (sampling slows the isolate: read the shares). Inclusive time of each step:`,
            "",
            "| step | ms (median) | share of busy |",
            "|---|---:|---:|",
            ...p.phases.map((ph) => `| ${ph.phase} | ${ph.ms.toFixed(2)} | ${pct(ph.share)} |`),
            "",
            "| function (self time) | module | ms (median) |",
            "|---|---|---:|",
            ...p.self.map((f) => `| \`${f.name}\` | ${f.module} | ${f.ms.toFixed(2)} |`),
          ]
        : []),
    ].join("\n");
  }

  if (r.profile) {
    const p = r.profile;
    const cpu = p.cpu;
    blocks.profile = [
      "Per-call cost inside workerd (median of rounds; upstream replaced by an in-isolate service binding so that no network time is counted; bench/breakdown-worker.ts):",
      "",
      "| part | µs per call |",
      "|---|---:|",
      ...p.breakdown.map((b) => `| ${b.part} | ${us(b.us)} |`),
      "",
      `V8 CPU profile of the gateway bundle under load (workerd inspector, ${cpu.busyMs.toFixed(0)} ms of busy samples; self time):`,
      "",
      "| function | module | self | share |",
      "|---|---|---:|---:|",
      ...cpu.functions.map((f) => `| \`${f.name}\` | ${f.module} | ${f.selfMs.toFixed(0)} ms | ${pct(f.share)} |`),
      "",
      "| module | self | share |",
      "|---|---:|---:|",
      ...cpu.modules.map((f) => `| ${f.module} | ${f.selfMs.toFixed(0)} ms | ${pct(f.share)} |`),
    ].join("\n");
  }

  if (r.load) {
    const l = r.load;
    const o = l.options;
    const rss = l.workerdRssMiB;
    const h = l.isolateHeapMiB;
    const errors = Object.entries(l.workerdErrors);
    blocks.load = [
      `${o.baseline ? "**Baseline: a bare pass-through Worker, no auth.** " : ""}\`POST ${l.route}\`, autocannon, ${o.connections} connections × ${o.durationS} s; ` +
        `${Math.round((1 - o.coldShare - o.invalidShare) * 100)} % valid tokens from a hot set of ${int(o.hot)}, ${Math.round(o.coldShare * 100)} % from a cold pool of ${int(o.cold)} (cycled; more than the verified-token cache holds), ` +
        `${Math.round(o.invalidShare * 100)} % invalid (bad signature, expired, other issuer, garbage, none); warm-up request ${o.warmup ? "yes" : "no"}. Every answer is checked against the status its request deserved.`,
      "",
      "| | |",
      "|---|---|",
      `| requests | ${int(l.requests)} (${int(l.rps)}/s) |`,
      `| latency p50 / p99 / max | ${l.latencyMs.p50} / ${l.latencyMs.p99} / ${l.latencyMs.max} ms |`,
      `| errors (timeouts) | ${l.errors} (${l.timeouts}) |`,
      `| statuses | ${Object.entries(l.statuses).map(([k, v]) => `${k}: ${int(v)}`).join(", ")}; **unexpected: ${l.unexpected}** |`,
      `| upstream requests (without identity) | ${int(l.upstream.requests)} (${l.upstream.withoutIdentity}) |`,
      `| origin JWKS fetches | ${l.jwksFetches.warmup} in the warm-up, ${l.jwksFetches.run} during the run |`,
      `| workerd error lines | ${errors.length ? errors.map(([m, n]) => `${n} × ${m.replace(/\|/g, "\\|")}`).join("; ") : "none"} |`,
      rss
        ? `| workerd RSS | ${rss.start} MiB at start, ${rss.atThird} MiB at 1/3, ${rss.end} MiB at the end, max ${rss.max} MiB (${rss.growthAfterThirdPct >= 0 ? "+" : ""}${rss.growthAfterThirdPct} % after 1/3) |`
        : "| workerd RSS | not available (no /proc) |",
      `| isolate JS heap after a full GC | ${h.retainedAfterGc.map(([t, m]) => `${m} MiB (t=${t} s)`).join(", ")}; live max ${h.usedMax} MiB |`,
    ].join("\n");
  }

  if (r.spendGuard) {
    const g = r.spendGuard;
    const p1 = (n) => `${(n * 100).toFixed(1)} %`;
    const row = (label, side, tp, cpu) => `| ${label} | ${int(side.rps)} | ${side.p50Ms} | ${side.p99Ms} | ${side.cpuUs.toFixed(0)} | ${tp} | ${cpu} |`;
    blocks["spend-guard"] = [
      `Authenticated \`GET ${g.route}\` (no limit matches it) forwarded to the loopback upstream; the gateway bundle twice in one workerd, with every wrangler.toml binding, ` +
        `without (off) and with (on) the shipped RATE_LIMITS plus one daily QUOTAS entry. autocannon, ${g.connections} connections, ${g.rounds} interleaved rounds of ${g.seconds} s per side; medians.`,
      "",
      "| gateway | req/s | p50 ms | p99 ms | workerd CPU µs/request | throughput vs. off | CPU vs. off |",
      "|---|---:|---:|---:|---:|---:|---:|",
      row("guard off (no RATE_LIMITS, no QUOTAS)", g.off, "100 %", "100 %"),
      row("guard on, route not limited", g.on, `${p1(g.ratio)} (95 % CI ${p1(g.ratioCi[0])}–${p1(g.ratioCi[1])})`, p1(g.cpuRatio)),
      "",
      `Budget: throughput ≥ ${p1(g.budget)} of off: **${g.verdict}** (the median of per-round ratios and its distribution-free 95 % interval; inconclusive when the interval straddles the budget). ` +
        `Spread of the baseline's rounds ${p1(g.noise)}; 1-minute load average at the end ${g.loadAverage.toFixed(2)}.`,
    ].join("\n");
  }

  // Each section's block says which command and day produced it: with --only, sections of a
  // file come from different runs.
  const from = `_From \`${r.command}\`, ${m.date.slice(0, 10)}._`;
  for (const name of Object.keys(blocks)) if (name !== "run" && name !== "targets") blocks[name] = `${from}\n\n${blocks[name]}`;
  return blocks;
}

/** The sections of BENCHMARKS.md in order: marker name, heading, one line on what is measured. */
export const SECTIONS = [
  ["run", "This run", null],
  ["targets", "Targets", null],
  ["verify", "1. Verification", "Ops/s of each verifier on the same token set, the loop inside the runtime (no HTTP time); hot = a token seen before, cold = a new token with keys in memory."],
  ["overhead", "2. Gateway overhead", "The deployed gateway bundle against a pass-through Worker and the @clerk/backend Worker, same runtime, upstream and load generator."],
  ["keys", "3. Key traffic", "Origin JWKS fetches and KV reads and writes, counted where they happen."],
  ["start", "4. Size and start", "Bundle sizes and the first authenticated request on a new isolate."],
  ["profile", "5. Where the time goes", "Per-call cost of each step inside workerd, and a V8 CPU profile of the gateway under load."],
  ["load", "6. Load", "Correctness and memory under concurrent mixed traffic (valid hot, valid cold, invalid)."],
  ["spend-guard", "7. Spend guard", "What the spend guard costs a route it does not limit."],
  ["mastra-worker", "8. Mastra served in a Worker", "The template Worker (examples/mastra-worker, built once per isolate) against Mastra imported eagerly and Mastra built per request: start-up CPU, bundle, first request, warm CPU, heap (bench/sections/mastra-worker.mjs; docs/mastra-worker.md)."],
  ["machine", "9. Machine tokens", "M2M JWTs (cold/hot) beside session tokens, API keys on a cache hit and a miss against a loopback Backend API, beside @clerk/backend's authenticateRequest with acceptsToken (bench/sections/machine.mjs; docs/machine-callers.md)."],
];

/** The body of each `<!-- bench:NAME:begin -->…<!-- bench:NAME:end -->` block in a text. */
export function readBlocks(text) {
  const blocks = {};
  for (const m of text.matchAll(/<!-- bench:([\w-]+):begin -->\n([\s\S]*?)\n<!-- bench:\1:end -->/g)) blocks[m[1]] = m[2];
  return blocks;
}

/** The whole of BENCHMARKS.md: this run's blocks, and for sections not run, the blocks already there. */
export function renderDocument(blocks, previous = {}) {
  const parts = [
    "# Benchmarks",
    "",
    "<!-- Written by `npm run bench` (bench/run.mjs): edits by hand are lost at the next run. -->",
    "",
    "Every line below is written by `npm run bench` (bench/run.mjs), on 127.0.0.1 only; `npm run bench -- --only load,spend-guard` reruns some sections and keeps the others. " +
      "How the harness measures, how to read its ratios, and what these figures mean: [docs/performance.md](docs/performance.md).",
  ];
  for (const [name, heading, intro] of SECTIONS) {
    const body = blocks[name] ?? previous[name] ?? `_Not measured yet: \`npm run bench -- --only ${name}\`._`;
    parts.push("", `## ${heading}`, "");
    if (intro) parts.push(intro, "");
    parts.push(`<!-- bench:${name}:begin -->`, body, `<!-- bench:${name}:end -->`);
  }
  return `${parts.join("\n")}\n`;
}

/** Rewrites BENCHMARKS.md with this run's blocks (see renderDocument). */
export async function updateMarkdown(path, blocks) {
  let previous = {};
  try {
    previous = readBlocks(await readFile(path, "utf8"));
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  await writeFile(path, renderDocument(blocks, previous));
}
