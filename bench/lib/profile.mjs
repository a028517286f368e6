// CPU profiles of a Worker inside workerd, through its V8 inspector (Miniflare's inspectorPort):
// where a request's time goes, attributed to functions and to the source module each came from
// (esbuild leaves a `// path/to/module.ts` line before every module of a non-minified bundle).

import { readFile } from "node:fs/promises";
import WebSocket from "ws";

/** Maps a bundle's line numbers to the module esbuild placed there. */
export async function moduleMap(bundlePath) {
  const lines = (await readFile(bundlePath, "utf8")).split("\n");
  const starts = [];
  lines.forEach((line, i) => {
    // The gateway is bundled from its eager copy (.wrangler/eager/src/, scripts/build-eager.mjs): named as src/.
    const m = /^\/\/ ((?:\.wrangler\/eager\/)?(?:src|bench|node_modules|scripts)\/\S+|\.\.\/\S+)$/.exec(line);
    if (m) starts.push({ line: i, module: m[1].replace(/^(\.\.\/)+/, "").replace(/^\.wrangler\/eager\//, "").replace(/^.*node_modules\//, "node_modules/") });
  });
  return (lineNumber) => {
    let found = "(bundle)";
    for (const s of starts) {
      if (s.line > lineNumber) break;
      found = s.module;
    }
    return found;
  };
}

/** Opens a Chrome DevTools Protocol session to one worker of a Miniflare started with inspectorPort. */
export async function inspect(mf, workerName) {
  const base = await mf.getInspectorURL();
  const ws = new WebSocket(new URL(`/core:user:${workerName}`, base).href);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const message = JSON.parse(String(data));
    if (message.id && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(`${message.error.message}`));
      else resolve(message.result);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const mid = ++id;
      pending.set(mid, { resolve, reject });
      ws.send(JSON.stringify({ id: mid, method, params }));
    });
  return { send, close: () => ws.close() };
}

/**
 * Samples the worker's CPU while `load()` runs and returns the top functions by self time, plus
 * self time summed by source module.
 * @returns {Promise<{ totalMs: number, busyMs: number, functions: {name: string, module: string, selfMs: number, share: number}[], modules: {module: string, selfMs: number, share: number}[] }>}
 */
export async function profileWhile(mf, workerName, bundlePath, load, { intervalUs = 100, top = 15 } = {}) {
  const { profile, where } = await sample(mf, workerName, bundlePath, load, intervalUs);
  return summarise(profile, where, top);
}

/** The worker's V8 CPU profile while `run()` runs, and the bundle's line → module map. */
async function sample(mf, workerName, bundlePath, run, intervalUs) {
  const session = await inspect(mf, workerName);
  const where = await moduleMap(bundlePath);
  try {
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: intervalUs });
    await session.send("Profiler.start");
    await run();
    const { profile } = await session.send("Profiler.stop");
    return { profile, where };
  } finally {
    session.close();
  }
}

/**
 * Profiles whatever `run()` makes the worker do (one first request on a fresh isolate, say) and
 * returns, per function name, its inclusive time (samples with the function anywhere on the
 * stack) and its self time, for the caller to aggregate over several isolates.
 * @returns {Promise<{ busyMs: number, inclusive: Record<string, number>, self: Record<string, number> }>}
 */
export async function profileOnce(mf, workerName, bundlePath, run, { intervalUs = 50 } = {}) {
  const { profile, where } = await sample(mf, workerName, bundlePath, run, intervalUs);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (f) => `${f.functionName || "(anonymous)"} · ${f.url ? where(f.lineNumber) : f.functionName.startsWith("(") ? f.functionName : "(native)"}`;
  const inclusive = {};
  const self = {};
  let busyMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    if (node.callFrame.functionName === "(idle)") continue;
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    busyMs += ms;
    self[label(node.callFrame)] = (self[label(node.callFrame)] ?? 0) + ms;
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id).callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive[l] = (inclusive[l] ?? 0) + ms;
    }
  }
  return { busyMs, inclusive, self };
}

function summarise(profile, where, top) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    self.set(node.id, (self.get(node.id) ?? 0) + dt);
  }
  const fn = new Map();
  const mod = new Map();
  let total = 0;
  let idle = 0;
  for (const [nodeId, ms] of self) {
    const { callFrame } = byId.get(nodeId);
    total += ms;
    const name = callFrame.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += ms;
      continue;
    }
    const module = callFrame.url ? where(callFrame.lineNumber) : name.startsWith("(") ? name : "(native)";
    const key = `${name}\u0000${module}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    mod.set(module, (mod.get(module) ?? 0) + ms);
  }
  const busy = total - idle;
  const share = (ms) => (busy > 0 ? ms / busy : 0);
  return {
    totalMs: total,
    busyMs: busy,
    functions: [...fn]
      .map(([key, ms]) => ({ name: key.split("\u0000")[0], module: key.split("\u0000")[1], selfMs: ms, share: share(ms) }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top),
    modules: [...mod].map(([module, ms]) => ({ module, selfMs: ms, share: share(ms) })).sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
  };
}

/**
 * The isolate's JS heap through the same inspector session: live bytes, and bytes that survive a
 * full GC. workerd handles inspector messages when the isolate runs, so a forced GC completes with
 * the next request: `retained(nudge)` sends requests (`nudge`) until it has.
 */
export async function heapProbe(mf, workerName) {
  const session = await inspect(mf, workerName);
  await session.send("HeapProfiler.enable");
  const used = async () => (await session.send("Runtime.getHeapUsage")).usedSize;
  return {
    used,
    retained: async (nudge) => {
      let done = false;
      const collected = session.send("HeapProfiler.collectGarbage").then(() => (done = true));
      while (!done) await nudge();
      await collected;
      return used();
    },
    close: () => session.close(),
  };
}
