import { beforeAll, describe, expect, it } from "vitest";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { body, expectMisconfigured, Clock, FakeOrigin, harness, mint, newKey, uniqueJwksEnv, withRefusedHttpUpstream, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** An in-process upstream on the MASTRA binding: records what reached it. */
function upstream(respond?: (request: Request) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const fetcher = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      seen.push({
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body: request.method === "GET" || request.method === "HEAD" ? "" : await request.clone().text(),
      });
      return respond ? respond(request) : Response.json({ ok: true }, { headers: { "x-upstream": "yes", "access-control-allow-origin": "*" } });
    },
  } as unknown as Fetcher;
  return { seen, fetcher };
}

function setup(extra: GatewayEnv = {}, respond?: (request: Request) => Response | Promise<Response>) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const up = upstream(respond);
  const h = harness(uniqueJwksEnv({ MASTRA: up.fetcher, PUBLIC_PATHS: "/api,/api/auth/*", ...extra }), { fetch: origin.fetch, now: clock.now, kv: null });
  const token = (options: Record<string, unknown> = {}) => mint(key, { now: clock.seconds, ...options });
  return { ...h, clock, up, token };
}

describe("which paths need what", () => {
  it("protected by default: 401 and the upstream is never called", async () => {
    const { request, up } = setup();
    const response = await request("/api/agents");
    expect(response.status).toBe(401);
    expect(up.seen).toHaveLength(0);
  });

  it("public paths reach the upstream without a token and without identity", async () => {
    const { request, up } = setup();
    for (const path of ["/api", "/api/auth/login"]) {
      expect((await request(path, { headers: { "x-clerk-user-id": "user_admin" } })).status).toBe(200);
    }
    expect(up.seen.map((s) => new URL(s.url).pathname)).toEqual(["/api", "/api/auth/login"]);
    for (const s of up.seen) expect(Object.keys(s.headers).filter((h) => h.startsWith("x-clerk"))).toEqual([]);
  });

  it.each([
    "/api/auth/../agents",
    "/api/auth/%2e%2e/agents",
    "/api/auth/./../agents",
    "//api/agents",
    "/api/auth/..//agents",
    "/api/%61gents",
  ])("%s is the protected /api/agents, not a public path", async (path) => {
    const { request, up } = setup();
    const response = await request(path);
    expect(response.status).toBe(401);
    expect(up.seen).toHaveLength(0);
  });

  it("the normalised path is the one forwarded", async () => {
    const { request, up, token } = setup();
    const t = await token();
    await request("/api/auth/../agents//weatherAgent?x=1&y=%2F", { headers: { authorization: `Bearer ${t}` } });
    expect(up.seen[0]!.url).toBe("https://mastra.internal/api/agents/weatherAgent?x=1&y=%2F");
  });

  it.each(["/api/auth/..%2Fagents", "/api/agents%2Fsecret", "/api/agents%5Csecret"])("%s → 400", async (path) => {
    const { request, up } = setup();
    const response = await request(path);
    expect(response.status).toBe(400);
    expect(await body(response)).toMatchObject({ error: "bad_request", reason: "path-invalid" });
    expect(up.seen).toHaveLength(0);
  });

  it("403 names the requirement and the rule; the upstream is never called", async () => {
    const rules = [{ id: "admins-only", path: ["/api/agents/weatherAgent/generate", "/api/agents/weather-agent/generate"], methods: ["POST"], require: { orgRoles: ["admin"] } }];
    const { request, up, token } = setup({ AUTH_RULES: JSON.stringify(rules) });
    const member = await token({ org: { id: "org_1", role: "member" } });
    const admin = await token({ org: { id: "org_1", role: "admin" } });
    for (const agent of ["weatherAgent", "weather-agent"]) {
      const denied = await request(`/api/agents/${agent}/generate`, { method: "POST", headers: { authorization: `Bearer ${member}` }, body: "{}" });
      expect(denied.status).toBe(403);
      expect(await body(denied)).toEqual({ error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" });
    }
    expect(up.seen).toHaveLength(0);
    const allowed = await request("/api/agents/weather-agent/generate", { method: "POST", headers: { authorization: `Bearer ${admin}` }, body: "{}" });
    expect(allowed.status).toBe(200);
    expect(up.seen).toHaveLength(1);
  });

  it("an invalid AUTH_RULES answers misconfigured naming the rule", async () => {
    const { request, logger } = setup({ AUTH_RULES: '[{"id":"typo","path":"/x","require":{"roles":["admin"]}}]' });
    const response = await request("/api/agents");
    await expectMisconfigured(response, logger, "AUTH_RULES", /^AUTH_RULES: rule "typo": unknown requirement "roles"$/);
  });

  it("with no upstream, the Worker is a pure auth service: other paths 404 after authentication", async () => {
    const clock = new Clock();
    const h = harness(uniqueJwksEnv(), { fetch: new FakeOrigin(key).fetch, now: clock.now, kv: null });
    expect((await h.request("/api/agents")).status).toBe(401);
    const t = await mint(key, { now: clock.seconds });
    const response = await h.withToken(t, "/api/agents");
    expect(response.status).toBe(404);
    expect(await body(response)).toEqual({ error: "no_upstream", message: "no upstream configured: set MASTRA_URL or bind MASTRA" });
  });
});

describe("identity to the upstream", () => {
  const spoofed = {
    "x-clerk-user-id": "user_admin",
    "X-Clerk-Org-Role": "org:admin",
    "x_clerk_org_id": "org_evil",
    "x-clerk-anything": "x",
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-host": "evil.example",
    forwarded: "for=6.6.6.6",
    "x-real-ip": "6.6.6.6",
    "true-client-ip": "6.6.6.6",
    "X-Client-IP": "6.6.6.6",
    "cf-connecting-ipv6": "2001:db8::666",
    "true_client_ip": "6.6.6.6",
    "x-gateway-assertion": "forged",
    "x-user-email": "ceo@example.com",
  };

  it("only the verified credential travels: a token verified from the cookie takes no other Authorization value upstream", async () => {
    const { request, up, token } = setup();
    const cookieUser = await token({ sub: "user_cookie" });
    const other = await token({ sub: "user_other" });
    // Values that are not a session token to the gateway (another scheme, an opaque word): the
    // cookie is what was verified, and the header does not travel.
    for (const authorization of [`Basic ${btoa("a:b")}`, `Token ${other}`, "ak_opaque_key"]) {
      const response = await request("/api/agents", { headers: { cookie: `theme=dark; __client_uat=1; __session=${cookieUser}`, authorization } });
      expect(response.status).toBe(200);
      const h = up.seen.at(-1)!.headers;
      expect(h["x-clerk-user-id"]).toBe("user_cookie");
      expect(h["authorization"], authorization.slice(0, 12)).toBeUndefined();
      expect(h["cookie"]).toBe(`theme=dark; __client_uat=1; __session=${cookieUser}`);
    }
    // Verified from the header: a different __session cookie is removed, the rest of the cookies kept.
    await request("/api/agents", { headers: { cookie: `__client_uat=1; __session=${other}; theme=dark`, authorization: `Bearer ${cookieUser}` } });
    const h = up.seen.at(-1)!.headers;
    expect([h["x-clerk-user-id"], h["authorization"], h["cookie"]]).toEqual(["user_cookie", `Bearer ${cookieUser}`, "__client_uat=1; theme=dark"]);
  });

  it("strips every spoofed variant, then sets the verified identity", async () => {
    const { request, up, token } = setup({ IDENTITY_HEADERS: '{"x-user-email":"email","x-plan":"metadata.plan"}' });
    const t = await token({ sub: "user_1", sid: "sess_1", org: { id: "org_1", role: "member", permissions: ["org:agents:run", "org:agents:read"] }, email: "u1@example.com", claims: { metadata: { plan: "pro" } } });
    const response = await request("/api/agents", { headers: { ...spoofed, authorization: `Bearer ${t}`, "cf-connecting-ip": "203.0.113.7" } });
    expect(response.status).toBe(200);
    const h = up.seen[0]!.headers;
    expect(h["x-clerk-user-id"]).toBe("user_1");
    expect(h["x-clerk-session-id"]).toBe("sess_1");
    expect(h["x-clerk-org-id"]).toBe("org_1");
    expect(h["x-clerk-org-role"]).toBe("org:member");
    expect(h["x-clerk-org-permissions"]?.split(",").sort()).toEqual(["org:agents:read", "org:agents:run"]);
    expect(h["x-user-email"]).toBe("u1@example.com");
    expect(h["x-plan"]).toBe("pro");
    expect(h["x-clerk-anything"]).toBeUndefined();
    expect(h["x_clerk_org_id"]).toBeUndefined();
    expect(h["forwarded"]).toBeUndefined();
    expect(h["x-real-ip"]).toBeUndefined();
    for (const name of ["true-client-ip", "x-client-ip", "cf-connecting-ip", "cf-connecting-ipv6", "true_client_ip"]) expect(h[name], name).toBeUndefined();
    expect(h["x-gateway-assertion"]).toBeUndefined();
    expect(h["x-forwarded-for"]).toBe("203.0.113.7");
    expect(h["x-forwarded-host"]).toBe("gateway.test");
    expect(h["x-forwarded-proto"]).toBe("https");
    // FORWARD_AUTHORIZATION defaults to true so an upstream MastraAuthClerk can re-check.
    expect(h["authorization"]).toBe(`Bearer ${t}`);
  });

  it("absent claims mean absent headers", async () => {
    const { request, up, token } = setup({ IDENTITY_HEADERS: '{"x-user-email":"email"}' });
    await request("/api/agents", { headers: { authorization: `Bearer ${await token({ sub: "user_2" })}`, "x-user-email": "spoof@example.com" } });
    const h = up.seen[0]!.headers;
    expect(h["x-clerk-user-id"]).toBe("user_2");
    for (const name of ["x-clerk-org-id", "x-clerk-org-role", "x-clerk-org-permissions", "x-user-email"]) expect(h[name]).toBeUndefined();
  });

  it("FORWARD_AUTHORIZATION=false removes the Authorization header and only the __session cookie", async () => {
    const { request, up, token } = setup({ FORWARD_AUTHORIZATION: "false" });
    const t = await token();
    await request("/api/agents", { headers: { cookie: `theme=dark; __client_uat=1; __session=${t}; lang=en` } });
    await request("/api/agents", { headers: { authorization: `Bearer ${t}` } });
    expect(up.seen[0]!.headers.cookie).toBe("theme=dark; __client_uat=1; lang=en");
    expect(up.seen[1]!.headers.authorization).toBeUndefined();
    expect(up.seen[1]!.headers["x-clerk-user-id"]).toBe("user_dev");
  });

  it("hop-by-hop headers are dropped both ways, including those named by Connection", async () => {
    const { request, up, token } = setup({}, () => new Response("ok", { headers: { "keep-alive": "timeout=5", "x-kept": "1", connection: "x-secret-hop", "x-secret-hop": "1" } }));
    const response = await request("/api/agents", {
      headers: { authorization: `Bearer ${await token()}`, connection: "x-internal", "x-internal": "1", "keep-alive": "timeout=5", te: "trailers", "proxy-authorization": "Basic x", "x-kept": "yes" },
    });
    const h = up.seen[0]!.headers;
    for (const name of ["connection", "x-internal", "keep-alive", "te", "proxy-authorization", "host"]) expect(h[name]).toBeUndefined();
    expect(h["x-kept"]).toBe("yes");
    expect(response.headers.get("keep-alive")).toBeNull();
    expect(response.headers.get("x-secret-hop")).toBeNull();
    expect(response.headers.get("x-kept")).toBe("1");
  });

  it("an absolute-form URL or a Host header cannot change the target", async () => {
    const { gateway, up, token } = setup({ MASTRA_URL: "https://mastra.example.com/base" });
    const t = await token();
    const env = {};
    await gateway.fetch(new Request("https://evil.example/api/agents", { headers: { authorization: `Bearer ${t}`, host: "evil.example" } }), env);
    expect(up.seen[0]!.url).toBe("https://mastra.example.com/base/api/agents");
  });

  it("method, query and body are forwarded", async () => {
    const { request, up, token } = setup();
    const payload = JSON.stringify({ messages: "Weather in London" });
    await request("/api/agents/weatherAgent/generate?runId=1", { method: "POST", headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" }, body: payload });
    expect(up.seen[0]).toMatchObject({ method: "POST", url: "https://mastra.internal/api/agents/weatherAgent/generate?runId=1", body: payload });
    expect(up.seen[0]!.headers["content-type"]).toBe("application/json");
  });
});

describe("streaming", () => {
  it("the first SSE chunk reaches the client while the upstream is still writing", async () => {
    let write!: (text: string) => Promise<void>;
    let close!: () => Promise<void>;
    const { request, token } = setup({}, () => {
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      const enc = new TextEncoder();
      write = (text) => writer.write(enc.encode(text));
      close = () => writer.close();
      return new Response(readable, { headers: { "content-type": "text/event-stream" } });
    });
    const response = await request("/api/agents/weatherAgent/stream", { method: "POST", headers: { authorization: `Bearer ${await token()}` }, body: "{}" });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.getReader();
    const dec = new TextDecoder();
    void write('data: {"type":"text-delta","payload":{"text":"Sun"}}\n\n');
    const first = await reader.read();
    // The upstream has not closed: this chunk can only have come through unbuffered.
    expect(dec.decode(first.value)).toBe('data: {"type":"text-delta","payload":{"text":"Sun"}}\n\n');
    void write("data: [DONE]\n\n");
    const second = await reader.read();
    expect(dec.decode(second.value)).toBe("data: [DONE]\n\n");
    void close();
    expect((await reader.read()).done).toBe(true);
  });

  it("a workflow's \\x1E-separated text stream passes byte for byte", async () => {
    const records = ['{"type":"start"}\x1E', '{"type":"step","id":"a"}\x1E', '{"type":"finish"}\x1E'];
    const { request, token } = setup({}, () => new Response(records.join(""), { headers: { "content-type": "text/plain" } }));
    const response = await request("/api/workflows/weatherWorkflow/stream?runId=r1", { method: "POST", headers: { authorization: `Bearer ${await token()}` }, body: "{}" });
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(await response.text()).toBe(records.join(""));
  });
});

describe("CORS", () => {
  const cors = { CORS_ORIGINS: "https://app.example.com" };

  it("preflights are answered at the edge without a token, with Mastra's headers", async () => {
    const { request, up } = setup(cors);
    const response = await request("/api/agents/weatherAgent/stream", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-mastra-client-type" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = response.headers.get("access-control-allow-headers")!;
    for (const h of ["Content-Type", "Authorization", "x-mastra-client-type", "x-mastra-dev-playground", "A2A-Version"]) expect(allowed).toContain(h);
    expect(up.seen).toHaveLength(0);
  });

  it("a disallowed origin gets no CORS headers at all", async () => {
    const { request } = setup(cors);
    const preflight = await request("/api/agents", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const actual = await request("/api/agents", { headers: { origin: "https://evil.example" } });
    expect(actual.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("401, 403, 502 and proxied answers carry CORS headers; the upstream's own are replaced", async () => {
    const rules = JSON.stringify([{ path: "/api/admin*", allow: false }]);
    const { request, token } = setup({ ...cors, AUTH_RULES: rules });
    const origin = { origin: "https://app.example.com" };
    const unauthorized = await request("/api/agents", { headers: origin });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(unauthorized.headers.get("access-control-expose-headers")).toContain("WWW-Authenticate");
    const t = await token();
    const forbidden = await request("/api/admin", { headers: { ...origin, authorization: `Bearer ${t}` } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const ok = await request("/api/agents", { headers: { ...origin, authorization: `Bearer ${t}` } });
    expect(ok.headers.get("x-upstream")).toBe("yes");
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");

    const down = setup({ ...cors, MASTRA: undefined, MASTRA_URL: "https://mastra.test" });
    const bearer = `Bearer ${await down.token()}`;
    const { result: bad } = await withRefusedHttpUpstream(() => down.request("/api/agents", { headers: { ...origin, authorization: bearer } }));
    expect(bad.status).toBe(502);
    expect(bad.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  });

  it("withCors copies a response whose headers are immutable (as fetch's are), keeping status and body", async () => {
    const { withCors, parseCorsOrigins } = await import("../../src/http/cors.js");
    const immutable = Response.redirect("https://mastra.example/next", 302);
    expect(() => immutable.headers.set("x-test", "1")).toThrow();
    const out = withCors(immutable, parseCorsOrigins("https://app.example.com"), "https://app.example.com");
    expect(out.status).toBe(302);
    expect(out.headers.get("location")).toBe("https://mastra.example/next");
    expect(out.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const denied = withCors(Response.redirect("https://mastra.example/next", 302), parseCorsOrigins("https://app.example.com"), "https://evil.example");
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    expect(denied.headers.get("vary")).toContain("Origin");
  });

  it("* allows any origin, never with credentials", async () => {
    const { request } = setup({ CORS_ORIGINS: "*" });
    const response = await request("/api/agents", { headers: { origin: "https://anything.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });
});

describe("upstream failures", () => {
  it("unreachable → 502 bad_gateway, no retry", async () => {
    const { request, token, logger } = setup({ MASTRA: undefined, MASTRA_URL: "https://mastra.test/base" });
    const bearer = `Bearer ${await token()}`;
    const { result: response, tried } = await withRefusedHttpUpstream(() => request("/api/agents", { headers: { authorization: bearer } }));
    expect(response.status).toBe(502);
    expect(await body(response)).toMatchObject({ error: "bad_gateway" });
    expect(logger.events("upstream.error")).toHaveLength(1);
    expect(tried).toEqual(["https://mastra.test/base/api/agents"]);
  });

  it("no response headers within UPSTREAM_TIMEOUT_MS → 504 gateway_timeout", async () => {
    let calls = 0;
    const { request, token } = setup({ UPSTREAM_TIMEOUT_MS: "50" }, (req) => {
      calls++;
      return new Promise<Response>((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason)));
    });
    const response = await request("/api/agents", { headers: { authorization: `Bearer ${await token()}` } });
    expect(response.status).toBe(504);
    expect(await body(response)).toMatchObject({ error: "gateway_timeout" });
    expect(calls).toBe(1);
  });

  it("an upstream 5xx is passed through as is (the gateway never turns auth into 5xx, nor retries)", async () => {
    let calls = 0;
    const { request, token } = setup({}, () => {
      calls++;
      return Response.json({ error: "boom" }, { status: 500 });
    });
    const response = await request("/api/agents", { headers: { authorization: `Bearer ${await token()}` } });
    expect(response.status).toBe(500);
    expect(calls).toBe(1);
  });
});

describe("what the upstream sees (issue #12)", () => {
  it("?apiKey= never travels (Mastra would take it as a token), however its name is spelled in the query", async () => {
    const { request, up, token } = setup();
    const bearer = { authorization: `Bearer ${await token({ sub: "user_q" })}` };
    for (const query of ["?apiKey=tok_B&x=1", "?x=1&apiKey=tok_B", "?api%4Bey=tok_B&x=1", "?apiKey=a&apiKey=b&x=1"]) {
      expect((await request(`/api/agents${query}`, { headers: bearer })).status).toBe(200);
      expect(new URL(up.seen.at(-1)!.url).search, query).toBe("?x=1");
    }
    await request("/api/agents?apiKey=tok_B", { headers: bearer });
    expect(new URL(up.seen.at(-1)!.url).search).toBe("");
    // Other queries pass as they came, not re-encoded.
    await request("/api/agents?q=a%20b&r=%2F", { headers: bearer });
    expect(new URL(up.seen.at(-1)!.url).search).toBe("?q=a%20b&r=%2F");
  });

  it("Clerk's suffixed __session_<suffix> cookies that were not verified are removed too", async () => {
    const { request, up, token } = setup();
    const mine = await token({ sub: "user_me" });
    const other = await token({ sub: "user_other" });
    await request("/api/agents", { headers: { authorization: `Bearer ${mine}`, cookie: `__session_AbCd1234=${other}; __client_uat=1; theme=dark` } });
    expect(up.seen.at(-1)!.headers["cookie"]).toBe("__client_uat=1; theme=dark");
  });

  it("a public path: a valid token is forwarded with its identity; an invalid one passes anonymous, never 401, with no credential", async () => {
    const { request, up, token, logger } = setup();
    const valid = await token({ sub: "user_public" });
    const ok = await request("/api", { headers: { authorization: `Bearer ${valid}` } });
    expect(ok.status).toBe(200);
    expect(up.seen.at(-1)!.headers).toMatchObject({ "x-clerk-user-id": "user_public", authorization: `Bearer ${valid}` });

    const expired = await token({ sub: "user_late", now: Math.floor(Date.UTC(2026, 10, 25, 12) / 1000) - 7200 });
    for (const headers of [{ authorization: `Bearer ${expired}` }, { authorization: `Token ${valid}` }, { cookie: `__client_uat=1; __session=${expired}; theme=dark` }, { authorization: "Bearer a b" }] as Record<string, string>[]) {
      const response = await request("/api", { headers });
      expect(response.status, JSON.stringify(headers).slice(0, 40)).toBe(200);
      const seen = up.seen.at(-1)!.headers;
      expect(seen["x-clerk-user-id"]).toBeUndefined();
      expect(seen["authorization"]).toBeUndefined();
      expect(seen["cookie"] ?? "").not.toContain("__session");
    }
    expect(logger.events("auth.rejected")).toHaveLength(0);
  });

  it("headers that steer Mastra's auth path are the gateway's: removed, and set only for a configured Studio host", async () => {
    const { up, token, gateway } = setup({ MASTRA_STUDIO_HOSTS: "studio.example.com" });
    const bearer = `Bearer ${await token({ sub: "user_s" })}`;
    const send = async (host: string) => {
      const ctx = createExecutionContext();
      await gateway.fetch(
        new Request(`https://${host}/api/agents`, { headers: { authorization: bearer, "x-mastra-client-type": "studio", "x-mastra-dev-playground": "true", x_mastra_dev_playground: "true" } }),
        {},
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return up.seen.at(-1)!.headers;
    };
    const api = await send("gateway.test");
    expect([api["x-mastra-client-type"], api["x-mastra-dev-playground"], api["x_mastra_dev_playground"]]).toEqual([undefined, undefined, undefined]);
    const studio = await send("studio.example.com");
    expect([studio["x-mastra-client-type"], studio["x-mastra-dev-playground"]]).toEqual(["studio", undefined]);
  });

  it("MASTRA_STUDIO_HOSTS takes host names only", () => {
    for (const value of ["https://studio.example.com", "studio.example.com:443", "studio.example.com/x"]) {
      expect(setup({ MASTRA_STUDIO_HOSTS: value }).gateway.configError?.variable).toBe("MASTRA_STUDIO_HOSTS");
    }
  });

  it("says at start-up when the upstream gets nothing it can verify", () => {
    const untrusted = setup({ FORWARD_AUTHORIZATION: "false" });
    expect(untrusted.logger.events("upstream.untrusted")).toHaveLength(1);
    expect(String(untrusted.logger.events("upstream.untrusted")[0]!.message)).toContain("GATEWAY_ASSERTION_SECRET");
    expect(setup().logger.events("upstream.untrusted")).toHaveLength(0);
    expect(setup({ FORWARD_AUTHORIZATION: "false", GATEWAY_ASSERTION_SECRET: "s".repeat(40) }).logger.events("upstream.untrusted")).toHaveLength(0);
  });
});
