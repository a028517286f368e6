// Diagnostic of BENCHMARKS.md §2: a pass-through Worker doing only what any proxy that forwards a
// verified identity must do on each request, and nothing else (no verification): copy the request
// headers, set the identity and X-Forwarded-* headers the gateway sets for the bench's token (a
// session of one user in one org), and bound the upstream call with a header timeout. Its
// throughput ÷ the bare pass-through's is the floor of what such a gateway can reach here.

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.set("x-forwarded-host", url.host);
    headers.set("x-clerk-token-type", "session_token");
    headers.set("x-clerk-user-id", "user_2bench");
    headers.set("x-clerk-session-id", "sess_2bench");
    headers.set("x-clerk-org-id", "org_bench");
    headers.set("x-clerk-org-role", "org:admin");
    headers.set("x-clerk-org-permissions", "org:agents:run,org:agents:read,org:workflows:run");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 30_000);
    try {
      return await fetch(env.UPSTREAM_URL + url.pathname + url.search, { method: request.method, headers, body: request.body, redirect: "manual", signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  },
};
