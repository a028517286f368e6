// §4 Size and start: the deployable bundles (wrangler deploy --dry-run) of the gateway and of the
// peer Workers, the time from starting workerd to ready, and the first authenticated request on a
// new isolate (a fresh workerd process per sample), samples interleaved across Workers. Then a V8
// CPU profile of the gateway's first request on fresh isolates: where that request's time goes.

import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { profileOnce } from "../lib/profile.mjs";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median, pairedRatios, spread } from "../lib/stats.mjs";
import {
  startClerkWorker,
  startGateway,
  startHonoJwkWorker,
  startPassthrough,
  startPassthroughFetchingJwks,
  startPassthroughReadingKv,
  startPassthroughWithGatewayBindings,
} from "../lib/workers.mjs";
import { OVERHEAD_PATH } from "./overhead.mjs";

/**
 * What a first request does, as the profile names it: each row is the inclusive time of the
 * functions named (a sample counts once per row, wherever on the stack they are). The gateway
 * itself (configuration, rules, PUBLIC_PATHS, spend guard, key store) is built while the isolate
 * starts (src/index.ts), which the inspector cannot see: it shows in start-to-ready instead.
 */
const FIRST_REQUEST_PHASES = [
  ["find the isolate's gateway (`gatewayFor`: the one built at start-up, matched by its bindings)", ["gatewayFor"]],
  ["authenticate (`authenticate`: token, keys, signature, claims)", ["authenticate"]],
  ["↳ keys from KV (`#readKv`, Miniflare's local KV)", ["#readKv"]],
  ["↳ keys from the origin (`#fetchOrigin`)", ["#fetchOrigin"]],
  ["↳ key import (`importJwks`, Web Crypto)", ["importJwks"]],
  ["↳ verification (`verify`)", ["verify"]],
  ["spend guard on the request (`checkSpend`: classify against the route table)", ["checkSpend"]],
  ["forward to the upstream (`forward`)", ["forward"]],
];

/**
 * @param {{ keyServer, upstream, token: string, gatewayBundle, clerkBundle, honoJwkBundle, gatewayReadable?: string,
 *   samples: number, profileSamples: number, log: (s: string) => void }} o
 *   gatewayBundle / clerkBundle / honoJwkBundle: { path, bytes, gzipBytes, wranglerLine, contributors? } of a `wrangler deploy --dry-run` bundle
 *   gatewayReadable: the same gateway unminified, for the first-request profile (none without it)
 */
export async function benchStart(o) {
  const scratch = await mkdtemp(join(tmpdir(), "mea-bench-start-"));
  const vars = { CLERK_JWKS_URI: o.keyServer.jwksUrl, CLERK_ISSUER: o.keyServer.issuer, MASTRA_URL: o.upstream.url, LOG_LEVEL: "error" };
  try {
    // A KV directory holding the JWKS, as another isolate would have left it.
    const seeded = join(scratch, "seeded-kv");
    let seededKey;
    const seeder = await startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: seeded });
    try {
      await firstRequest(seeder.url, o.token);
      const kv = await seeder.mf.getKVNamespace("JWKS_CACHE");
      // The write happens in waitUntil after the response, and nothing signals its end: poll for
      // it (any key: the key's name is the gateway's business), for as long as a loaded machine
      // may need (30 s), not a fixed count of short sleeps.
      const written = async () => (await kv.list()).keys.length > 0;
      const deadline = Date.now() + 30_000;
      while (!(await written()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (!(await written())) throw new Error("the seeding isolate wrote no JWKS to KV");
      seededKey = (await kv.list()).keys[0].name;
    } finally {
      await seeder.dispose();
    }

    let n = 0;
    const warmKv = async () => {
      const dir = join(scratch, `warm-${n++}`);
      await cp(seeded, dir, { recursive: true });
      return dir;
    };
    const starters = {
      passthrough: () => startPassthrough({ upstreamUrl: o.upstream.url }),
      // Diagnostic: the pass-through script with every binding the gateway has (KV, Durable
      // Object, rate limit): what Miniflare's local simulations of them add to start-up.
      "passthrough (gateway's bindings)": () => startPassthroughWithGatewayBindings({ upstreamUrl: o.upstream.url, kvPersist: join(scratch, `pb-${n++}`) }),
      "gateway (cold KV)": () => startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: join(scratch, `cold-${n++}`) }),
      "gateway (warm KV)": async () => startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: await warmKv() }),
      // Diagnostic, not a deployment: the same gateway without a KV binding, to show what
      // Miniflare's local KV simulation adds to a first request.
      "gateway (no KV binding)": () => startGateway({ scriptPath: o.gatewayBundle.path, vars, withoutKv: true }),
      // Diagnostics: the floors under a first request, whatever the script around them — the
      // pass-through after one read of the JWKS record from Miniflare's local KV (as the gateway
      // with a warm KV does), and after one JWKS fetch from the origin (as the gateway without KV
      // and the @clerk/backend Worker do).
      "passthrough (one KV read first)": async () => startPassthroughReadingKv({ upstreamUrl: o.upstream.url, kvPersist: await warmKv(), key: seededKey }),
      "passthrough (one KV read first, empty KV)": () => startPassthroughReadingKv({ upstreamUrl: o.upstream.url, kvPersist: join(scratch, `pk-${n++}`), key: seededKey }),
      "passthrough (one JWKS fetch first)": () => startPassthroughFetchingJwks({ upstreamUrl: o.upstream.url, jwksUrl: o.keyServer.jwksUrl }),
      "clerk-backend": () => startClerkWorker({ scriptPath: o.clerkBundle.path, apiUrl: o.keyServer.url, secretKey: SECRET_KEY, upstreamUrl: o.upstream.url }),
      "hono-jwk": () => startHonoJwkWorker({ scriptPath: o.honoJwkBundle.path, jwksUrl: o.keyServer.jwksUrl, issuer: o.keyServer.issuer, upstreamUrl: o.upstream.url }),
    };
    o.log(`  first request: ${Object.keys(starters).length} Workers × ${o.samples} fresh isolates`);
    const samples = await interleave(Object.keys(starters), o.samples, async (name) => {
      const worker = await starters[name]();
      try {
        return { readyMs: worker.readyMs, firstMs: await firstRequest(worker.url, o.token) };
      } finally {
        await worker.dispose();
      }
    });
    const firstRequestMs = {};
    for (const [name, s] of Object.entries(samples)) {
      const first = s.map((x) => x.firstMs);
      const ready = s.map((x) => x.readyMs);
      firstRequestMs[name] = { firstMs: median(first), firstSpread: spread(first), readyMs: median(ready), readySpread: spread(ready), samples: first, readySamples: ready };
    }
    // Per-cycle ratios (the samples of one cycle ran back to back): [name, measure, Worker ÷ Worker].
    const cycleRatios = Object.fromEntries(
      [
        ["firstColdKvVsClerk", "firstMs", "gateway (cold KV)", "clerk-backend"],
        ["firstWarmKvVsClerk", "firstMs", "gateway (warm KV)", "clerk-backend"],
        ["firstNoKvVsClerk", "firstMs", "gateway (no KV binding)", "clerk-backend"],
        ["readyVsPassthrough", "readyMs", "gateway (warm KV)", "passthrough"],
        ["readyVsPassthroughSameBindings", "readyMs", "gateway (warm KV)", "passthrough (gateway's bindings)"],
        ["bindingsReadyVsPassthrough", "readyMs", "passthrough (gateway's bindings)", "passthrough"],
        ["firstWarmKvVsKvFloor", "firstMs", "gateway (warm KV)", "passthrough (one KV read first)"],
        ["firstNoKvVsFetchFloor", "firstMs", "gateway (no KV binding)", "passthrough (one JWKS fetch first)"],
        ["clerkVsFetchFloor", "firstMs", "clerk-backend", "passthrough (one JWKS fetch first)"],
        ["kvFloorVsClerk", "firstMs", "passthrough (one KV read first)", "clerk-backend"],
        ["firstColdKvVsKvFloor", "firstMs", "gateway (cold KV)", "passthrough (one KV read first, empty KV)"],
        ["emptyKvFloorVsClerk", "firstMs", "passthrough (one KV read first, empty KV)", "clerk-backend"],
      ].map(([key, measure, a, b]) => [key, pairedRatios(samples[a].map((x) => x[measure]), samples[b].map((x) => x[measure]))]),
    );
    const ratios = Object.fromEntries(Object.entries(cycleRatios).map(([k, v]) => [k, median(v)]));

    const firstRequestProfile = o.gatewayReadable && o.profileSamples > 0 ? await profileFirstRequests(o, vars, seeded, scratch) : null;

    const bundle = (b) => ({ bytes: b.bytes, gzipBytes: b.gzipBytes, wrangler: b.wranglerLine });
    return {
      bundles: { gateway: bundle(o.gatewayBundle), "clerk-backend": bundle(o.clerkBundle), "hono-jwk": bundle(o.honoJwkBundle) },
      contributors: o.gatewayBundle.contributors ?? null,
      firstRequestMs,
      cycleRatios,
      ratios,
      firstRequestProfile,
      samples: o.samples,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The gateway's first request on fresh isolates (warm KV, as most new isolates find it), profiled
 * through the inspector (the unminified build of the same bundle, so that samples name their
 * source module); medians over the isolates. Sampling slows the isolate down: the shares are the
 * finding, not the milliseconds.
 */
async function profileFirstRequests(o, vars, seeded, scratch) {
  o.log(`  first-request profile: ${o.profileSamples} fresh isolates (warm KV)`);
  const runs = [];
  for (let i = 0; i < o.profileSamples; i++) {
    const dir = join(scratch, `profile-${i}`);
    await cp(seeded, dir, { recursive: true });
    const gateway = await startGateway({ scriptPath: o.gatewayReadable, vars, kvPersist: dir, inspect: true });
    try {
      runs.push(await profileOnce(gateway.mf, "gateway", o.gatewayReadable, () => firstRequest(gateway.url, o.token)));
    } finally {
      await gateway.dispose();
    }
  }
  const inclusiveOf = (names) => (run) => {
    let ms = 0;
    for (const [label, v] of Object.entries(run.inclusive)) if (names.includes(label.split(" · ")[0])) ms = Math.max(ms, v);
    return ms;
  };
  const phases = FIRST_REQUEST_PHASES.map(([phase, names]) => {
    const values = runs.map(inclusiveOf(names));
    return { phase, ms: median(values), share: median(runs.map((r, i) => (r.busyMs > 0 ? values[i] / r.busyMs : 0))) };
  });
  const labels = new Set(runs.flatMap((r) => Object.keys(r.self)));
  const self = [...labels]
    .map((label) => ({ name: label.split(" · ")[0], module: label.split(" · ")[1], ms: median(runs.map((r) => r.self[label] ?? 0)) }))
    .filter((f) => f.name !== "(program)" && f.name !== "(root)")
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12);
  return { isolates: runs.length, busyMs: median(runs.map((r) => r.busyMs)), phases, self };
}

async function firstRequest(url, token) {
  const start = performance.now();
  const response = await fetch(url + OVERHEAD_PATH, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${url}: first request answered ${response.status}`);
  return performance.now() - start;
}
