// The baseline of BENCHMARKS.md §2: a Worker that forwards every request to the upstream with the
// same method, headers and body, and does nothing else. What the gateway adds is measured against it.

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};
