// The real Worker entry (src/index.ts) with its KV binding wrapped to count reads and writes, for
// BENCHMARKS.md §3. Requests are served by the real entry; two bench routes read the counters
// and drive N requests through the entry from inside the isolate. Never deployed.

import worker from "../src/index.js";
import type { GatewayEnv } from "../src/gateway/env.js";

export { SpendCounter } from "../src/index.js";

const counts = { kvReads: 0, kvWrites: 0 };
// One wrapped env per real env: the entry builds its gateway once per env object, as in production.
const wrapped = new WeakMap<object, GatewayEnv>();

function counting(env: GatewayEnv): GatewayEnv {
  let out = wrapped.get(env);
  if (!out) {
    const kv = env.JWKS_CACHE!;
    const countingKv = {
      get: (...args: unknown[]) => {
        counts.kvReads++;
        return (kv.get as (...a: unknown[]) => unknown)(...args);
      },
      getWithMetadata: (...args: unknown[]) => {
        counts.kvReads++;
        return (kv.getWithMetadata as (...a: unknown[]) => unknown)(...args);
      },
      put: (...args: Parameters<KVNamespace["put"]>) => {
        counts.kvWrites++;
        return kv.put(...args);
      },
      list: kv.list.bind(kv),
      delete: kv.delete.bind(kv),
    } as unknown as KVNamespace;
    out = { ...env, JWKS_CACHE: countingKv };
    wrapped.set(env, out);
  }
  return out;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counters") return Response.json(counts);
    if (url.pathname === "/__bench/drive" && request.method === "POST") {
      // N authenticated requests through the real entry, one after another, in this isolate.
      const { count, token, path } = (await request.json()) as { count: number; token: string; path: string };
      const target = new URL(path, url.origin).href;
      const headers = { authorization: `Bearer ${token}` };
      for (let i = 0; i < count; i++) {
        const response = await worker.fetch(new Request(target, { headers }), counting(env), ctx);
        if (response.status !== 200) return Response.json({ error: `request ${i}: status ${response.status}`, body: await response.text() }, { status: 500 });
        await response.arrayBuffer();
      }
      return Response.json({ ok: true, count });
    }
    return worker.fetch(request, counting(env), ctx);
  },
} satisfies ExportedHandler<GatewayEnv>;
