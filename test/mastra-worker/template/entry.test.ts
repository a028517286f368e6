// createMastraWorker's own behaviour, with the template's real Mastra app: each test makes its
// own Worker (a new isolate, as far as the entry can tell) and calls its fetch in this test's
// request context, so a test can hold the mock model mid-stream and wait on the Worker's
// background work (waitOnExecutionContext).

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { mastraWorker } from "../../../examples/mastra-worker/src/index.js";
import { buildMastra, type Env } from "../../../examples/mastra-worker/src/mastra.js";
import { describeWeather, lookupWeather } from "../../../examples/mastra-worker/src/model.js";
import { createLibraryVerifier } from "../../../src/lib.js";
import { createMastraWorker, type MastraWorker } from "../../../src/mastra-worker.js";
import { bearer, jwksFetches, post, sseRecords, testEnv, tokenFor } from "../helpers.js";

const BASE = "https://mastra-worker.test";
const env = testEnv as unknown as Env & typeof testEnv;

async function call(worker: MastraWorker<Env>, path: string, init: RequestInit = {}, withEnv: object = env) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`, init), withEnv as Env, ctx);
  return { response, ctx };
}

/** Lets a test hold the mock model after its first text delta, and know when it got there. */
function createGate() {
  let release!: () => void;
  let parked!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reached = new Promise<void>((resolve) => (parked = resolve));
  return {
    release,
    reached,
    betweenDeltas: async () => {
      parked();
      await released;
    },
  };
}

describe("createMastraWorker", () => {
  it("streams incrementally: the first text delta reaches the client while the model is still generating", async () => {
    const gate = createGate();
    const worker = mastraWorker({ model: { betweenDeltas: gate.betweenDeltas } });
    const { response, ctx } = await call(worker, "/api/agents/weatherAgent/stream", post({ messages: "What is the weather in Madrid?", memory: { thread: "incremental" } }, bearer(await tokenFor("user_incremental"))));
    expect(response.status).toBe(200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!sseRecords(seen).some((r) => (r as { type: string }).type === "text-delta")) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      seen += value;
    }
    await gate.reached;
    // The model is parked after its first delta: nothing after it can have been produced yet.
    expect(sseRecords(seen).map((r) => (r as { type: string }).type)).not.toContain("finish");
    expect(seen).not.toContain("[DONE]");
    gate.release();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) seen += chunk.value;
    const text = sseRecords(seen)
      .filter((r) => (r as { type: string }).type === "text-delta")
      .map((r) => (r as { payload: { text: string } }).payload.text)
      .join("");
    expect(text).toBe(describeWeather(lookupWeather("Madrid")));
    await waitOnExecutionContext(ctx);
  });

  it("answers 403 when authorizeUser says no, 200 when it says yes", async () => {
    const worker = mastraWorker({}, { clerk: { authorizeUser: (user) => user.identity.orgRole === "org:admin" } });
    const member = await tokenFor("user_member", { org: { id: "org_acme", role: "member" } });
    const admin = await tokenFor("user_admin", { org: { id: "org_acme", role: "admin" } });
    const denied = await call(worker, "/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Paris?", memory: { thread: "member" } }, bearer(member)));
    expect(denied.response.status).toBe(403);
    expect(await denied.response.json()).toEqual({ error: "Access denied" });
    const allowed = await call(worker, "/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Paris?", memory: { thread: "admin" } }, bearer(admin)));
    expect(allowed.response.status).toBe(200);
    expect(((await allowed.response.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Paris")));
  });

  it("enforces AUTH_RULES of the Worker's env in-process, answered with the gateway's 403 (mastraRulesMiddleware installed with the provider)", async () => {
    const worker = mastraWorker();
    const rules = { ...env, AUTH_RULES: JSON.stringify([{ id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } }]) };
    const member = await tokenFor("user_rules_member", { org: { id: "org_acme", role: "member" } });
    const admin = await tokenFor("user_rules_admin", { org: { id: "org_acme", role: "admin" } });
    for (const path of ["/api/agents/weatherAgent/generate", "/api/agents/weather-agent/stream"]) {
      const denied = await call(worker, path, post({ messages: "What is the weather in Rome?", memory: { thread: "rules-member" } }, bearer(member)), rules);
      expect([path, denied.response.status, await denied.response.json()]).toEqual([path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" }]);
    }
    const allowed = await call(worker, "/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Rome?", memory: { thread: "rules-admin" } }, bearer(admin)), rules);
    expect(allowed.response.status).toBe(200);
    expect(((await allowed.response.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Rome")));
  });

  it("does not cache a failed build: 503, then the next request builds again", async () => {
    let attempts = 0;
    const worker = createMastraWorker<Env>({
      mastra: (e) => {
        attempts++;
        if (attempts === 1) throw new Error("storage not reachable yet");
        return buildMastra(e);
      },
    });
    const token = bearer(await tokenFor("user_retry"));
    const first = await call(worker, "/api/agents/weatherAgent", { headers: token });
    expect(first.response.status).toBe(503);
    expect(first.response.headers.get("retry-after")).toBe("1");
    expect(await first.response.json()).toMatchObject({ error: "mastra_unavailable" });
    const second = await call(worker, "/api/agents/weatherAgent", { headers: token });
    expect(second.response.status).toBe(200);
    await call(worker, "/api/agents/weatherAgent", { headers: token });
    expect(attempts).toBe(2);
    expect(worker.builds).toBe(2);
    const health = await call(worker, "/healthz");
    expect(await health.response.json()).toEqual({ status: "ok", mastraBuilds: 2 });
  });

  it("answers 500 misconfigured, naming the setting, before building Mastra", async () => {
    let attempts = 0;
    const worker = createMastraWorker<Env>({ mastra: (e) => (attempts++, buildMastra(e)) });
    const bad = await call(worker, "/api/agents", {}, { ...env, MASTRA_AUTH: "clerkk" });
    expect(bad.response.status).toBe(500);
    expect(await bad.response.json()).toMatchObject({ error: "misconfigured", message: expect.stringContaining("MASTRA_AUTH") });
    expect(attempts).toBe(0);
    // No Clerk key source at all: MastraAuthClerk's own ConfigError, also a 500 naming what to set.
    const { CLERK_JWKS_URI: _uri, CLERK_ISSUER: _issuer, ...noClerk } = env;
    const missing = await call(worker, "/api/agents", {}, noClerk);
    expect(missing.response.status).toBe(500);
    expect(await missing.response.json()).toMatchObject({ error: "misconfigured", message: expect.stringMatching(/CLERK_/) });
  });

  it("refuses an auth mode that would replace the Mastra instance's own server.auth", async () => {
    const worker = createMastraWorker<Env>({
      auth: "clerk",
      mastra: (e) => {
        const mastra = buildMastra(e);
        mastra.setServer({ ...mastra.getServer(), auth: { authenticateToken: async () => null, authorizeUser: () => false } as never });
        return mastra;
      },
    });
    const { response } = await call(worker, "/api/agents");
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: "misconfigured", message: expect.stringContaining("server.auth") });
  });

  it("shares the gateway's key store: JWKS another isolate put in JWKS_CACHE is used without a fetch", async () => {
    // A JWKS URL of its own, so this test starts from an empty cache (the stand-in ignores the query).
    const jwksEnv = { ...env, CLERK_JWKS_URI: `${env.CLERK_JWKS_URI}?t=${crypto.randomUUID()}` };
    const token = await tokenFor("user_kv");
    // Another isolate (here the library verifier, as the gateway runs it) loads the keys: one
    // fetch, written to KV in the background.
    const before = await jwksFetches();
    const ctx = createExecutionContext();
    await createLibraryVerifier({ env: jwksEnv }).verify(token, { waitUntil: (p) => ctx.waitUntil(p) });
    await waitOnExecutionContext(ctx);
    expect((await jwksFetches()) - before).toBe(1);
    // A Mastra Worker on a new isolate verifies from KV, without going to Clerk.
    const worker = mastraWorker();
    const { response } = await call(worker, "/api/agents/weatherAgent", { headers: bearer(token) }, jwksEnv);
    expect(response.status).toBe(200);
    expect((await jwksFetches()) - before).toBe(1);
  });
});
