// §3 Key traffic: origin JWKS fetches (counted at the loopback origin) and KV reads (counted by a
// wrapper around the real KV binding) per 100,000 requests, for a warm isolate, a cold isolate
// with a warm KV, and a cold isolate with a cold KV; and origin fetches per TTL under load.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { throughput } from "../lib/load.mjs";
import { startGateway } from "../lib/workers.mjs";

export const KEYS_PATH = "/auth/me";

/**
 * @param {{ keyServer, token: string, newTokens: string[], newTokenRatePerS: number, countingBundle: string, requests: number, ttlWindowS: number, log: (s: string) => void }} o
 */
export async function benchKeys(o) {
  const kvDir = await mkdtemp(join(tmpdir(), "mea-bench-kv-"));
  const vars = { CLERK_JWKS_URI: o.keyServer.jwksUrl, CLERK_ISSUER: o.keyServer.issuer, LOG_LEVEL: "error" };
  try {
    const isolate = async (extraVars = {}) => {
      const w = await startGateway({ scriptPath: o.countingBundle, vars: { ...vars, ...extraVars }, kvPersist: kvDir });
      const counters = async () => {
        const c = await (await fetch(`${w.url}/__bench/counters`)).json();
        return { kvReads: c.kvReads, kvWrites: c.kvWrites, originFetches: o.keyServer.fetches() };
      };
      const drive = async (count) => {
        const before = await counters();
        const response = await fetch(`${w.url}/__bench/drive`, { method: "POST", body: JSON.stringify({ count, token: o.token, path: KEYS_PATH }) });
        if (!response.ok) throw new Error(`drive: ${await response.text()}`);
        const after = await counters();
        return { requests: count, kvReads: after.kvReads - before.kvReads, kvWrites: after.kvWrites - before.kvWrites, originFetches: after.originFetches - before.originFetches };
      };
      return { ...w, counters, drive };
    };
    const per100k = (r) => ({ ...r, kvReadsPer100k: (r.kvReads / r.requests) * 1e5, originFetchesPer100k: (r.originFetches / r.requests) * 1e5 });

    o.log(`  cold isolate, cold KV; then ${o.requests} requests on the warm isolate`);
    const first = await isolate();
    let coldCold, warm;
    try {
      coldCold = await first.drive(1);
      // The KV write runs under waitUntil, and nothing signals its end; the next isolate must find
      // it: poll (any key: its name is the gateway's business) for as long as a loaded machine may
      // need (30 s).
      const kv = await first.mf.getKVNamespace("JWKS_CACHE");
      const deadline = Date.now() + 30_000;
      while ((await kv.list()).keys.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      warm = per100k(await first.drive(o.requests));
    } finally {
      await first.dispose();
    }

    o.log(`  cold isolate, warm KV; ${o.requests} requests`);
    const second = await isolate();
    let coldWarm;
    try {
      coldWarm = per100k(await second.drive(o.requests));
    } finally {
      await second.dispose();
    }

    // With one token every request after the first is a cache hit, which never consults the keys;
    // with a new token on every request every request needs them. Both, TTL 1 s, under HTTP load.
    const underLoad = async (label, load) => {
      o.log(`  TTL 1 s, ${label}, for ${o.ttlWindowS} s`);
      const w = await isolate({ JWKS_CACHE_TTL_S: "1", JWKS_REFETCH_COOLDOWN_S: "0" });
      try {
        const before = await w.counters();
        const result = await throughput(`${w.url}${KEYS_PATH}`, { connections: 4, durationS: o.ttlWindowS, ...load });
        const after = await w.counters();
        const originFetches = after.originFetches - before.originFetches;
        const windowS = Math.round(result.durationS * 10) / 10;
        return { label, ttlS: 1, windowS, requests: result.requests, originFetches, kvReads: after.kvReads - before.kvReads, originFetchesPerTtl: originFetches / windowS };
      } finally {
        await w.dispose();
      }
    };
    const ttlHot = await underLoad("one token (cache hits)", { headers: { authorization: `Bearer ${o.token}` } });
    // A fixed number of requests, each with its own token: none is ever a cache hit.
    const ttl = await underLoad(`a new token on every request, ${o.newTokenRatePerS} req/s`, {
      tokens: o.newTokens,
      amount: o.newTokens.length,
      ratePerS: o.newTokenRatePerS,
    });
    return { path: KEYS_PATH, coldIsolateColdKv: coldCold, warmIsolate: warm, coldIsolateWarmKv: coldWarm, ttlHot, ttl };
  } finally {
    await rm(kvDir, { recursive: true, force: true });
  }
}
