// Renders one run's results as the generated blocks of BENCHMARKS.md. Each block sits between
// `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`; everything outside the markers
// (headings, prose, rows or sections other scripts add) is left as it is.

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
    "",
    "Chart: [bench/results/chart.svg](bench/results/chart.svg) · raw results: [bench/results/latest.json](bench/results/latest.json)",
  ].join("\n");

  if (r.targets?.length) {
    blocks.targets = [
      "| target | this run | met |",
      "|---|---|---|",
      ...r.targets.map((t) => `| ${t.target} | ${t.value}${t.note ? ` (${t.note})` : ""} | ${t.met ? "yes" : "**no**"} |`),
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
      ([name, w]) => `| ${name} | ${int(w.rps)} | ${pct(w.rpsSpread)} | ${w.loadedP50Ms} / ${w.loadedP99Ms} | ${us(w.p50Us)} / ${us(w.p99Us)} |`,
    );
    blocks.overhead = [
      `\`GET ${o.path}\` with a valid token on every request; each Worker alone in its own workerd, reached through a direct socket (no dev proxy, no Miniflare entry worker); ` +
        `upstream: a Node \`http\` server answering 200 "ok" in its own process. Throughput: autocannon, ${o.connections} connections, ${o.cycles} interleaved rounds of ${o.durationS} s. ` +
        `Latency: ${o.latencyCount} requests one at a time on one keep-alive connection per round (µs resolution; autocannon's histogram has 1 ms resolution).`,
      "",
      "| Worker | req/s (median) | spread | loaded p50 / p99 (ms, autocannon) | serial p50 / p99 (µs) |",
      "|---|---:|---:|---:|---:|",
      ...rows,
      "",
      `Gateway ÷ pass-through throughput: **${x(o.ratios.gatewayVsPassthroughRps)}**; @clerk/backend Worker ÷ pass-through: ${x(o.ratios.clerkVsPassthroughRps)}; gateway ÷ @clerk/backend Worker: ${x(o.ratios.gatewayVsClerkRps)}. ` +
        `Added latency (gateway − pass-through, median of per-cycle differences): p50 **${us(o.ratios.gatewayAddedP50Us)} µs**, p99 ${us(o.ratios.gatewayAddedP99Us)} µs; @clerk/backend Worker p50 +${us(o.ratios.clerkAddedP50Us)} µs.`,
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
    const first = Object.entries(s.firstRequestMs).map(([name, f]) => `| ${name} | ${f.firstMs.toFixed(1)} | ${f.readyMs.toFixed(0)} |`);
    blocks.start = [
      "| Worker | bundle | gzipped (`zlib` level 6) | wrangler's own line |",
      "|---|---:|---:|---|",
      `| gateway (\`wrangler deploy --dry-run\`, wrangler.toml) | ${(b.gateway.bytes / 1024).toFixed(1)} KiB | **${(b.gateway.gzipBytes / 1024).toFixed(1)} KiB** | ${b.gateway.wrangler ?? "–"} |`,
      `| @clerk/backend Worker (bench/clerk-worker) | ${(b["clerk-backend"].bytes / 1024).toFixed(1)} KiB | ${(b["clerk-backend"].gzipBytes / 1024).toFixed(1)} KiB | ${b["clerk-backend"].wrangler ?? "–"} |`,
      "",
      `First authenticated request on a new isolate (a fresh workerd per sample, median of ${s.samples}, interleaved): the time from sending \`GET ${"/api/agents"}\` to the end of the response, ` +
        "with the JWKS from the loopback origin (cold KV) or from KV (warm KV).",
      "",
      "| Worker | first request (ms) | workerd start to ready (ms) |",
      "|---|---:|---:|",
      ...first,
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
  return blocks;
}

/** Replaces each block between its markers; a block with no markers yet is appended under a heading. */
export async function updateMarkdown(path, blocks, headings) {
  let text;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
    text = "# Benchmarks\n";
  }
  for (const [name, body] of Object.entries(blocks)) {
    const begin = `<!-- bench:${name}:begin -->`;
    const end = `<!-- bench:${name}:end -->`;
    const i = text.indexOf(begin);
    const j = text.indexOf(end);
    const block = `${begin}\n${body}\n${end}`;
    if (i >= 0 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
    else text = `${text.trimEnd()}\n\n## ${headings[name] ?? name}\n\n${block}\n`;
  }
  await writeFile(path, text.endsWith("\n") ? text : `${text}\n`);
}
