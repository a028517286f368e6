// bench/passthrough-worker.js (the same fetch, repeated: one file, since Miniflare loads this one
// with wrangler.toml's module rules) with every binding of the gateway's wrangler.toml: §4's
// diagnostic of what Miniflare's local binding simulations add to start-up. The Durable Object
// binding needs its class exported, so a do-nothing one is.

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};

export class SpendCounter {
  fetch() {
    return new Response(null, { status: 404 });
  }
}
