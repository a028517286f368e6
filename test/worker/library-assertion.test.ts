// The gateway → upstream assertion: what the gateway attaches when forwarding, and what
// MastraAuthGateway (the upstream's provider) accepts.
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { ConfigError } from "../../src/core/errors.js";
import { ASSERTION_HEADER, AssertionJwk, AssertionKey, MastraAuthGateway, mintAssertion, verifyAssertion, type AssertionSigner, type Identity } from "../../src/lib.js";
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
  tokenType: "session_token", subject: null, machineId: null, clientId: null, tokenId: null, name: null, scopes: [],
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
    // Bound to the request it was minted for: method, and path and query as the upstream receives them.
    expect(claims).toMatchObject({ htm: "GET", htu: "/base/api/agents" });
    // It verifies with the secret, for exactly that audience and that request.
    const request = { method: "GET", url: `${UPSTREAM}/base/api/agents` };
    await expect(verifyAssertion(first!, [new AssertionKey(SECRET)], { audience: UPSTREAM, request })).resolves.toMatchObject({ sub: "user_1" });
    await expect(verifyAssertion(first!, [new AssertionKey(SECRET)], { audience: "https://other.example", request })).rejects.toMatchObject({ reason: "assertion-audience" });
  });

  it("over a binding without MASTRA_URL the audience is https://mastra.internal", async () => {
    const g = gateway({ GATEWAY_ASSERTION_SECRET: SECRET });
    await g.withToken(await g.token(), "/api/agents");
    expect(decodeJwt(g.up.seen[0]!.headers.get(ASSERTION_HEADER)!).aud).toBe("https://mastra.internal");
  });

  it("never forwards a client's own x-gateway-assertion, and adds none without an identity or a secret", async () => {
    const withSecret = gateway({ GATEWAY_ASSERTION_SECRET: SECRET });
    const forged = await mintAssertion(new AssertionKey(SECRET), identity, "https://mastra.internal", { method: "GET", url: "https://mastra.internal/api" });
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
  const AGENTS = `${UPSTREAM}/api/agents`;
  const requestWith = (assertion: string | null, url = AGENTS, method = "GET") =>
    new Request(url, { method, headers: assertion ? { [ASSERTION_HEADER]: assertion } : {}, body: method === "GET" ? null : "{}" });
  const k = new AssertionKey(SECRET);
  /** An assertion for GET /api/agents at the upstream, unless told otherwise. */
  const minted = (key: AssertionSigner = k, audience = UPSTREAM, options: { now?: number; method?: string; url?: string } = {}) =>
    mintAssertion(key, identity, audience, { method: options.method ?? "GET", url: options.url ?? AGENTS }, { now: options.now });

  it("accepts a valid assertion: the user is the claims plus the identity, resource id = sub", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM });
    const user = await auth.authenticateToken("", requestWith(await minted()));
    expect(user).toMatchObject({ sub: "user_1", sid: "sess_1", org_id: "org_1", aud: UPSTREAM, htm: "GET", htu: "/api/agents" });
    expect(user!.identity).toEqual(expect.objectContaining({ userId: "user_1", sessionId: "sess_1", orgId: "org_1", orgSlug: "acme", orgRole: "org:admin", orgPermissions: ["org:agents:run"] }));
    expect(auth.mapUserToResourceId!(user!)).toBe("user_1");
    expect(await auth.authorizeUser(user!, requestWith(null))).toBe(true);
    expect(auth.name).toBe("gateway");
  });

  it("rejects a missing, forged, foreign-audience, expired or replayed assertion", async () => {
    const logger = new MemoryLogger();
    let now = Date.now();
    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM, logger, now: () => now });
    // A bearer token alone is not enough: the upstream trusts only the gateway.
    expect(await auth.authenticateToken(await mint(key), requestWith(null))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await minted(new AssertionKey("another-secret-that-is-long-enough-xyz"))))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await minted(k, "https://other.example")))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await minted(k, UPSTREAM, { now: now - 120_000 })))).toBeNull();

    const once = await minted(k, UPSTREAM, { now });
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

  it("a captured assertion is useless on another method, path or query (htm/htu, as DPoP binds a proof)", async () => {
    const logger = new MemoryLogger();
    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM, logger, rejectReplays: false });
    const captured = await minted(k, UPSTREAM, { method: "GET", url: `${UPSTREAM}/api/memory/threads?resourceId=user_1` });
    expect(await auth.authenticateToken("", requestWith(captured, `${UPSTREAM}/api/memory/threads?resourceId=user_1`))).not.toBeNull();
    for (const [url, method] of [
      [`${UPSTREAM}/api/memory/threads?resourceId=user_2`, "GET"],
      [`${UPSTREAM}/api/memory/threads`, "GET"],
      [`${UPSTREAM}/api/agents/weather/generate?resourceId=user_1`, "GET"],
      [`${UPSTREAM}/api/memory/threads?resourceId=user_1`, "POST"],
      [`${UPSTREAM}/api/memory/threads?resourceId=user_1`, "DELETE"],
    ] as const) {
      expect(await auth.authenticateToken("", requestWith(captured, url, method)), `${method} ${url}`).toBeNull();
    }
    expect(new Set(logger.lines.map((l) => l.reason))).toEqual(new Set(["assertion-binding"]));
  });

  it("the same request asked twice keeps its user (the jti is spent once per request, not per call)", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM });
    const request = requestWith(await minted());
    const first = await auth.authenticateToken("", request);
    expect(first).not.toBeNull();
    expect(await auth.authenticateToken("", { raw: request, headers: request.headers, header: (n) => request.headers.get(n) ?? undefined })).toBe(first);
  });

  it("rejects tokens that are not assertions even when signed with the secret", async () => {
    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM });
    const iat = Math.floor(Date.now() / 1000);
    const sign = (header: Record<string, unknown>, claims: Record<string, unknown>) =>
      new SignJWT({ sub: "user_1", jti: crypto.randomUUID(), iss: "mastra-edge-auth", aud: UPSTREAM, iat, nbf: iat, exp: iat + 30, htm: "GET", htu: "/api/agents", ...claims })
        .setProtectedHeader({ alg: "HS256", ...header })
        .sign(new TextEncoder().encode(SECRET));
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "JWT" }, {})))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, { exp: iat + 3600 })))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, { iss: "someone-else" })))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, { htm: undefined })))).toBeNull();
    expect(await auth.authenticateToken("", requestWith(await sign({ typ: "gateway-assertion+jwt" }, {})))).not.toBeNull();
  });

  it("audience is required configuration, never the request's own Host", async () => {
    expect(() => new MastraAuthGateway({ secret: SECRET })).toThrow(/^audience: is required/);
    expect(() => new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: SECRET } })).toThrow(/^audience: is required/);
    const fromEnv = new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: SECRET, GATEWAY_ASSERTION_AUDIENCE: `${UPSTREAM}, https://mastra.internal` } });
    expect(await fromEnv.authenticateToken("", requestWith(await minted(k, "https://mastra.internal")))).not.toBeNull();
    // Minted for another upstream that shares the secret, replayed here with a matching Host: refused.
    const elsewhere = await minted(k, "https://other-upstream.example", { url: "https://other-upstream.example/api/agents" });
    expect(await fromEnv.authenticateToken("", requestWith(elsewhere, "https://other-upstream.example/api/agents"))).toBeNull();
    const configured = new MastraAuthGateway({ secret: SECRET, audience: [UPSTREAM, "https://mastra.internal"] });
    // The upstream may see itself under another host (a private address): the path is what is bound.
    expect(await configured.authenticateToken("", requestWith(await minted(), "http://127.0.0.1:4111/api/agents"))).not.toBeNull();
  });

  it("rotation: any of several secrets verifies", async () => {
    const next = "the-next-secret-that-is-long-enough-abcdef";
    const auth = new MastraAuthGateway({ secret: [next, SECRET], audience: UPSTREAM });
    expect(await auth.authenticateToken("", requestWith(await minted()))).not.toBeNull();
    expect(await auth.authenticateToken("", requestWith(await minted(new AssertionKey(next))))).not.toBeNull();
  });

  it("validates at construction: a secret is required and long enough, from options or env", () => {
    expect(() => new MastraAuthGateway({ env: {}, audience: UPSTREAM })).toThrow(/^GATEWAY_ASSERTION_SECRET: is required/);
    expect(() => new MastraAuthGateway({ secret: "short", audience: UPSTREAM })).toThrow(ConfigError);
    expect(() => new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: "short" }, audience: UPSTREAM })).toThrow(/^GATEWAY_ASSERTION_SECRET: must be at least 32/);
    expect(new MastraAuthGateway({ env: { GATEWAY_ASSERTION_SECRET: SECRET }, audience: UPSTREAM }).name).toBe("gateway");
    expect(() => new MastraAuthGateway({ secret: SECRET, audience: "https://mastra.example.com/path" })).toThrow(/^audience:/);
  });
});

describe("asymmetric assertions (GATEWAY_ASSERTION_KEY): the upstream holds public keys only", () => {
  async function es256(kid: string): Promise<JWK> {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    return { ...(await exportJWK(privateKey)), kid };
  }
  const publicOf = ({ d: _d, ...rest }: JWK) => rest;

  it("the gateway signs with the first key, publishes every public half at /.well-known/jwks.json, and MastraAuthGateway verifies with them", async () => {
    const current = await es256("assert-2");
    const previous = await es256("assert-1");
    const g = gateway({ GATEWAY_ASSERTION_KEY: JSON.stringify({ keys: [current, previous] }), MASTRA_URL: UPSTREAM });
    const jwks = await g.request("/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    const published = (await jwks.json()) as { keys: JWK[] };
    expect(published.keys.map((k) => [k.kid, k.alg, "d" in k])).toEqual([["assert-2", "ES256", false], ["assert-1", "ES256", false]]);

    await g.withToken(await g.token({ sub: "user_es" }), "/api/agents?x=1");
    const assertion = g.up.seen.at(-1)!.headers.get(ASSERTION_HEADER)!;
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: "ES256", kid: "assert-2", typ: "gateway-assertion+jwt" });
    const auth = new MastraAuthGateway({ publicKeys: published, audience: UPSTREAM });
    expect(await auth.authenticateToken("", new Request(`${UPSTREAM}/api/agents?x=1`, { headers: { [ASSERTION_HEADER]: assertion } }))).toMatchObject({ sub: "user_es" });
    // A key it does not list (or an HS256 token with no secret configured) is refused.
    const other = new MastraAuthGateway({ publicKeys: [publicOf(previous)], audience: UPSTREAM });
    await g.withToken(await g.token({ sub: "user_es" }), "/api/agents");
    expect(await other.authenticateToken("", new Request(`${UPSTREAM}/api/agents`, { headers: { [ASSERTION_HEADER]: g.up.seen.at(-1)!.headers.get(ASSERTION_HEADER)! } }))).toBeNull();
    const hs = await mintAssertion(new AssertionKey(SECRET), identity, UPSTREAM, { method: "GET", url: `${UPSTREAM}/api/agents` });
    expect(await auth.authenticateToken("", new Request(`${UPSTREAM}/api/agents`, { headers: { [ASSERTION_HEADER]: hs } }))).toBeNull();
  });

  it("every assertion algorithm (HS256, ES256, EdDSA) signs a compact JWS jose verifies, non-ASCII claims included", async () => {
    const ed = await generateKeyPair("EdDSA", { extractable: true });
    const signers: AssertionSigner[] = [
      new AssertionKey(SECRET),
      new AssertionJwk(await es256("es-1"), "GATEWAY_ASSERTION_KEY"),
      new AssertionJwk({ ...(await exportJWK(ed.privateKey)), kid: "ed-1" }, "GATEWAY_ASSERTION_KEY"),
    ];
    const who: Identity = { ...identity, orgSlug: "ünïcødé-组织" };
    for (const signer of signers) {
      const token = await mintAssertion(signer, who, UPSTREAM, { method: "post", url: `${UPSTREAM}/api/agents/a%20b/generate?q=é` });
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(decodeProtectedHeader(token)).toEqual({ alg: signer.alg, typ: "gateway-assertion+jwt", ...(signer.kid ? { kid: signer.kid } : {}) });
      const verifier = signer instanceof AssertionKey ? signer : new AssertionJwk((signer as AssertionJwk).publicJwk(), "keys");
      const claims = await verifyAssertion(token, [verifier], { audience: UPSTREAM, request: { method: "POST", url: `${UPSTREAM}/api/agents/a%20b/generate?q=é` } });
      expect(claims).toMatchObject({ sub: "user_1", org_slug: "ünïcødé-组织", htm: "POST", htu: "/api/agents/a%20b/generate?q=%C3%A9" });
      // One flipped signature bit and jose refuses it.
      const [h, p, sig] = token.split(".");
      const flipped = `${h}.${p}.${sig![0] === "A" ? "B" : "A"}${sig!.slice(1)}`;
      await expect(verifyAssertion(flipped, [verifier], { audience: UPSTREAM, request: { method: "POST", url: `${UPSTREAM}/api/agents/a%20b/generate?q=é` } })).rejects.toMatchObject({ reason: "assertion-invalid" });
    }
  });

  it("misconfiguration names the variable and never echoes a key", async () => {
    const current = await es256("k1");
    for (const [env, message] of [
      [{ GATEWAY_ASSERTION_KEY: JSON.stringify(current), GATEWAY_ASSERTION_SECRET: SECRET }, /set either GATEWAY_ASSERTION_SECRET .* or GATEWAY_ASSERTION_KEY/],
      [{ GATEWAY_ASSERTION_KEY: JSON.stringify(publicOf(current)) }, /must be a private JWK/],
      [{ GATEWAY_ASSERTION_KEY: JSON.stringify({ ...current, kid: undefined }) }, /needs a kid/],
      [{ GATEWAY_ASSERTION_KEY: `{"kty":"RSA","d":"${current.d}"` }, /is not valid JSON/],
      [{ GATEWAY_ASSERTION_KEY: JSON.stringify({ kty: "oct", k: "abc", kid: "x" }) }, /EC P-256 \(ES256\) or OKP Ed25519/],
    ] as const) {
      const g = gateway(env);
      const response = await g.request("/api/agents");
      expect(JSON.stringify(await response.clone().json()) + JSON.stringify(g.logger.lines)).not.toContain(current.d!);
      await expectMisconfigured(response, g.logger, "GATEWAY_ASSERTION_KEY", message);
    }
  });
});
