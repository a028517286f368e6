// The library's Mastra providers inside a REAL Mastra server (@mastra/core + @mastra/hono on
// @hono/node-server): Mastra's own auth middleware decides 401/403/200 from what the providers
// return. Then the gateway (bundled by wrangler, in workerd) in front of a Mastra server that
// trusts only the gateway's assertion. Everything runs on 127.0.0.1.

process.env.MASTRA_TELEMETRY_DISABLED = "1";

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { MastraClient } from "@mastra/client-js";
import { ConsoleLogger } from "@mastra/core/logger";
import { Mastra } from "@mastra/core/mastra";
import { registerApiRoute } from "@mastra/core/server";
import { InMemoryStore } from "@mastra/core/storage";
import { MastraServer } from "@mastra/hono";
import { Hono } from "hono";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../scripts/dev-issuer.mjs";
import { bundleWorker } from "../../scripts/lib/bundle.mjs";
import { ASSERTION_HEADER, MastraAuthClerk, MastraAuthGateway, type ClerkUser, type GatewayUser } from "../../src/lib.js";

const SECRET = "node-test-assertion-secret-0123456789abcdef";

type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;
type Auth = ConstructorParameters<typeof Mastra>[0] extends infer C ? (C extends { server?: { auth?: infer A } } ? A : never) : never;

const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

let issuer: Issuer;
beforeAll(async () => {
  const keyDir = await mkdtemp(join(tmpdir(), "mea-mastra-auth-key-"));
  cleanup.push(() => rm(keyDir, { recursive: true, force: true }));
  issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "key.json") });
  cleanup.push(() => issuer.close());
});

/**
 * A real Mastra server with `auth`, plus one custom (protected) route that shows what Mastra
 * itself holds for the request: the user it stored and the memory resource id it derived.
 */
async function startMastra(auth: Auth) {
  const mastra = new Mastra({
    storage: new InMemoryStore(),
    logger: new ConsoleLogger({ name: "mastra-auth-test", level: "error" }),
    server: {
      auth,
      apiRoutes: [
        registerApiRoute("/whoami", {
          method: "GET",
          handler: async (c) => {
            const context = c.get("requestContext");
            const user = context.get("user") as { sub?: string; identity?: unknown } | undefined;
            return c.json({ sub: user?.sub ?? null, identity: user?.identity ?? null, resourceId: context.get("mastra__resourceId") ?? null });
          },
        }),
      ],
    },
  });
  const app = new Hono();
  await new MastraServer({ app, mastra }).init();
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as unknown as { closeAllConnections(): void }).closeAllConnections();
    });
  cleanup.push(close);
  return { url: `http://127.0.0.1:${port}` };
}

async function get(url: string, token?: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}`, ...headers } : headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("MastraAuthClerk in a real Mastra server", () => {
  let mastraUrl: string;
  const authorised: ClerkUser[] = [];

  beforeAll(async () => {
    const auth = new MastraAuthClerk({
      jwksUri: issuer.jwksUrl,
      issuer: issuer.issuer,
      // The seed's custom authorisation, plus an org role through the normalised identity.
      authorizeUser: async (user) => {
        authorised.push(user);
        return user.sub.startsWith("user_") && user.email_verified === true && user.identity.orgRole !== "org:guest";
      },
    });
    ({ url: mastraUrl } = await startMastra(auth));
  });

  it("401 {error: Invalid or expired token} for no, bad, expired or foreign tokens — from Mastra itself", async () => {
    const expired = await issuer.mint({ sub: "user_1", emailVerified: true, now: Math.floor(Date.now() / 1000) - 3600 });
    const foreign = await issuer.mint({ sub: "user_1", emailVerified: true, issuer: "https://evil.example" });
    for (const token of [undefined, "garbage", expired, foreign]) {
      expect(await get(`${mastraUrl}/api/agents`, token)).toEqual({ status: 401, body: { error: "Invalid or expired token" } });
    }
    expect(authorised).toHaveLength(0);
  });

  it("403 {error: Access denied} when authorizeUser says no", async () => {
    const unverified = await issuer.mint({ sub: "user_2" });
    expect(await get(`${mastraUrl}/api/agents`, unverified)).toEqual({ status: 403, body: { error: "Access denied" } });
    const guest = await issuer.mint({ sub: "user_3", emailVerified: true, org: { id: "org_1", role: "guest" } });
    expect(await get(`${mastraUrl}/api/agents`, guest)).toEqual({ status: 403, body: { error: "Access denied" } });
  });

  it("200 for an authorised user; Mastra holds the user and scopes memory by sub", async () => {
    const token = await issuer.mint({ sub: "user_ok", emailVerified: true, email: "ok@example.test", org: { id: "org_1", role: "admin" } });
    const agents = await get(`${mastraUrl}/api/agents`, token);
    expect(agents.status).toBe(200);
    const whoami = await get(`${mastraUrl}/whoami`, token);
    expect(whoami).toEqual({ status: 200, body: { sub: "user_ok", resourceId: "user_ok", identity: expect.objectContaining({ userId: "user_ok", orgId: "org_1", orgRole: "org:admin" }) } });
    expect(authorised.at(-1)).toMatchObject({ sub: "user_ok", email: "ok@example.test", email_verified: true });
  });

  it("the __session cookie works too, and MastraClient sees the same answers", async () => {
    const token = await issuer.mint({ sub: "user_cookie", emailVerified: true });
    expect((await get(`${mastraUrl}/whoami`, undefined, { cookie: `__client_uat=1; __session=${token}` })).body).toMatchObject({ sub: "user_cookie" });
    const client = new MastraClient({ baseUrl: mastraUrl, headers: { authorization: `Bearer ${token}` }, retries: 0 });
    expect(await client.listAgents()).toEqual({});
    const anonymous = new MastraClient({ baseUrl: mastraUrl, retries: 0 });
    await expect(anonymous.listAgents()).rejects.toThrow(/401/);
  });
});

async function bundleGateway() {
  const bundle = await bundleWorker();
  cleanup.push(bundle.dispose);
  return { dir: bundle.outdir!, scriptPath: bundle.scriptPath! };
}

describe("MastraAuthGateway: an upstream that trusts only the gateway", () => {
  let mastraUrl: string;
  let gatewayUrl: string;
  const authorised: GatewayUser[] = [];

  beforeAll(async () => {
    const auth = new MastraAuthGateway({
      secret: SECRET,
      // The origin this upstream knows itself by; the gateway is told the same (its MASTRA_URL is a loopback port).
      audience: "https://mastra.test",
      authorizeUser: (user) => {
        authorised.push(user);
        return true;
      },
    });
    ({ url: mastraUrl } = await startMastra(auth));
    const { dir, scriptPath } = await bundleGateway();
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      modules: true,
      scriptPath,
      modulesRoot: dir,
      compatibilityDate: "2026-05-01",
      compatibilityFlags: ["enable_request_signal"],
      kvNamespaces: ["JWKS_CACHE"],
      bindings: {
        CLERK_ISSUER: issuer.issuer,
        CLERK_JWKS_URI: issuer.jwksUrl,
        MASTRA_URL: mastraUrl,
        GATEWAY_ASSERTION_SECRET: SECRET,
        GATEWAY_ASSERTION_AUDIENCE: "https://mastra.test",
        PUBLIC_PATHS: "/api,/api/auth/*",
        LOG_LEVEL: "error",
      },
    });
    cleanup.push(() => mf.dispose());
    gatewayUrl = (await mf.ready).origin;
  }, 120_000);

  it("a direct call is 401, even with a valid Clerk token or a made-up assertion", async () => {
    const token = await issuer.mint({ sub: "user_direct" });
    expect(await get(`${mastraUrl}/api/agents`, token)).toEqual({ status: 401, body: { error: "Invalid or expired token" } });
    expect(await get(`${mastraUrl}/whoami`, token, { [ASSERTION_HEADER]: token })).toEqual({ status: 401, body: { error: "Invalid or expired token" } });
    expect(authorised).toHaveLength(0);
  });

  it("through the gateway: 200, and Mastra knows the user the gateway verified", async () => {
    const token = await issuer.mint({ sub: "user_gw", sid: "sess_gw", org: { id: "org_gw", slug: "gw", role: "admin", permissions: ["org:agents:run"] } });
    expect((await get(`${gatewayUrl}/api/agents`, token)).status).toBe(200);
    const whoami = await get(`${gatewayUrl}/whoami`, token);
    expect(whoami).toEqual({
      status: 200,
      body: {
        sub: "user_gw",
        resourceId: "user_gw",
        identity: expect.objectContaining({ userId: "user_gw", sessionId: "sess_gw", orgId: "org_gw", orgRole: "org:admin", orgPermissions: ["org:agents:run"] }),
      },
    });
    expect(authorised.map((u) => u.sub)).toEqual(["user_gw", "user_gw"]);
    // The gateway still rejects bad tokens itself; the upstream never sees them.
    expect((await get(`${gatewayUrl}/whoami`, "garbage")).status).toBe(401);
    expect(authorised).toHaveLength(2);
  });

  it("with MastraClient through the gateway", async () => {
    const token = await issuer.mint({ sub: "user_client" });
    const client = new MastraClient({ baseUrl: gatewayUrl, headers: { authorization: `Bearer ${token}` }, retries: 0 });
    expect(await client.listAgents()).toEqual({});
    expect(authorised.at(-1)?.sub).toBe("user_client");
  });
});
