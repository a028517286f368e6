// The library faces inside workerd: clerkAuth built from options, MastraAuthClerk's provider
// contract, and where their settings come from (code, a Worker env, process.env, or nowhere).
import { env as workerEnv } from "cloudflare:workers";
import { Hono } from "hono";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import { jwksCacheKey } from "../../src/keys/remote-store.js";
import { clerkAuth, getAuth, MastraAuthClerk, MastraAuthGateway, requireOrgRole, type AuthEnv, type ClerkUser } from "../../src/lib.js";
import { body, FakeOrigin, ISSUER, JWKS_URL, MemoryLogger, mint, newKey, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const uniqueUrl = () => `${JWKS_URL}?lib=${crypto.randomUUID()}`;

function appWith(options: Parameters<typeof clerkAuth>[0]) {
  const app = new Hono<AuthEnv>();
  app.use("*", clerkAuth(options));
  app.get("/me", (c) => c.json(getAuth(c)));
  app.get("/admin", requireOrgRole("admin"), (c) => c.json({ ok: true }));
  return app;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("clerkAuth(options)", () => {
  it("verifies with options given in code and sets c.var.auth", async () => {
    const origin = new FakeOrigin(key);
    const app = appWith({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch });
    const response = await app.request("/me", bearer(await mint(key, { sub: "user_1", org: { id: "org_1", role: "admin" } })));
    expect(response.status).toBe(200);
    expect(await body(response)).toMatchObject({ userId: "user_1", orgId: "org_1", orgRole: "org:admin" });
    expect((await app.request("/me")).status).toBe(401);
    expect(origin.count).toBe(1);
  });

  it("takes each missing option from env's CLERK_* variables, and env.JWKS_CACHE as the KV cache", async () => {
    const origin = new FakeOrigin(key);
    const url = uniqueUrl();
    const env = { CLERK_JWKS_URI: url, CLERK_ISSUER: ISSUER, CLERK_AUTHORIZED_PARTIES: "https://app.example", JWKS_CACHE: workerEnv.JWKS_CACHE };
    const app = appWith({ env, fetch: origin.fetch });
    const token = await mint(key, { azp: "https://app.example" });
    expect((await app.request("/me", bearer(token))).status).toBe(200);
    // The authorized parties came from env: another azp is refused.
    const other = await app.request("/me", bearer(await mint(key, { azp: "https://evil.example" })));
    expect(await body(other)).toMatchObject({ reason: "token-invalid-authorized-parties" });
    // ...and the JWKS was written to the env's KV namespace.
    expect(await workerEnv.JWKS_CACHE.get(await jwksCacheKey(ISSUER, url), "json")).toMatchObject({ v: 1, jwks: { keys: [{ kid: key.kid }] } });
  });

  it("an option given in code wins over env", async () => {
    const origin = new FakeOrigin(key);
    const app = appWith({ env: { CLERK_JWKS_URI: uniqueUrl(), CLERK_ISSUER: "https://other.example" }, issuer: ISSUER, fetch: origin.fetch });
    expect((await app.request("/me", bearer(await mint(key)))).status).toBe(200);
  });

  it("validates options when called: ConfigError naming the setting, before any request", () => {
    expect(() => clerkAuth({ jwksUri: "http://clerk.example.com/jwks", issuer: ISSUER })).toThrow(ConfigError);
    expect(() => clerkAuth({ jwksUri: "http://clerk.example.com/jwks", issuer: ISSUER })).toThrow(/^CLERK_JWKS_URI: must use https/);
    expect(() => clerkAuth({ env: { CLERK_CLOCK_SKEW_MS: "soon" }, jwksUri: JWKS_URL, issuer: ISSUER })).toThrow(/^CLERK_CLOCK_SKEW_MS:/);
    expect(() => clerkAuth({ env: {} })).toThrow(/^CLERK_PUBLISHABLE_KEY: no key source/);
  });

  it("without env, reads process.env where the runtime has one, and never needs it", async () => {
    const origin = new FakeOrigin(key);
    vi.stubGlobal("process", { env: { CLERK_JWKS_URI: uniqueUrl(), CLERK_ISSUER: ISSUER } });
    const fromProcess = appWith({ fetch: origin.fetch });
    expect((await fromProcess.request("/me", bearer(await mint(key)))).status).toBe(200);

    // workerd without nodejs_compat has no `process` at all.
    vi.stubGlobal("process", undefined);
    expect(() => clerkAuth()).toThrow(/^CLERK_PUBLISHABLE_KEY: no key source/);
    const explicit = appWith({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch });
    expect((await explicit.request("/me", bearer(await mint(key)))).status).toBe(200);
  });

  it("allowAnonymous: no token passes with auth null, a bad token is still 401, guards still apply", async () => {
    const origin = new FakeOrigin(key);
    const app = appWith({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch, allowAnonymous: true });
    const anonymous = await app.request("/me");
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toBeNull();
    expect((await app.request("/me", bearer("not.a.token"))).status).toBe(401);
    expect(await body(await app.request("/admin"))).toMatchObject({ error: "unauthorized", reason: "session-token-missing" });
  });

  it("logs rejections to the logger it is given, never the token", async () => {
    const origin = new FakeOrigin(key);
    const logger = new MemoryLogger();
    const app = appWith({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch, logger });
    const token = await mint(key, { now: Math.floor(Date.now() / 1000) - 3600 });
    expect((await app.request("/me", bearer(token))).status).toBe(401);
    expect(logger.events("auth.rejected")).toEqual([expect.objectContaining({ status: 401, reason: "token-expired" })]);
    expect(JSON.stringify(logger.lines)).not.toContain(token.split(".")[2]);
  });
});

describe("MastraAuthClerk", () => {
  const provider = (options: ConstructorParameters<typeof MastraAuthClerk>[0] = {}) => {
    const origin = new FakeOrigin(key);
    return { origin, auth: new MastraAuthClerk({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch, ...options }) };
  };

  it("has the seeds' defaults: name clerk, every authenticated user authorised, resource id = sub", async () => {
    const { auth } = provider();
    expect(auth.name).toBe("clerk");
    const user = (await auth.authenticateToken(await mint(key, { sub: "user_1" }), new Request("https://m.test/api/agents")))!;
    expect(await auth.authorizeUser(user, new Request("https://m.test/api/agents"))).toBe(true);
    expect(auth.mapUserToResourceId!(user)).toBe("user_1");
    expect(new MastraAuthClerk({ jwksUri: JWKS_URL, issuer: ISSUER, name: "clerk-auth" }).name).toBe("clerk-auth");
  });

  it("authenticateToken: the verified claims (ClerkUser) plus the normalised identity", async () => {
    const { auth } = provider();
    const token = await mint(key, { sub: "user_1", email: "a@example.test", emailVerified: true, org: { id: "org_1", role: "admin" }, claims: { name: "Ada", picture: "https://img.example/a.png" } });
    const user = await auth.authenticateToken(token, new Request("https://m.test/"));
    expect(user).toMatchObject({ sub: "user_1", email: "a@example.test", email_verified: true, name: "Ada", picture: "https://img.example/a.png", iss: ISSUER });
    expect(user!.identity).toMatchObject({ userId: "user_1", orgId: "org_1", orgRole: "org:admin" });
  });

  it("null for a missing, malformed, expired or foreign token (Mastra answers 401)", async () => {
    const { auth } = provider();
    const request = new Request("https://m.test/");
    expect(await auth.authenticateToken("", request)).toBeNull();
    expect(await auth.authenticateToken("garbage", request)).toBeNull();
    expect(await auth.authenticateToken(await mint(key, { now: Math.floor(Date.now() / 1000) - 3600 }), request)).toBeNull();
    expect(await auth.authenticateToken(await mint(key, { issuer: "https://evil.example" }), request)).toBeNull();
    // Mastra strips only "Bearer " exactly; any other casing is tolerated here.
    expect(await auth.authenticateToken(`bearer ${await mint(key)}`, request)).not.toBeNull();
  });

  it("falls back to the __session cookie when Mastra found no bearer token (either request shape)", async () => {
    const { auth } = provider();
    const token = await mint(key, { sub: "user_cookie" });
    const raw = new Request("https://m.test/", { headers: { cookie: `theme=dark; __client_uat=1; __session=${token}` } });
    expect((await auth.authenticateToken("", raw))?.sub).toBe("user_cookie");
    const honoLike = { raw, headers: raw.headers, header: (n: string) => raw.headers.get(n) ?? undefined };
    expect((await auth.authenticateToken("", honoLike))?.sub).toBe("user_cookie");
    // Express-style: plain-object headers, repeated cookies as an array.
    const expressLike = { headers: { Cookie: ["theme=dark", `__client_uat=1; __session=${token}`] } };
    expect((await auth.authenticateToken("", expressLike))?.sub).toBe("user_cookie");
  });

  it("authorizeUser from the options decides, with the user and the request", async () => {
    const seen: string[] = [];
    const { auth } = provider({
      authorizeUser: async (user: ClerkUser, request) => {
        seen.push(new URL((request as Request).url).pathname);
        return user.sub.startsWith("user_") && user.email_verified === true;
      },
    });
    const request = new Request("https://m.test/api/agents");
    const verified = (await auth.authenticateToken(await mint(key, { sub: "user_1", emailVerified: true }), request))!;
    const unverified = (await auth.authenticateToken(await mint(key, { sub: "user_2" }), request))!;
    expect(await auth.authorizeUser(verified, request)).toBe(true);
    expect(await auth.authorizeUser(unverified, request)).toBe(false);
    expect(seen).toEqual(["/api/agents", "/api/agents"]);
  });

  it("passes Mastra's provider options through", () => {
    const map = (u: ClerkUser) => `tenant:${u.sub}`;
    const { auth } = provider({ public: ["/api/health"], protected: [["/custom/*", "POST"]], mapUserToResourceId: map });
    expect(auth.public).toEqual(["/api/health"]);
    expect(auth.protected).toEqual([["/custom/*", "POST"]]);
    expect(auth.mapUserToResourceId).toBe(map);
  });

  it("keys that cannot be loaded throw (Mastra logs it and still answers 401), not a silent null", async () => {
    const { auth, origin } = provider();
    origin.mode = { kind: "status", status: 500 };
    await expect(auth.authenticateToken(await mint(key), new Request("https://m.test/"))).rejects.toMatchObject({ name: "JwksUnavailableError" });
  });

  it("reads CLERK_* from a Worker env and caches the JWKS in its KV; the constructor validates", async () => {
    const origin = new FakeOrigin(key);
    const url = uniqueUrl();
    const auth = new MastraAuthClerk({ env: { CLERK_JWKS_URI: url, CLERK_ISSUER: ISSUER, JWKS_CACHE: workerEnv.JWKS_CACHE }, fetch: origin.fetch });
    expect((await auth.authenticateToken(await mint(key, { sub: "user_env" }), new Request("https://m.test/")))?.sub).toBe("user_env");
    expect(await workerEnv.JWKS_CACHE.get(await jwksCacheKey(ISSUER, url))).not.toBeNull();
    expect(() => new MastraAuthClerk({ env: {} })).toThrow(/^CLERK_PUBLISHABLE_KEY: no key source/);
    expect(() => new MastraAuthClerk({ publishableKey: "pk_test_nope" })).toThrow(ConfigError);
  });

  it("hands background work to waitUntil when given one", async () => {
    const origin = new FakeOrigin(key);
    const pending: Promise<unknown>[] = [];
    const auth = new MastraAuthClerk({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch: origin.fetch, kv: workerEnv.JWKS_CACHE, waitUntil: (p) => pending.push(p) });
    expect(await auth.authenticateToken(await mint(key), new Request("https://m.test/"))).not.toBeNull();
    // The KV write after the origin fetch went to waitUntil instead of delaying the request.
    expect(pending).toHaveLength(1);
    await Promise.all(pending);
  });
});

describe("options are checked by name and type (a misspelt security setting must not vanish)", () => {
  const base = { jwksUri: JWKS_URL, issuer: ISSUER, kv: null, env: {} };
  it.each([
    ["authorizedparties", 'did you mean "authorizedParties"'],
    ["authorizedParty", 'did you mean "authorizedParties"'],
    ["authorisedParties", 'did you mean "authorizedParties"'],
    ["clockSkew", ""],
  ])("an unknown option %s throws ConfigError naming it, in every face", (name, hint) => {
    const options = { ...base, [name]: ["https://app.example"] };
    for (const build of [() => clerkAuth(options as never), () => new MastraAuthClerk(options as never)]) {
      let error: unknown;
      try {
        build();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(name);
      expect((error as ConfigError).message).toContain("is not an option of");
      if (hint) expect((error as ConfigError).message).toContain(hint);
    }
  });

  it("MastraAuthGateway refuses an unknown option too", () => {
    expect(() => new MastraAuthGateway({ secret: "x".repeat(32), audience: "https://m.example", audiance: "https://m.example" } as never)).toThrow(/^audiance: is not an option of MastraAuthGateway \(did you mean "audience"\?\)/);
  });

  it.each([
    ["authorizedParties", "https://app.example", /^authorizedParties: must be an array of strings, got a string/],
    ["algorithms", "RS256", /^algorithms: must be an array of strings/],
    ["clockSkewMs", "5000", /^clockSkewMs: must be a number/],
    ["acceptPendingSessions", "false", /^acceptPendingSessions: must be true or false/],
    ["jwks", { cacheTtl: 5 }, /^jwks\.cacheTtl: is not an option of jwks/],
    ["jwks", { cacheTtlS: "600" }, /^jwks\.cacheTtlS: must be a number/],
    ["issuer", 42, /^issuer: must be a string, got a number/],
  ])("a wrong type for %s is a ConfigError naming it, never a TypeError", (name, value, message) => {
    expect(() => clerkAuth({ ...base, [name]: value } as never)).toThrow(message);
    expect(() => new MastraAuthClerk({ ...base, [name]: value } as never)).toThrow(ConfigError);
  });

  it("CLERK_AUTHORIZED_PARTIES made only of separators is a misconfiguration, not 'no check'", () => {
    for (const value of [",", " , ,", "  ,"]) {
      expect(() => clerkAuth({ env: { CLERK_JWKS_URI: JWKS_URL, CLERK_ISSUER: ISSUER, CLERK_AUTHORIZED_PARTIES: value }, kv: null })).toThrow(/^CLERK_AUTHORIZED_PARTIES: is set but lists nothing/);
    }
  });
});

