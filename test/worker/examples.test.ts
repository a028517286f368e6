// examples/hono-worker run inside workerd: its own Hono routes behind clerkAuth, with the real
// KV binding. Only Clerk's JWKS endpoint (the outside world) is stood in for.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker, { createApp, type Env } from "../../examples/hono-worker/src/index.js";
import { ConfigError } from "../../src/core/errors.js";
import { body, countingKv, FakeOrigin, ISSUER, mint, newKey, type SigningKey } from "./helpers.js";

let key: SigningKey;
let origin: FakeOrigin;
beforeAll(async () => {
  key = await newKey();
});
beforeEach(() => {
  origin = new FakeOrigin(key);
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => origin.fetch(input, init));
});
afterEach(() => {
  vi.restoreAllMocks();
});

function exampleEnv(kv: KVNamespace = workerEnv.JWKS_CACHE as KVNamespace): Env {
  // A URL per test: the KV entry is keyed by it, so tests do not share a warm cache.
  return { JWKS_CACHE: kv, CLERK_ISSUER: ISSUER, CLERK_JWKS_URI: `${ISSUER}/.well-known/jwks.json?example=${crypto.randomUUID()}` };
}

async function call(env: Env, path: string, init: RequestInit & { token?: string } = {}) {
  const { token, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  const ctx = createExecutionContext();
  const request = new Request(`https://example.test${path}`, { ...rest, headers }) as Request<unknown, IncomingRequestCfProperties>;
  const response = await worker.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const ADMIN = { sub: "user_admin", org: { id: "org_acme", role: "admin", permissions: ["org:agents:run"] }, email: "a@example.test", emailVerified: true };
const MEMBER = { sub: "user_member", org: { id: "org_acme", role: "member" } };

describe("examples/hono-worker", () => {
  it("serves its public route without touching the JWKS", async () => {
    const env = exampleEnv();
    const response = await call(env, "/");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "world" });
    expect(origin.count).toBe(0);
  });

  it("answers 401 itself: no token on a route that needs one, or a bad token anywhere", async () => {
    const env = exampleEnv();
    const missing = await call(env, "/api/me");
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="mastra"');
    expect(await body(missing)).toMatchObject({ error: "unauthorized", reason: "session-token-missing" });

    const other = await newKey("other-kid");
    const forged = await call(env, "/feed", { token: await mint(other, { sub: "user_x" }) });
    expect(forged.status).toBe(401);
    expect(await body(forged)).toMatchObject({ reason: "jwk-kid-mismatch" });

    const expired = await call(env, "/api/me", { token: await mint(key, { now: Math.floor(Date.now() / 1000) - 3600 }) });
    expect(expired.status).toBe(401);
    expect(await body(expired)).toMatchObject({ reason: "token-expired" });
  });

  it("lets anonymous requests through where allowed, and personalises with a token", async () => {
    const env = exampleEnv();
    expect(await (await call(env, "/feed")).json()).toEqual({ feed: "for everyone" });
    expect(await (await call(env, "/feed", { token: await mint(key, MEMBER) })).json()).toEqual({ feed: "for user_member" });
  });

  it("c.var.auth is the normalised identity", async () => {
    const env = exampleEnv();
    const response = await call(env, "/api/me", { token: await mint(key, { ...ADMIN, sid: "sess_1" }) });
    expect(response.status).toBe(200);
    expect(await body(response)).toMatchObject({
      userId: "user_admin",
      sessionId: "sess_1",
      orgId: "org_acme",
      orgRole: "org:admin",
      orgPermissions: ["org:agents:run"],
      claims: { sub: "user_admin", email: "a@example.test", email_verified: true },
    });
  });

  it("guards: org role, permission and a rule, each 403 with the reason", async () => {
    const env = exampleEnv();
    const admin = await mint(key, ADMIN);
    const member = await mint(key, MEMBER);

    const denied = await call(env, "/api/admin", { token: member });
    expect(denied.status).toBe(403);
    expect(await body(denied)).toEqual({ error: "forbidden", reason: "org-role-not-allowed", rule: null });
    expect(await (await call(env, "/api/admin", { token: admin })).json()).toEqual({ admin: "org_acme" });

    const noPermission = await call(env, "/api/agents/run", { method: "POST", token: member });
    expect(noPermission.status).toBe(403);
    expect(await body(noPermission)).toMatchObject({ reason: "org-permission-missing" });
    const run = await call(env, "/api/agents/run", { method: "POST", token: admin });
    expect(await run.json()).toEqual({ started: true, by: "user_admin" });

    const unverified = await call(env, "/api/reports", { token: member });
    expect(unverified.status).toBe(403);
    expect(await body(unverified)).toEqual({ error: "forbidden", reason: "email-not-verified", rule: "verified-email" });
    expect((await call(env, "/api/reports", { token: admin })).status).toBe(200);
  });

  it("caches the JWKS in memory and in KV: a new isolate with a warm KV makes no origin fetch", async () => {
    const { kv, counts } = countingKv();
    const env = exampleEnv(kv);
    const token = await mint(key, MEMBER);
    for (let i = 0; i < 5; i++) expect((await call(env, "/api/me", { token })).status).toBe(200);
    expect(origin.count).toBe(1);
    expect(counts.writes).toBe(1);

    // A fresh env object is what a new isolate sees: the app and its memory cache are rebuilt.
    const cold = { ...env };
    expect((await call(cold, "/api/me", { token: await mint(key, ADMIN) })).status).toBe(200);
    expect(origin.count).toBe(1);
    expect(counts.reads).toBeGreaterThanOrEqual(2);
  });

  it("a Worker with no key source fails at construction, naming what to set", () => {
    expect(() => createApp({ JWKS_CACHE: workerEnv.JWKS_CACHE as KVNamespace })).toThrow(ConfigError);
    expect(() => createApp({})).toThrow(/^CLERK_PUBLISHABLE_KEY: no key source/);
  });
});
