// Machine callers (issue #13): token classes, per-route `accepts`, OAuth audiences, scopes, the
// MCP resource default, and opaque tokens verified through a loopback stand-in of Clerk's Backend API.
import { beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { mintM2MToken, mintOAuthAccessToken } from "../../scripts/lib/clerk-token.mjs";
import { Hono } from "hono";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { AssertionKey, ASSERTION_HEADER, identityFromAssertion, mintAssertion, verifyAssertion } from "../../src/assertion/assertion.js";
import { clerkAuth, getAuth, type AuthEnv } from "../../src/hono/clerk-auth.js";
import { MastraAuthClerk } from "../../src/mastra/clerk.js";
import { MastraAuthGateway } from "../../src/mastra/upstream.js";
import { budgetKey } from "../../src/spend-guard/decide.js";
import { machineIdentity } from "../../src/identity/identity.js";
import type { TokenClass } from "../../src/credentials/token-class.js";
import type { TokenVerificationError } from "../../src/core/errors.js";
import { acceptanceFor, CLASS_BIT, SESSION_ONLY, type Acceptance } from "../../src/verify/accepts.js";
import { createVerifier } from "../../src/verify/create.js";
import { body, Clock, expectMisconfigured, FakeOrigin, harness, ISSUER, mint, newKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

const GATEWAY = "https://gateway.test";
const API = "https://api.clerk.test";
const SECRET = "sk_test_machine";

/**
 * Stands in for Clerk's Backend API verify endpoints: answers as Clerk does (200 with the
 * resource, 404 for an unknown token) and records every request, so tests can prove what was
 * asked, how, and how often.
 */
class FakeBackendApi {
  known = new Map<string, Record<string, unknown>>();
  calls: { path: string; authorization: string | null; version: string | null; contentType: string | null; body: Record<string, unknown> }[] = [];
  mode: "serve" | "down" | "refuse-key" | { status: number; retryAfter?: string } = "serve";

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    this.calls.push({
      path: url.pathname,
      authorization: request.headers.get("authorization"),
      version: request.headers.get("clerk-api-version"),
      contentType: request.headers.get("content-type"),
      body: (await request.json()) as Record<string, unknown>,
    });
    const mode = this.mode;
    if (mode === "down") throw new TypeError("connection refused");
    if (mode === "refuse-key") return Response.json({ errors: [{ code: "authentication_invalid" }] }, { status: 401 });
    if (typeof mode === "object") return new Response("busy", { status: mode.status, headers: mode.retryAfter ? { "retry-after": mode.retryAfter } : {} });
    const last = this.calls.at(-1)!.body;
    const token = String(last.secret ?? last.access_token ?? last.token);
    const answer = this.known.get(token);
    return answer ? Response.json(answer) : Response.json({ errors: [{ code: "resource_not_found" }] }, { status: 404 });
  };
}

function setup(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const api = new FakeBackendApi();
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    return request.url.startsWith(API) ? api.fetch(request) : origin.fetch(request);
  };
  const h = harness(uniqueJwksEnv({ CLERK_API_URL: API, ...extra }), { fetch, now: clock.now, kv: null });
  const call = (token: string, path = "/auth/me", init: RequestInit = {}) =>
    h.request(path, { ...init, headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": "203.0.113.9", ...(init.headers as Record<string, string> | undefined) } });
  return { clock, origin, api, call, ...h };
}

const m2m = (clock: Clock, options: Record<string, unknown> = {}): Promise<string> => mintM2MToken(key, { issuer: ISSUER, now: clock.seconds, machineId: "mch_worker", scopes: ["mch_other"], ...options });
const oauth = (clock: Clock, options: Record<string, unknown> = {}): Promise<string> =>
  mintOAuthAccessToken(key, { issuer: ISSUER, now: clock.seconds, sub: "user_1", clientId: "client_app", aud: GATEWAY, scopes: ["read", "write"], ...options });

async function expect401(response: Response, reason: string) {
  expect(response.status).toBe(401);
  expect(await body(response)).toMatchObject({ error: "unauthorized", reason });
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="mastra", (?:resource_metadata="[^"]+", )?error="invalid_token"/);
}

describe("a session-only route (the default) refuses every machine token with a reason code", () => {
  it("M2M and OAuth JWTs, and opaque mt_, oat_, ak_ tokens: 401 token-type-mismatch, no Backend API call", async () => {
    const { clock, call, api } = setup({ CLERK_SECRET_KEY: SECRET });
    for (const token of [await m2m(clock), await oauth(clock), "mt_abcdefghijklmnop", "oat_abcdefghijklmnop", "ak_abcdefghijklmnop"]) {
      await expect401(await call(token), "token-type-mismatch");
    }
    expect(api.calls).toEqual([]);
  });

  it("a session token is still accepted, with its shape plus tokenType", async () => {
    const { clock, call } = setup();
    const me = await body(await call(await mint(key, { now: clock.seconds, sub: "user_1" })));
    expect(me).toMatchObject({ tokenType: "session_token", userId: "user_1", machineId: null, scopes: [] });
  });

  it("a session cookie on a route that accepts machines only is refused", async () => {
    const { clock, request } = setup({ AUTH_RULES: JSON.stringify([{ path: "/api/jobs/*", accepts: ["m2m"] }]) });
    const session = await mint(key, { now: clock.seconds, sub: "user_1" });
    const response = await request("/api/jobs/run", { headers: { cookie: `__session=${session}; __client_uat=${clock.seconds - 60}` } });
    await expect401(response, "token-type-mismatch");
  });

  it("an M2M JWT in the session cookie is refused even where M2M tokens are accepted", async () => {
    const { clock, request } = setup({ ACCEPTS: "session,m2m" });
    const token = await m2m(clock);
    const response = await request("/auth/me", { headers: { cookie: `__session=${token}; __client_uat=${clock.seconds - 60}` } });
    await expect401(response, "token-type-mismatch");
  });
});

describe("M2M tokens as JWTs: networkless, with the instance keys", () => {
  it("ACCEPTS=session,m2m: accepted, with the machine's own identity in /auth/me", async () => {
    const { clock, call, origin } = setup({ ACCEPTS: "session,m2m" });
    const response = await call(await m2m(clock, { jti: "mt_123" }));
    expect(response.status).toBe(200);
    expect(await body(response)).toMatchObject({ tokenType: "m2m_token", machineId: "mch_worker", subject: "mch_worker", userId: null, orgId: null, tokenId: "mt_123", scopes: ["mch_other"] });
    expect(origin.count).toBe(1);
  });

  it("seen again: answered from the verified-token cache", async () => {
    const { clock, call, gateway } = setup({ ACCEPTS: "m2m" });
    const token = await m2m(clock);
    expect((await call(token)).status).toBe(200);
    expect((await call(token)).status).toBe(200);
    expect(gateway.verifier!.counters.cacheHits).toBe(1);
  });

  it("expired, another issuer, a forged signature, a session sub under the M2M cat: refused", async () => {
    const { clock, call } = setup({ ACCEPTS: "m2m" });
    await expect401(await call(await m2m(clock, { now: clock.seconds - 7200 })), "token-expired");
    await expect401(await call(await m2m(clock, { issuer: "https://evil.example" })), "token-invalid-issuer");
    await expect401(await call(await m2m(clock, { machineId: "user_1" })), "token-invalid");
    const attacker = await newKey(key.kid);
    await expect401(await call(await mintM2MToken(attacker, { issuer: ISSUER, now: clock.seconds })), "token-invalid-signature");
  });

  it("a route that accepts m2m only refuses a session token (token-type-mismatch), even from the cache", async () => {
    const { clock, call } = setup({ AUTH_RULES: JSON.stringify([{ path: "/api/jobs/*", accepts: ["m2m"] }]) });
    const session = await mint(key, { now: clock.seconds, sub: "user_1" });
    expect((await call(session)).status).toBe(200);
    await expect401(await call(session, "/api/jobs/run"), "token-type-mismatch");
    expect((await call(await m2m(clock), "/api/jobs/run")).status).toBe(404); // authorised: no upstream configured
  });

  it("require.scopes: all of them, from the token's scopes", async () => {
    const { clock, call } = setup({ AUTH_RULES: JSON.stringify([{ id: "jobs", path: "/api/jobs/*", accepts: ["m2m"], require: { scopes: ["mch_other"] } }]) });
    expect((await call(await m2m(clock), "/api/jobs/run")).status).toBe(404);
    const response = await call(await m2m(clock, { scopes: ["mch_third"] }), "/api/jobs/run");
    expect(response.status).toBe(403);
    expect(await body(response)).toMatchObject({ error: "forbidden", reason: "scope-missing:mch_other", rule: "jobs" });
  });
});

describe("OAuth access tokens as JWTs (typ at+jwt)", () => {
  const rules = JSON.stringify([{ path: "/api/tools/*", accepts: ["session", "oauth"], require: { scopes: ["read"] } }]);

  it("accepted where a rule accepts oauth and aud is this gateway's origin", async () => {
    const { clock, call } = setup({ AUTH_RULES: rules });
    const response = await call(await oauth(clock), "/api/tools/x");
    expect(response.status).toBe(404);
    const me = await body(await setup({ ACCEPTS: "oauth" }).call(await oauth(clock)));
    expect(me).toMatchObject({ tokenType: "oauth_token", userId: "user_1", clientId: "client_app", machineId: null, scopes: ["read", "write"] });
  });

  it("aud naming anything else is refused token-invalid-audience; CLERK_OAUTH_AUDIENCES adds audiences", async () => {
    const { clock, call } = setup({ AUTH_RULES: rules });
    await expect401(await call(await oauth(clock, { aud: "https://other.example" }), "/api/tools/x"), "token-invalid-audience");
    await expect401(await call(await oauth(clock, { aud: undefined }), "/api/tools/x"), "token-invalid-audience");
    const configured = setup({ AUTH_RULES: rules, CLERK_OAUTH_AUDIENCES: "https://api.example.com, urn:mastra" });
    expect((await configured.call(await oauth(clock, { aud: ["urn:mastra"] }), "/api/tools/x")).status).toBe(404);
  });

  it("the audience is checked on every request, the cached ones included", async () => {
    const { clock, call, gateway } = setup({ AUTH_RULES: rules });
    const token = await oauth(clock);
    expect((await call(token, "/api/tools/x")).status).toBe(404);
    // The same token reaching the same gateway under another origin does not name it.
    const elsewhere = await gateway.fetch(new Request("https://elsewhere.test/api/tools/x", { headers: { authorization: `Bearer ${token}` } }));
    await expect401(elsewhere, "token-invalid-audience");
    expect(gateway.verifier!.counters.cacheHits).toBe(1);
  });

  it("a missing scope is 403 scope-missing", async () => {
    const { clock, call } = setup({ AUTH_RULES: rules });
    const response = await call(await oauth(clock, { scopes: ["write"] }), "/api/tools/x");
    expect(response.status).toBe(403);
    expect(await body(response)).toMatchObject({ reason: "scope-missing:read" });
  });

  it("an at+jwt whose sub is a machine, or with the session cat: token-invalid", async () => {
    const { clock, call } = setup({ ACCEPTS: "oauth,m2m" });
    await expect401(await call(await oauth(clock, { sub: "mch_1" })), "token-invalid");
    await expect401(await call(await oauth(clock, { header: { cat: "cl_B7d4PD111AAA" } })), "token-invalid");
  });
});

describe("the verifier's cache hit: one bit and the audiences, never the token's shape again", () => {
  const verifierOf = (clock: Clock) => createVerifier({ jwksUri: `${ISSUER}/.well-known/jwks.json`, issuer: ISSUER }, { fetch: new FakeOrigin(key).fetch, now: clock.now });
  const acceptance = (classes: TokenClass[], origin = GATEWAY, resource: string | null = null) => acceptanceFor(new Set(classes), [], origin, resource);

  it("a cached token is refused a class or an audience the request does not take, then accepted again where it is", async () => {
    const clock = new Clock();
    const verifier = verifierOf(clock);
    const machine = await m2m(clock);
    const access = await oauth(clock);
    const session = await mint(key, { now: clock.seconds, sub: "user_1" });
    const any = acceptance(["session", "m2m", "oauth"]);
    for (const token of [machine, access, session]) expect((await verifier.verify(token, {}, any)).cached).toBe(false);
    for (const token of [machine, access, session]) expect((await verifier.verify(token, {}, any)).cached).toBe(true);
    const reasonOf = (token: string, accepts: Acceptance) => verifier.verify(token, {}, accepts).then(() => "accepted", (e: TokenVerificationError) => e.reason);
    expect(await reasonOf(machine, SESSION_ONLY)).toBe("token-type-mismatch");
    expect(await reasonOf(access, SESSION_ONLY)).toBe("token-type-mismatch");
    expect(await reasonOf(session, acceptance(["m2m"]))).toBe("token-type-mismatch");
    // OAuth accepted as a class, for another origin: its aud does not name it.
    expect(await reasonOf(access, acceptance(["oauth"], "https://elsewhere.test"))).toBe("token-invalid-audience");
    // On an MCP resource that is not its audience, even where the route takes no OAuth of its own.
    expect(await reasonOf(access, acceptance(["session"], GATEWAY, `${GATEWAY}/api/mcp/x/mcp`))).toBe("token-invalid-audience");
    expect(await reasonOf(access, acceptance(["oauth"]))).toBe("accepted");
    expect(verifier.counters).toEqual({ cacheHits: 9, cacheMisses: 3 });
    // Expiry is checked against the injected clock on a hit too.
    clock.advance(2 * 3600);
    expect(await reasonOf(session, any)).toBe("token-expired");
  });

  it("acceptanceFor is built once per route's classes, and again when the origin or the resource its audiences name changes", () => {
    const none: string[] = []; // the configured audiences: one array per configuration
    const oauthRoute = new Set<TokenClass>(["session", "oauth"]);
    const a = acceptanceFor(oauthRoute, none, GATEWAY, null);
    expect(acceptanceFor(oauthRoute, none, GATEWAY, null)).toBe(a);
    expect(acceptanceFor(oauthRoute, none, "https://elsewhere.test", null).audiences).toEqual(["https://elsewhere.test"]);
    expect(acceptanceFor(oauthRoute, none, GATEWAY, `${GATEWAY}/mcp`).audiences).toEqual([GATEWAY, `${GATEWAY}/mcp`]);
    const sessions = new Set<TokenClass>(["session", "m2m"]);
    const b = acceptanceFor(sessions, none, GATEWAY, null);
    expect(acceptanceFor(sessions, none, "https://elsewhere.test", null)).toBe(b);
    expect(b.audiences).toEqual([]);
    const onResource = acceptanceFor(sessions, none, GATEWAY, `${GATEWAY}/mcp`);
    expect(onResource.audiences).toEqual([`${GATEWAY}/mcp`]);
    expect(onResource.mask).toBe(b.mask | CLASS_BIT.oauth);
    expect(acceptanceFor(sessions, none, GATEWAY, null).audiences).toEqual([]);
    expect(acceptanceFor(new Set(["session"]), none, GATEWAY, null)).toBe(SESSION_ONLY);
  });
});

describe("MCP resources: OAuth tokens for the resource are accepted there by default", () => {
  const resource = `${GATEWAY}/api/mcp/weather/mcp`;

  it("aud = the route's resource URL: accepted with ACCEPTS left at session", async () => {
    const { clock, call } = setup();
    const response = await call(await oauth(clock, { aud: resource }), "/api/mcp/weather/mcp", { method: "POST" });
    expect(response.status).toBe(404);
  });

  it("only there: the origin as aud, another server's resource, or a non-MCP route are refused", async () => {
    const { clock, call } = setup();
    await expect401(await call(await oauth(clock), "/api/mcp/weather/mcp", { method: "POST" }), "token-invalid-audience");
    await expect401(await call(await oauth(clock, { aud: `${GATEWAY}/api/mcp/other/mcp` }), "/api/mcp/weather/mcp", { method: "POST" }), "token-invalid-audience");
    await expect401(await call(await oauth(clock, { aud: resource }), "/api/agents"), "token-type-mismatch");
  });

  it("the challenge of a refused token on an MCP route names the resource's metadata", async () => {
    const { clock, call } = setup();
    const response = await call(await m2m(clock), "/api/mcp/weather/mcp", { method: "POST" });
    await expect401(response.clone(), "token-type-mismatch");
    expect(response.headers.get("www-authenticate")).toContain(`resource_metadata="${GATEWAY}/.well-known/oauth-protected-resource/api/mcp/weather/mcp"`);
  });

  it("a configured rule's classes on an MCP route: OAuth tokens with the origin as aud are accepted too", async () => {
    const { clock, call } = setup({ AUTH_RULES: JSON.stringify([{ resources: ["mcp"], accepts: ["oauth"] }]) });
    expect((await call(await oauth(clock), "/api/mcp/weather/mcp", { method: "POST" })).status).toBe(404);
    expect((await call(await oauth(clock, { aud: resource }), "/api/mcp/weather/mcp", { method: "POST" })).status).toBe(404);
    await expect401(await call(await mint(key, { now: clock.seconds, sub: "user_1" }), "/api/mcp/weather/mcp", { method: "POST" }), "token-type-mismatch");
  });
});

describe("opaque machine tokens through Clerk's Backend API", () => {
  const apiKey = { object: "api_key", id: "ak_id_1", type: "api_key", name: "ci", subject: "org_9", scopes: ["deploy"], claims: { team: "ops" }, revoked: false, expired: false, expiration: null };
  const m2mAnswer = { object: "machine_to_machine_token", id: "mt_id_1", subject: "mch_worker", scopes: ["mch_other"], claims: null, revoked: false, expired: false, expiration: null };
  const oauthAnswer = { object: "clerk_idp_oauth_access_token", id: "oat_id_1", client_id: "client_app", type: "oauth_token", subject: "user_1", scopes: ["read"], revoked: false, expired: false, expiration: null, aud: [GATEWAY] };

  it("asks exactly as @clerk/backend does: path, key, API version, JSON body", async () => {
    const { call, api } = setup({ ACCEPTS: "any", CLERK_SECRET_KEY: SECRET, CLERK_MACHINE_SECRET_KEY: "ak_machine_secret" });
    api.known.set("ak_live_1", apiKey).set("mt_live_1", m2mAnswer).set("oat_live_1", oauthAnswer);
    expect(await body(await call("ak_live_1"))).toMatchObject({ tokenType: "api_key", orgId: "org_9", userId: null, name: "ci", tokenId: "ak_id_1", scopes: ["deploy"] });
    expect(await body(await call("mt_live_1"))).toMatchObject({ tokenType: "m2m_token", machineId: "mch_worker" });
    expect(await body(await call("oat_live_1"))).toMatchObject({ tokenType: "oauth_token", userId: "user_1", clientId: "client_app" });
    expect(api.calls).toEqual([
      { path: "/api_keys/verify", authorization: `Bearer ${SECRET}`, version: "2026-05-12", contentType: "application/json", body: { secret: "ak_live_1" } },
      { path: "/m2m_tokens/verify", authorization: "Bearer ak_machine_secret", version: "2026-05-12", contentType: "application/json", body: { token: "mt_live_1" } },
      { path: "/oauth_applications/access_tokens/verify", authorization: `Bearer ${SECRET}`, version: "2026-05-12", contentType: "application/json", body: { access_token: "oat_live_1" } },
    ]);
  });

  it("cached for MACHINE_TOKEN_CACHE_TTL_S, both ways; then asked again (a revocation takes effect)", async () => {
    const { call, api, clock } = setup({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET, MACHINE_TOKEN_CACHE_TTL_S: "30" });
    api.known.set("ak_live_1", apiKey);
    expect((await call("ak_live_1")).status).toBe(200);
    expect((await call("ak_live_1")).status).toBe(200);
    await expect401(await call("ak_unknown"), "token-invalid");
    await expect401(await call("ak_unknown"), "token-invalid");
    expect(api.calls.length).toBe(2);
    api.known.delete("ak_live_1");
    clock.advance(31);
    await expect401(await call("ak_live_1"), "token-invalid");
    expect(api.calls.length).toBe(3);
  });

  it("a flood of random keys from one address: bounded Backend API calls, then 429 with Retry-After", async () => {
    const { call, api } = setup({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET, MACHINE_TOKEN_LOOKUPS_PER_MINUTE: "5" });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(`ak_random_${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    expect(api.calls.length).toBe(5);
    const limited = await call("ak_random_x");
    expect(await body(limited)).toMatchObject({ error: "too_many_requests", reason: "machine-token-lookups-exceeded" });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another address has its own bound.
    expect((await call("ak_random_y", "/auth/me", { headers: { "cf-connecting-ip": "198.51.100.1" } })).status).toBe(401);
  });

  it("an outage is 503 with Retry-After, never 401, and is not cached", async () => {
    const { call, api } = setup({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET });
    api.known.set("ak_live_1", apiKey);
    api.mode = "down";
    let response = await call("ak_live_1");
    expect(response.status).toBe(503);
    expect(await body(response)).toMatchObject({ error: "backend_api_unavailable", reason: "backend-api-unavailable" });
    expect(response.headers.get("retry-after")).toBe("5");
    api.mode = { status: 429, retryAfter: "17" };
    response = await call("ak_live_1");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("17");
    api.mode = { status: 502 };
    expect((await call("ak_live_1")).status).toBe(503);
    api.mode = "serve";
    expect((await call("ak_live_1")).status).toBe(200);
  });

  it("the Backend API refusing the key itself is 500 misconfigured naming it", async () => {
    const { call, api, logger } = setup({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET });
    api.mode = "refuse-key";
    await expectMisconfigured(await call("ak_live_1"), logger, "CLERK_SECRET_KEY", /refused the key/);
  });

  it("an opaque OAuth token must name this gateway too", async () => {
    const { call, api } = setup({ ACCEPTS: "oauth", CLERK_SECRET_KEY: SECRET });
    api.known.set("oat_other", { ...oauthAnswer, aud: ["https://other.example"] });
    await expect401(await call("oat_other"), "token-invalid-audience");
  });

  it("no token appears in any log line", async () => {
    const { call, api, logger } = setup({ ACCEPTS: "api_key", CLERK_SECRET_KEY: SECRET });
    api.known.set("ak_live_secret_value", apiKey);
    await call("ak_live_secret_value");
    await call("ak_other_secret_value");
    api.mode = "down";
    await call("ak_third_secret_value");
    expect(JSON.stringify(logger.lines)).not.toMatch(/secret_value|sk_test_machine/);
  });
});

describe("configuration", () => {
  it("an unknown class in ACCEPTS or a rule's accepts is misconfigured", async () => {
    const a = setup({ ACCEPTS: "session,robots" });
    await expectMisconfigured(await a.request("/auth/me"), a.logger, "ACCEPTS", /"robots" is not a token class/);
    const b = setup({ AUTH_RULES: JSON.stringify([{ path: "/x", accepts: ["sessions"] }]) });
    await expectMisconfigured(await b.request("/auth/me"), b.logger, "AUTH_RULES", /rule #0: accepts: "sessions" is not a token class/);
  });

  it("accepting api_key without CLERK_SECRET_KEY is misconfigured", async () => {
    const a = setup({ ACCEPTS: "api_key" });
    await expectMisconfigured(await a.request("/auth/me"), a.logger, "CLERK_SECRET_KEY", /accepts api_key/);
    const b = setup({ AUTH_RULES: JSON.stringify([{ path: "/x", accepts: ["any"] }]) });
    await expectMisconfigured(await b.request("/auth/me"), b.logger, "CLERK_SECRET_KEY", /AUTH_RULES accepts api_key/);
  });
});

describe("the machine's identity travels as its own", () => {
  function withUpstream(extra: GatewayEnv = {}) {
    const seen: Record<string, string>[] = [];
    const fetcher = { fetch: async (input: RequestInfo, init?: RequestInit) => (seen.push(Object.fromEntries(new Request(input, init).headers)), Response.json({ ok: true })) } as unknown as Fetcher;
    return { seen, ...setup({ MASTRA: fetcher, ...extra }) };
  }

  it("identity headers: token type, machine id, scopes; client-supplied ones stripped", async () => {
    const { clock, call, seen } = withUpstream({ ACCEPTS: "session,m2m" });
    const spoofed = { "x-clerk-machine-id": "mch_admin", "x-clerk-token-type": "session_token", "x-clerk-user-id": "user_admin", "x_clerk_scopes": "all" };
    expect((await call(await m2m(clock, { jti: "mt_9" }), "/api/agents", { headers: spoofed })).status).toBe(200);
    const h = seen.at(-1)!;
    expect(h["x-clerk-token-type"]).toBe("m2m_token");
    expect(h["x-clerk-machine-id"]).toBe("mch_worker");
    expect(h["x-clerk-subject"]).toBe("mch_worker");
    expect(h["x-clerk-token-id"]).toBe("mt_9");
    expect(h["x-clerk-scopes"]).toBe("mch_other");
    expect(h["x-clerk-user-id"]).toBeUndefined();
    expect(h["x_clerk_scopes"]).toBeUndefined();
    expect((await call(await mint(key, { now: clock.seconds, sub: "user_1" }), "/api/agents", { headers: spoofed })).status).toBe(200);
    expect(seen.at(-1)!["x-clerk-token-type"]).toBe("session_token");
    expect(seen.at(-1)!["x-clerk-machine-id"]).toBeUndefined();
  });

  it("the assertion carries the machine, and MastraAuthGateway rebuilds the same identity; its accepts option narrows", async () => {
    const secret = "s".repeat(40);
    const { clock, call, seen } = withUpstream({ ACCEPTS: "oauth", GATEWAY_ASSERTION_SECRET: secret, GATEWAY_ASSERTION_AUDIENCE: "https://mastra.internal" });
    expect((await call(await oauth(clock), "/api/agents")).status).toBe(200);
    const assertion = seen.at(-1)![ASSERTION_HEADER]!;
    const claims = await verifyAssertion(assertion, [new AssertionKey(secret)], { audience: "https://mastra.internal", request: { method: "GET", url: "https://mastra.internal/api/agents" } });
    const identity = identityFromAssertion(claims);
    expect(identity).toMatchObject({ tokenType: "oauth_token", userId: "user_1", clientId: "client_app", scopes: ["read", "write"], machineId: null });

    const upstreamRequest = (a: string) => new Request("https://mastra.internal/api/agents", { headers: { [ASSERTION_HEADER]: a } });
    const provider = (accepts?: string[]) => new MastraAuthGateway({ secret, audience: "https://mastra.internal", now: clock.now, ...(accepts ? { accepts } : {}) });
    const fresh = () => mintAssertion(new AssertionKey(secret), identity, "https://mastra.internal", { method: "GET", url: "https://mastra.internal/api/agents" }, { now: clock.ms });
    const user = await provider().authenticateToken("", upstreamRequest(await fresh()) as never);
    expect(user?.identity).toMatchObject({ tokenType: "oauth_token", userId: "user_1", clientId: "client_app" });
    expect(await provider(["session"]).authenticateToken("", upstreamRequest(await fresh()) as never)).toBeNull();
  });

  it("a provider's rules honour a rule's accepts: a machine the gateway vouched for is refused on a session-only rule", async () => {
    const secret = "s".repeat(40);
    const clock = new Clock();
    const rules = [{ path: "/api/agents", accepts: ["session"] }, { path: "/api/tools", accepts: ["m2m"] }];
    const provider = new MastraAuthGateway({ secret, audience: "https://mastra.internal", now: clock.now, rules });
    const robot = machineIdentity({ tokenType: "m2m_token", subject: "mch_robot", tokenId: "mt_1", scopes: [], claims: { sub: "mch_robot" } });
    const call = async (path: string) => {
      const url = `https://mastra.internal${path}`;
      const request = new Request(url, { headers: { [ASSERTION_HEADER]: await mintAssertion(new AssertionKey(secret), robot, "https://mastra.internal", { method: "GET", url }, { now: clock.ms }) } });
      const user = await provider.authenticateToken("", request as never);
      expect(user?.identity.machineId).toBe("mch_robot");
      return provider.authorizeUser(user!, request as never);
    };
    expect(await call("/api/agents")).toBe(false);
    expect(await call("/api/tools")).toBe(true);
  });

  it("the spend guard keys a machine by its own id", () => {
    const headers = new Headers();
    const machine = { tokenType: "m2m_token", userId: null, machineId: "mch_1", subject: "mch_1", orgId: null, sessionId: null } as never;
    expect(budgetKey("user", machine, headers)).toBe("machine:mch_1");
    const orgKey = { tokenType: "api_key", userId: null, machineId: null, subject: "org_9", orgId: "org_9", sessionId: null } as never;
    expect(budgetKey("user", orgKey, headers)).toBe("subject:org_9");
    expect(budgetKey("org", orgKey, headers)).toBe("org:org_9");
  });
});

describe("the library faces take the same accepts option", () => {
  it("clerkAuth({ accepts }): machines where configured, sessions only by default", async () => {
    const clock = new Clock();
    const origin = new FakeOrigin(key);
    const app = (options: Record<string, unknown>) => {
      const a = new Hono<AuthEnv>();
      a.use("*", clerkAuth({ jwksUri: `${ISSUER}/.well-known/jwks.json?lib=${crypto.randomUUID()}`, issuer: ISSUER, fetch: origin.fetch, now: clock.now, ...options }));
      a.get("*", (c) => c.json(getAuth(c)));
      return a;
    };
    const token = await m2m(clock);
    const refused = await app({}).request("https://app.test/x", { headers: { authorization: `Bearer ${token}` } });
    await expect401(refused, "token-type-mismatch");
    const accepted = await app({ accepts: ["m2m"] }).request("https://app.test/x", { headers: { authorization: `Bearer ${token}` } });
    expect(await accepted.json()).toMatchObject({ tokenType: "m2m_token", machineId: "mch_worker" });
    const oauthApp = app({ accepts: ["oauth"] });
    expect((await oauthApp.request("https://gateway.test/x", { headers: { authorization: `Bearer ${await oauth(clock)}` } })).status).toBe(200);
    await expect401(await oauthApp.request("https://other.test/x", { headers: { authorization: `Bearer ${await oauth(clock)}` } }), "token-invalid-audience");
  });

  it("MastraAuthClerk({ accepts }): the Mastra user of an API key, verified through the Backend API", async () => {
    const clock = new Clock();
    const api = new FakeBackendApi();
    api.known.set("ak_lib", { id: "ak_id", subject: "user_7", scopes: ["read"], claims: null, name: "laptop", revoked: false, expired: false, expiration: null });
    const origin = new FakeOrigin(key);
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      return request.url.startsWith(API) ? api.fetch(request) : origin.fetch(request);
    };
    const options = { jwksUri: `${ISSUER}/.well-known/jwks.json?lib=${crypto.randomUUID()}`, issuer: ISSUER, apiUrl: API, secretKey: SECRET, fetch, now: clock.now };
    const request = new Request("https://mastra.test/api/agents", { headers: { authorization: "Bearer ak_lib" } });
    expect(await new MastraAuthClerk(options).authenticateToken("Bearer ak_lib", request as never)).toBeNull();
    const user = await new MastraAuthClerk({ ...options, accepts: ["session", "api_key"] }).authenticateToken("Bearer ak_lib", request as never);
    expect(user?.identity).toMatchObject({ tokenType: "api_key", userId: "user_7", name: "laptop", scopes: ["read"] });
    expect(user?.sub).toBe("user_7");
  });

  it("MastraAuthClerk: Clerk's Backend API down is 'cannot decide now' — authenticateToken throws it (logged), getCurrentUser answers null, never a 500", async () => {
    const api = new FakeBackendApi();
    api.mode = "down";
    const lines: { level: string; event: string }[] = [];
    const auth = new MastraAuthClerk({
      jwksUri: `${ISSUER}/.well-known/jwks.json?lib=${crypto.randomUUID()}`,
      issuer: ISSUER,
      apiUrl: API,
      secretKey: SECRET,
      accepts: ["session", "api_key"],
      fetch: async (input, init) => api.fetch(new Request(input as RequestInfo, init)),
      logger: { log: (level, event) => void lines.push({ level, event }) },
    });
    const request = new Request("https://mastra.test/api/auth/me", { headers: { authorization: "Bearer ak_down" } });
    await expect(auth.authenticateToken("Bearer ak_down", request as never)).rejects.toMatchObject({ name: "BackendApiUnavailableError", status: 503 });
    expect(lines).toContainEqual({ level: "error", event: "auth.backend_api_unavailable" });
    expect(await auth.getCurrentUser(request as never)).toBeNull();
  });
});
