// Diagnostic of BENCHMARKS.md §4: the pass-through Worker that first GETs the JWKS from the
// origin (and parses it), then forwards. On a new isolate this is the I/O floor of a first request
// that must fetch keys (the gateway's without KV, @clerk/backend's): two subrequests, no crypto.

export default {
  async fetch(request, env) {
    await (await fetch(env.JWKS_URL)).json();
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};
