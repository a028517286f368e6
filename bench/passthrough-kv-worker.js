// Diagnostic of BENCHMARKS.md §4: the pass-through Worker that first reads one KV key (the JWKS
// record a gateway isolate left there), then forwards. On a new isolate this is the floor of the
// gateway's first request with keys from KV: what Miniflare's local KV costs a first read,
// whatever the script around it.

export default {
  async fetch(request, env) {
    await env.JWKS_CACHE.get(env.KV_KEY, "json");
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};
