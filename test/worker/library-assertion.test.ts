// The gateway → upstream assertion: what the gateway attaches when forwarding, and what
// MastraAuthGateway (the upstream's provider) accepts.
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { ConfigError } from "../../src/core/errors.js";
import { ASSERTION_HEADER, AssertionKey, MastraAuthGateway, mintAssertion, verifyAssertion, type Identity } from "../../src/lib.js";
import { body, expectMisconfigured, Clock, FakeOrigin, harness, MemoryLogger, mint, newKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

const SECRET = "a-test-secret-that-is-long-enough-0123456789";
const UPSTREAM = "https://mastra.example.com";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

const identity: Identity = {
  userId: "user_1",
  sessionId: "sess_1",
  orgId: "org_1",
  orgSlug: "acme",
  orgRole: "org:admin",
  orgPermissions: ["org:agents:run"],
  claims: { sub: "user_1", iss: "https://clerk.test.example", exp: 0, iat: 0, nbf: 0 },
};

function upstreamBinding() {
  const seen: Request[] = [];
  const fetcher = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      const request = new Request(input, init);
      seen.push(request);
      return Response.json({ ok: true });
    },
  } as unknown as Fetcher;
  return { seen, fetcher };
}

function gateway(extra: GatewayEnv) {
  const clock = new Clock(Date.now());
  const origin = new FakeOrigin(key);
  const up = upstreamBinding();
  const h = harness(uniqueJwksEnv({ MASTRA: up.fetcher, PUBLIC_PATHS: "/api", ...extra }), { fetch: origin.fetch, now: clock.now, kv: null });
  return { ...h, up, token: (o: Record<string, unknown> = {}) => mint(key, { now: clock.seconds, ...o }) };
}

describe("the gateway attaches x-gateway-assertion", () => {
  it("to authenticated requests when GATEWAY_ASSERTION_SECRET is set: HS256, ≤ 60 s, sub/sid/org/aud/jti", async () => {
    const g = gateway({ GATEWAY_ASSERTION_SECRET: SECRET, MASTRA_URL: `${UPSTREAM}/base` });
    const token = await g.token({ sub: "user_1", sid: "sess_1", org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run"] } });
    expect((await g.withToken(token, "/api/agents")).status).toBe(200);
    expect((await g.withToken(token, "/api/agents")).status).toBe(200);
    const [first, second] = g.up.seen.map((r) => r.headers.get(ASSERTION_HEADER)!);
    expect(decodeProtectedHeader(first!)).toEqual({ alg: "HS256", typ: "gateway-assertion+jwt" });
    const claims = decodeJwt(first!);
    expect(claims).toMatchObject({ iss: "mastra-edge-auth", sub: "user_1", sid: "sess_1", org_id: "org_1", org_slug: "acme", org_role: "org:admin", org_permissions: ["org:agents:run"], aud: UPSTREAM });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(60);
    expect(claims.jti).not.toBe(decodeJwt(second!).jti);
    // It verifies with the secret, for exactly that audience.
    await expect(verifyAssertion(first!, [new AssertionKey(SECRET)], { audience: UPSTREAM })).resolves.toMatchObject({ sub: "user_1" });
    await expect(verifyAssertion(first!, [new AssertionKey(SECRET)], { audience: "https://other.example" })).rejects.toMatchObject({ reason: "assertion-audience" });
  });

  it("over a binding without MASTRA_URL the audience is https://mastra.internal", async () => {
    const g = gateway({ GATEWAY_ASSERTION_SECRET: SECRET });
    await g.withToken(await g.token(), "/api/agents");
    expect(decodeJwt(g.up.seen[0]!.headers.get(ASSERTION_HEADER)!).aud).toBe("https://mastra.internal");
  });

  it("never forwards a client's own x-gateway-assertion, and adds none without an identity or a secret", async () => {
    const withSecret = gateway({ GATEWAY_ASSERTION_SECRET: SECRET });
    const forged = await mintAssertion(new AssertionKey(SECRET), identity, "https://mastra.internal");
    await withSecret.request("/api", { headers: { [ASSERTION_HEADER]: forged, "X_Gateway_Assertion": forged } });
    expect(withSecret.up.seen[0]!.headers.get(ASSERTION_HEADER)).toBeNull();
    expect(withSecret.up.seen[0]!.headers.get("x_gateway_assertion")).toBeNull();

    const without = gateway({});
    await without.request("/api/agents", { headers: { authorization: `Bearer ${await without.token()}`, [ASSERTION_HEADER]: forged } });
    expect(without.up.seen[0]!.headers.get(ASSERTION_HEADER)).toBeNull();
  });

  it("a short secret is a misconfiguration naming GATEWAY_ASSERTION_SECRET, without echoing it", async () => {
    const g = gateway({ GATEWAY_ASSERTION_SECRET: "short-secret-value" });
    const response = await g.request("/api");
    expect(JSON.stringify(await response.clone().json()) + JSON.stringify(g.logger.lines)).not.toContain("short-secret-value");
    await expectMisconfigured(response, g.logger, "GATEWAY_ASSERTION_SECRET", /^GATEWAY_ASSERTION_SECRET: must be at least 32 characters/);
    expect(g.up.seen).toHaveLength(0);
  });
});

describe("MastraAuthGateway", () => {
  const requestWith = (assertion: string | null, url = `${UPSTREAM}/api/agents`) =>
    new Request(url, { headers: assertion ? { [ASSERTION_HEADER]: assertion } : {} });
  const k = new AssertionKey(SECRET);

  it("accepts a valid assertion: the user is the claims plus the identity, resource id = sub", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET });
    const user = await auth.authenticateToken("", requestWith(await mintAssertion(k, identity, UPSTREAM)));
    expect(user).toMatchObject({ sub: "user_1", sid: "sess_1", org_id: "org_1", aud: UPSTREAM });
    expect(user!.identity).toEqual(expect.objectContaining({ userId: "user_1", sessionId: "sess_1", orgId: "org_1", orgSlug: "acme", orgRole: "org:admin", orgPermissions: ["org:agents:run"] }));
    expect(auth.mapUserToResourceId!(user!)).toBe("user_1");
    expect(await auth.authorizeUser(user!, requestWith(null))).toBe(true);
    expect(auth.name).toBe("gateway");
  });

  it("rejects a missing, forged, foreign-audience, expired or replayed assertion", async () => {
    const logger = new MemoryLogger();
    let now = Date.now();
    const auth = new MastraAuthGateway({ secret: SECRET, logger, now: () => now });
    // A bearer token alone is not enough: the upstream trusts only the gateway.
    expect(await auth.authenticateToken(await mint(key), requestWith(null))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await mintAssertion(new AssertionKey("another-secret-that-is-long-enough-xyz"), identity, UPSTREAM)))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await mintAssertion(k, identity, "https://other.example")))).toBeNull();
    const old = await mintAssertion(k, identity, UPSTREAM, { now: now - 120_000 });
    expect(await auth.authenticateToken("", requestWith(old))).toBeNull();

    const once = await mintAssertion(k, identity, UPSTREAM, { now });
    expect(await auth.authenticateToken("", requestWith(once))).not.toBeNull();
    expect(await auth.authenticateToken("", requestWith(once))).toBeNull();
    // Still refused at the edge of the clock tolerance, when the signature would still pass.
    now += 34_000;
    expect(await auth.authenticateToken("", requestWith(once))).toBeNull();
    expect(logger.lines.map((l) => l.reason)).toEqual([
      "assertion-missing",
      "assertion-invalid",
      "assertion-audience",
      "assertion-expired",
      "assertion-replayed",
      "assertion-replayed",
    ]);
  });

  it("the same request asked twice keeps its user (the jti is spent once per request, not per call)", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET });
    const request = requestWith(await mintAssertion(k, identity, UPSTREAM));
    const first = await auth.authenticateToken("", request);
    expect(first).not.toBeNull();
    expect(await auth.authenticateToken("", { raw: request, headers: request.headers, header: (n) => request.headers.get(n) ?? undefined })).toBe(first);
  });

  it("rejects tokens that are not assertions even when signed with the secret", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET });
    const iat = Math.floor(Date.now() / 1000);
    const sign = (header: Record<string, unknown>, claims: Record<string, unknown>) =>
      new SignJWT({ sub: "user_1", jti: crypto.randomUUID(), iss: "mastra-edge-auth", aud: UPSTREAM, iat, nbf: iat, exp: iat + 30, ...claims })
        .setProtectedHeader({ alg: "HS256", ...header })
        .sign(new TextEncoder().encode(SECRET));
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "JWT" }, {})))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, { exp: iat + 3600 })))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, { iss: "someone-else" })))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, {})))).not.toBeNull();
  });

  it("audience: the request's own origin by default, or the configured ones", async () => {
    const byDefault = new MastraAuthGateway({ secret: SECRET });
    const forUpstream = await mintAssertion(k, identity, UPSTREAM);
    expect(await byDefault.authenticateToken("", requestWith(forUpstream, "http://127.0.0.1:4111/api/agents"))).toBeNull();
    const configured = new MastraAuthGateway({ secret: SECRET, audience: [UPSTREAM, "https://mastra.internal"] });
    expect(await configured.authenticateToken("", requestWith(forUpstream, "http://127.0.0.1:4111/api/agents"))).not.toBeNull();
  });

  it("rotation: any of several secrets verifies", async () => {
    const next = "the-next-secret-that-is-long-enough-abcdef";
    const auth = new MastraAuthGateway({ secret: [next, SECRET] });
    expect(await auth.authenticateToken("", requestWith(await mintAssertion(k, identity, UPSTREAM)))).not.toBeNull();
    expect(await auth.authenticateToken("", requestWith(await mintAssertion(new AssertionKey(next), identity, UPSTREAM)))).not.toBeNull();
  });

  it("validates at construction: a secret is required and long enough, from options or env", () => {
    expect(() => new MastraAuthGateway({ env: {} })).toThrow(/^GATEWAY_ASSERTION_SECRET: is required/);
    expect(() => new MastraAuthGateway({ secret: "short" })).toThrow(ConfigError);
    expect(() => new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: "short" } })).toThrow(/^GATEWAY_ASSERTION_SECRET: must be at least 32/);
    expect(new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: SECRET } }).name).toBe("gateway");
    expect(() => new MastraAuthGateway({ secret: SECRET, audience: "https://mastra.example.com/path" })).toThrow(/^audience:/);
  });
});
