// Mastra's user-provider hooks (getCurrentUser, getUser, getUserProfileUrl), the single-organization
// restriction and the per-organization resource scope, on both providers: MastraAuthClerk (a
// Clerk session token) and MastraAuthGateway (the gateway's assertion). Clerk's Backend API is
// the one outside party stood in for; @clerk/backend's own client is run against the same stand-in
// as the oracle for the request it makes and the fields it reads.
import { createClerkClient } from "@clerk/backend";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import { AssertionKey, MastraAuthClerk, MastraAuthGateway, mintAssertion, type ClerkUser, type Identity } from "../../src/lib.js";
import { USER_CACHE_MAX } from "../../src/mastra/clerk-users.js";
import { FakeOrigin, ISSUER, JWKS_URL, MemoryLogger, mint, newKey, type SigningKey } from "./helpers.js";

const SECRET_KEY = "sk_test_providers0123456789";
const API = "https://api.clerk.test";
const ASSERTION_SECRET = "a-test-secret-that-is-long-enough-0123456789";
const UPSTREAM = "https://mastra.internal";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

/** A user as Clerk's Backend API returns it (`GET /v1/users/{id}`), the fields @clerk/backend reads. */
function backendUser(id: string, extra: Record<string, unknown> = {}) {
  return {
    object: "user",
    id,
    first_name: "Ada",
    last_name: "Lovelace",
    image_url: `https://img.clerk.test/${id}.png`,
    has_image: true,
    primary_email_address_id: "idn_2",
    email_addresses: [
      { id: "idn_1", object: "email_address", email_address: `old-${id}@example.test`, verification: null, linked_to: [] },
      { id: "idn_2", object: "email_address", email_address: `${id}@example.test`, verification: null, linked_to: [] },
    ],
    phone_numbers: [],
    web3_wallets: [],
    external_accounts: [],
    enterprise_accounts: [],
    public_metadata: { plan: "pro" },
    private_metadata: { secret: "never shown" },
    unsafe_metadata: {},
    created_at: 1,
    updated_at: 2,
    ...extra,
  };
}

/** Clerk's Backend API: users by id, each call recorded. */
class FakeBackendApi {
  calls: { url: string; authorization: string | null }[] = [];
  users = new Map<string, object>();
  status: number | null = null;
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    this.calls.push({ url: request.url, authorization: request.headers.get("authorization") });
    if (this.status) return new Response("{}", { status: this.status });
    if (request.headers.get("authorization") !== `Bearer ${SECRET_KEY}`) return Response.json({ errors: [] }, { status: 401 });
    const match = /^\/v1\/users\/([^/]+)$/.exec(new URL(request.url).pathname);
    const user = match ? this.users.get(decodeURIComponent(match[1]!)) : undefined;
    return user ? Response.json(user) : Response.json({ errors: [{ code: "resource_not_found" }] }, { status: 404 });
  };
}

const uniqueUrl = () => `${JWKS_URL}?providers=${crypto.randomUUID()}`;
const request = (headers: Record<string, string> = {}, path = "/api/auth/me") => new Request(`${UPSTREAM}${path}`, { headers });
const bearer = (token: string) => request({ authorization: `Bearer ${token}` });

function clerk(options: ConstructorParameters<typeof MastraAuthClerk>[0] = {}) {
  const origin = new FakeOrigin(key);
  const api = new FakeBackendApi();
  const logger = new MemoryLogger();
  // One fetch for both outside parties: the JWKS origin and the Backend API.
  const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
    new Request(input, init).url.startsWith(API) ? api.fetch(input, init) : origin.fetch(input as RequestInfo, init);
  const auth = new MastraAuthClerk({ jwksUri: uniqueUrl(), issuer: ISSUER, fetch, logger, env: {}, ...options });
  return { auth, api, logger };
}

describe("MastraAuthClerk: the user Mastra's /api/auth/me shows", () => {
  it("getCurrentUser: the verified user from Authorization, else the __session cookie; null without a valid token", async () => {
    const { auth } = clerk();
    const token = await mint(key, { sub: "user_1", email: "ada@example.test", claims: { name: "Ada", picture: "https://img.example/a.png" } });
    expect(await auth.getCurrentUser(bearer(token))).toEqual({ id: "user_1", email: "ada@example.test", name: "Ada", avatarUrl: "https://img.example/a.png" });
    expect(await auth.getCurrentUser(request({ cookie: `theme=dark; __client_uat=1; __session=${token}` }))).toMatchObject({ id: "user_1" });
    // Clerk's default token has no profile claims: the id alone, never a made-up field.
    expect(await auth.getCurrentUser(bearer(await mint(key, { sub: "user_2" })))).toEqual({ id: "user_2" });
    expect(await auth.getCurrentUser(request())).toBeNull();
    expect(await auth.getCurrentUser(bearer("garbage"))).toBeNull();
    expect(await auth.getCurrentUser(bearer(await mint(key, { now: Math.floor(Date.now() / 1000) - 3600 })))).toBeNull();
    // A bad bearer is not replaced by the cookie (as authenticateToken refuses it).
    expect(await auth.getCurrentUser(request({ authorization: "Bearer garbage", cookie: `__client_uat=1; __session=${token}` }))).toBeNull();
  });

  it("getUser: null without a secret key, and no Backend API call", async () => {
    const { auth, api } = clerk();
    expect(await auth.getUser("user_1")).toBeNull();
    expect(api.calls).toHaveLength(0);
  });

  it("getUser with secretKey: GET {apiUrl}/v1/users/{id}, the fields @clerk/backend reads, cached", async () => {
    const { auth, api } = clerk({ secretKey: SECRET_KEY, apiUrl: API });
    api.users.set("user_1", backendUser("user_1"));
    const user = await auth.getUser("user_1");
    expect(user).toEqual({ id: "user_1", email: "user_1@example.test", name: "Ada Lovelace", avatarUrl: "https://img.clerk.test/user_1.png", metadata: { plan: "pro" } });
    expect(api.calls).toEqual([{ url: `${API}/v1/users/user_1`, authorization: `Bearer ${SECRET_KEY}` }]);
    expect(await auth.getUser("user_1")).toEqual(user);
    expect(api.calls).toHaveLength(1);
    // Not found: null, remembered for a while (no second call).
    expect(await auth.getUser("user_gone")).toBeNull();
    expect(await auth.getUser("user_gone")).toBeNull();
    expect(api.calls).toHaveLength(2);
    // An id that is not an id never reaches the API as a path.
    expect(await auth.getUser("../../v1/jwks")).toBeNull();
    expect(await auth.getUser("")).toBeNull();
    expect(api.calls).toHaveLength(2);
  });

  it("agrees with @clerk/backend's users.getUser: same request path, same user fields", async () => {
    const api = new FakeBackendApi();
    api.users.set("user_oracle", backendUser("user_oracle", { primary_email_address_id: "idn_1" }));
    // @clerk/backend binds fetch at import, except under NODE_ENV=test, where it reads the global.
    vi.stubEnv("NODE_ENV", "test");
    vi.stubGlobal("fetch", api.fetch);
    const oracle = await createClerkClient({ secretKey: SECRET_KEY, apiUrl: API }).users.getUser("user_oracle");
    const theirs = { path: new URL(api.calls[0]!.url).pathname, auth: api.calls[0]!.authorization };
    vi.unstubAllGlobals();
    vi.unstubAllEnvs();
    const { auth, api: ours } = clerk({ secretKey: SECRET_KEY, apiUrl: API });
    ours.users = api.users;
    const user = await auth.getUser("user_oracle");
    expect({ path: new URL(ours.calls[0]!.url).pathname, auth: ours.calls[0]!.authorization }).toEqual(theirs);
    // @mastra/auth-clerk's mapping of the oracle's User.
    expect(user).toEqual({
      id: oracle.id,
      email: oracle.emailAddresses[0]!.emailAddress,
      name: [oracle.firstName, oracle.lastName].filter(Boolean).join(" "),
      avatarUrl: oracle.imageUrl,
      metadata: oracle.publicMetadata,
    });
  });

  it("the Backend API unreachable or refusing: null, logged, not remembered", async () => {
    const { auth, api, logger } = clerk({ secretKey: SECRET_KEY, apiUrl: API });
    api.users.set("user_1", backendUser("user_1"));
    api.status = 503;
    expect(await auth.getUser("user_1")).toBeNull();
    expect(logger.events("users.fetch_failed")).toEqual([expect.objectContaining({ reason: "status", status: 503 })]);
    api.status = null;
    expect(await auth.getUser("user_1")).toMatchObject({ email: "user_1@example.test" });
  });

  it("the cache is bounded: the oldest user is asked for again", async () => {
    const { auth, api } = clerk({ secretKey: SECRET_KEY, apiUrl: API });
    for (let i = 0; i <= USER_CACHE_MAX; i++) api.users.set(`user_${i}`, backendUser(`user_${i}`));
    for (let i = 0; i <= USER_CACHE_MAX; i++) await auth.getUser(`user_${i}`);
    expect(api.calls).toHaveLength(USER_CACHE_MAX + 1);
    await auth.getUser(`user_${USER_CACHE_MAX}`);
    expect(api.calls).toHaveLength(USER_CACHE_MAX + 1);
    await auth.getUser("user_0");
    expect(api.calls).toHaveLength(USER_CACHE_MAX + 2);
  });

  it("getCurrentUser never waits for the Backend API: a miss is filled in the background (waitUntil), the next answer has the profile", async () => {
    const pending: Promise<unknown>[] = [];
    const { auth, api } = clerk({ secretKey: SECRET_KEY, apiUrl: API, waitUntil: (p) => pending.push(p) });
    api.users.set("user_1", backendUser("user_1"));
    const token = await mint(key, { sub: "user_1" });
    // authenticateToken (Mastra's hot path) makes no Backend API call.
    expect(await auth.authenticateToken(token, bearer(token))).not.toBeNull();
    expect(api.calls).toHaveLength(0);
    expect(await auth.getCurrentUser(bearer(token))).toEqual({ id: "user_1" });
    // The fill went to waitUntil (beside the JWKS cache's own background work): awaiting it completes it.
    await Promise.all(pending);
    expect(await auth.getCurrentUser(bearer(token))).toEqual({ id: "user_1", email: "user_1@example.test", name: "Ada Lovelace", avatarUrl: "https://img.clerk.test/user_1.png", metadata: { plan: "pro" } });
    expect(api.calls).toHaveLength(1);
  });

  it("getUserProfileUrl is /user/{id}, as @mastra/auth-clerk answers", () => {
    expect(clerk().auth.getUserProfileUrl({ id: "user_1" })).toBe("/user/user_1");
  });

  it("secretKey and apiUrl are validated at construction, never echoed", () => {
    expect(() => clerk({ secretKey: "not-a-secret-value", apiUrl: API })).toThrow(/^CLERK_SECRET_KEY: is not a Clerk secret key/);
    expect(() => clerk({ secretKey: "not-a-secret-value" })).not.toThrow(/not-a-secret-value/);
    expect(() => clerk({ secretKey: SECRET_KEY, apiUrl: "http://api.clerk.example" })).toThrow(/^CLERK_API_URL: must use https/);
  });
});

describe("organizationId / organizationSlug: one organization only, from the token's org claims", () => {
  const v1 = (org?: { id: string; slug?: string }) => mint(key, { version: 1, sub: "user_1", ...(org ? { org } : {}) });
  const v2 = (org?: { id: string; slug?: string }) => mint(key, { version: 2, sub: "user_1", ...(org ? { org } : {}) });

  it("organizationId: the active org of a v1 (org_id) or v2 (o.id) token must be it; another org or none is refused with a logged reason", async () => {
    const { auth, logger, api } = clerk({ organizationId: "org_acme", secretKey: SECRET_KEY, apiUrl: API });
    const decide = async (token: string) => {
      const r = bearer(token);
      return auth.authorizeUser((await auth.authenticateToken(token, r))!, r);
    };
    expect(await decide(await v1({ id: "org_acme" }))).toBe(true);
    expect(await decide(await v2({ id: "org_acme" }))).toBe(true);
    expect(await decide(await v2({ id: "org_other" }))).toBe(false);
    expect(await decide(await v1())).toBe(false);
    expect(logger.events("auth.forbidden").map((l) => l.reason)).toEqual(["organization-mismatch", "organization-required"]);
    // From the claims alone: no membership look-up.
    expect(api.calls).toHaveLength(0);
    // /api/auth/me shows nobody for a user who is refused everything else.
    expect(await auth.getCurrentUser(bearer(await v2({ id: "org_other" })))).toBeNull();
    expect(await auth.getCurrentUser(bearer(await v2({ id: "org_acme" })))).toMatchObject({ id: "user_1" });
  });

  it("organizationSlug: org_slug (v1) or o.slg (v2)", async () => {
    const { auth } = clerk({ organizationSlug: "acme" });
    const decide = async (token: string) => auth.authorizeUser((await auth.authenticateToken(token, bearer(token)))!, bearer(token));
    expect(await decide(await v1({ id: "org_1", slug: "acme" }))).toBe(true);
    expect(await decide(await v2({ id: "org_1", slug: "acme" }))).toBe(true);
    expect(await decide(await v2({ id: "org_1", slug: "acme-evil" }))).toBe(false);
  });

  it("runs before options.authorizeUser, which cannot undo it", async () => {
    const { auth } = clerk({ organizationId: "org_acme", authorizeUser: () => true });
    const token = await v2({ id: "org_other" });
    expect(await auth.authorizeUser((await auth.authenticateToken(token, bearer(token)))!, bearer(token))).toBe(false);
  });

  it("read from CLERK_ORGANIZATION_ID / CLERK_ORGANIZATION_SLUG; both set is a ConfigError", async () => {
    const { auth } = clerk({ env: { CLERK_ORGANIZATION_ID: "org_env" } });
    const token = await v2({ id: "org_other" });
    expect(await auth.authorizeUser((await auth.authenticateToken(token, bearer(token)))!, bearer(token))).toBe(false);
    expect(() => clerk({ env: { CLERK_ORGANIZATION_ID: "org_1", CLERK_ORGANIZATION_SLUG: "acme" } })).toThrow(/^CLERK_ORGANIZATION_ID: and CLERK_ORGANIZATION_SLUG are both set/);
    expect(() => clerk({ organizationId: "org_1", env: { CLERK_ORGANIZATION_SLUG: "acme" } })).toThrow(ConfigError);
    expect(() => clerk({ organizationId: "" })).toThrow(/^organizationId:/);
  });
});

describe('resourceScope: "org": memory shared per active organization', () => {
  it("maps to the active org id; a user with no active organization is refused (403), logged", async () => {
    const { auth, logger } = clerk({ resourceScope: "org" });
    const inOrg = await mint(key, { sub: "user_1", org: { id: "org_acme" } });
    const user = (await auth.authenticateToken(inOrg, bearer(inOrg)))!;
    expect(auth.mapUserToResourceId!(user)).toBe("org_acme");
    expect(await auth.authorizeUser(user, bearer(inOrg))).toBe(true);
    const alone = await mint(key, { sub: "user_2" });
    const lonely = (await auth.authenticateToken(alone, bearer(alone)))!;
    expect(await auth.authorizeUser(lonely, bearer(alone))).toBe(false);
    expect(logger.events("auth.forbidden")).toEqual([expect.objectContaining({ reason: "organization-required", status: 403 })]);
    // Mastra maps before it authorizes and answers 500 for no id: the user's own id, never shared, never null.
    expect(auth.mapUserToResourceId!(lonely)).toBe("user_2");
  });

  it("the default is per user; MASTRA_RESOURCE_SCOPE=org sets it; anything else, or beside mapUserToResourceId, is a ConfigError", async () => {
    const token = await mint(key, { sub: "user_1", org: { id: "org_acme" } });
    const byUser = clerk().auth;
    expect(byUser.mapUserToResourceId!((await byUser.authenticateToken(token, bearer(token)))!)).toBe("user_1");
    const byEnv = clerk({ env: { MASTRA_RESOURCE_SCOPE: "org" } }).auth;
    expect(byEnv.mapUserToResourceId!((await byEnv.authenticateToken(token, bearer(token)))!)).toBe("org_acme");
    expect(() => clerk({ env: { MASTRA_RESOURCE_SCOPE: "team" } })).toThrow(/^MASTRA_RESOURCE_SCOPE: must be "user" or "org"/);
    expect(() => clerk({ resourceScope: "tenant" as "org" })).toThrow(ConfigError);
    expect(() => clerk({ resourceScope: "org", mapUserToResourceId: (u: ClerkUser) => u.sub })).toThrow(/^resourceScope: and mapUserToResourceId/);
  });

  it("the new option names are known; a misspelling is refused with a suggestion", () => {
    expect(() => clerk({ organisationId: "org_1" } as object)).toThrow(/^organisationId: is not an option of MastraAuthClerk \(did you mean "organizationId"\?\)/);
    expect(() => new MastraAuthGateway({ secret: ASSERTION_SECRET, audience: UPSTREAM, resourceScop: "org" } as object)).toThrow(/did you mean "resourceScope"/);
  });
});

describe("MastraAuthGateway: the user the gateway vouched for", () => {
  const identity = (org?: { id: string; slug: string }): Identity => ({
    userId: "user_1",
    sessionId: "sess_1",
    orgId: org?.id ?? null,
    orgSlug: org?.slug ?? null,
    orgRole: org ? "org:member" : null,
    orgPermissions: [],
    tokenType: "session_token", subject: null, machineId: null, clientId: null, tokenId: null, name: null, scopes: [],
    claims: { sub: "user_1", iss: ISSUER, exp: 0, iat: 0, nbf: 0 },
  });
  const asserted = async (who: Identity, path = "/api/auth/me", method = "GET") => {
    const url = `${UPSTREAM}${path}`;
    const assertion = await mintAssertion(new AssertionKey(ASSERTION_SECRET), who, UPSTREAM, { method, url });
    return new Request(url, { method, headers: { "x-gateway-assertion": assertion } });
  };
  const gateway = (options: Partial<ConstructorParameters<typeof MastraAuthGateway>[0]> = {}) => {
    const api = new FakeBackendApi();
    const logger = new MemoryLogger();
    const auth = new MastraAuthGateway({ secret: ASSERTION_SECRET, audience: UPSTREAM, env: {}, logger, fetch: api.fetch, ...options });
    return { auth, api, logger };
  };

  it("getCurrentUser: from the assertion on a public route; the assertion is spent, a replay shows nobody", async () => {
    const { auth } = gateway();
    const me = await asserted(identity());
    expect(await auth.getCurrentUser(me)).toEqual({ id: "user_1" });
    expect(await auth.getCurrentUser(new Request(me))).toBeNull();
    expect(await auth.getCurrentUser(new Request(`${UPSTREAM}/api/auth/me`))).toBeNull();
  });

  it("a request Mastra already authenticated keeps its user (either request shape)", async () => {
    const { auth } = gateway();
    const raw = await asserted(identity(), "/api/agents");
    const honoLike = { raw, headers: raw.headers, header: (n: string) => raw.headers.get(n) ?? undefined };
    expect(await auth.authenticateToken("", honoLike)).toMatchObject({ sub: "user_1" });
    expect(await auth.getCurrentUser(raw)).toEqual({ id: "user_1" });
  });

  it("getUser via the Backend API with secretKey (CLERK_SECRET_KEY of env), null without", async () => {
    const { auth, api } = gateway({ env: { CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: API } });
    api.users.set("user_1", backendUser("user_1"));
    expect(await auth.getUser("user_1")).toMatchObject({ id: "user_1", email: "user_1@example.test", name: "Ada Lovelace" });
    expect(await gateway().auth.getUser("user_1")).toBeNull();
    expect(auth.getUserProfileUrl({ id: "user_1" })).toBe("/user/user_1");
  });

  it("organizationId and resourceScope read the assertion's org claims", async () => {
    const { auth, logger } = gateway({ organizationId: "org_acme", resourceScope: "org" });
    const inAcme = await asserted(identity({ id: "org_acme", slug: "acme" }), "/api/agents");
    const member = (await auth.authenticateToken("", inAcme))!;
    expect(await auth.authorizeUser(member, inAcme)).toBe(true);
    expect(auth.mapUserToResourceId!(member)).toBe("org_acme");
    const elsewhere = await asserted(identity({ id: "org_other", slug: "other" }), "/api/agents");
    expect(await auth.authorizeUser((await auth.authenticateToken("", elsewhere))!, elsewhere)).toBe(false);
    const alone = await asserted(identity(), "/api/agents");
    expect(await auth.authorizeUser((await auth.authenticateToken("", alone))!, alone)).toBe(false);
    expect(logger.events("auth.forbidden").map((l) => l.reason)).toEqual(["organization-mismatch", "organization-required"]);
    expect(await auth.getCurrentUser(await asserted(identity({ id: "org_other", slug: "other" })))).toBeNull();
    expect(() => gateway({ env: { CLERK_ORGANIZATION_ID: "org_1", CLERK_ORGANIZATION_SLUG: "acme" } })).toThrow(ConfigError);
  });
});
