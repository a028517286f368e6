import { base64url } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { body, expectMisconfigured, Clock, FakeOrigin, harness, ISSUER, mint, newKey, uniqueJwksEnv, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

function setup(extra = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const h = harness(uniqueJwksEnv(extra), { fetch: origin.fetch, now: clock.now, kv: null });
  return { clock, origin, ...h };
}

async function expect401(response: Response, reason: string) {
  expect(response.status).toBe(401);
  const json = await body(response);
  expect(json).toMatchObject({ error: "unauthorized", reason });
  expect(typeof json.message).toBe("string");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="mastra", error="invalid_token", error_description="[^"]*"$/);
  expect(response.headers.get("content-type")).toContain("application/json");
}

describe("a valid Clerk session token", () => {
  it("is accepted and normalised (v2 with an org)", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, {
      now: clock.seconds,
      sub: "user_1",
      sid: "sess_1",
      org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run", "org:agents:read", "org:billing:read"] },
      email: "a@example.com",
      emailVerified: true,
    });
    const response = await withToken(token);
    expect(response.status).toBe(200);
    const me = await body(response);
    expect(me).toMatchObject({
      userId: "user_1",
      sessionId: "sess_1",
      orgId: "org_1",
      orgSlug: "acme",
      orgRole: "org:admin",
    });
    expect([...(me.orgPermissions as string[])].sort()).toEqual(["org:agents:read", "org:agents:run", "org:billing:read"]);
    expect(me.claims).toMatchObject({ sub: "user_1", email: "a@example.com", email_verified: true, v: 2 });
  });

  it("normalises a v1 token to the same identity", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, {
      now: clock.seconds,
      sub: "user_1",
      version: 1,
      org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run"] },
    });
    const me = await body(await withToken(token));
    expect(me).toMatchObject({ userId: "user_1", orgId: "org_1", orgSlug: "acme", orgRole: "org:admin", orgPermissions: ["org:agents:run"] });
  });

  it("without an org gives null org fields", async () => {
    const { clock, withToken } = setup();
    const me = await body(await withToken(await mint(key, { now: clock.seconds, sub: "user_2" })));
    expect(me).toMatchObject({ userId: "user_2", orgId: null, orgSlug: null, orgRole: null, orgPermissions: [] });
  });

  it("is read from the __session cookie when there is no Authorization header", async () => {
    const { clock, request } = setup();
    const token = await mint(key, { now: clock.seconds, sub: "user_cookie" });
    const response = await request("/auth/me", { headers: { cookie: `theme=dark; __client_uat=1; __session=${token}; other=1` } });
    expect(response.status).toBe(200);
    expect(await body(response)).toMatchObject({ userId: "user_cookie" });
  });

  it("in the header wins over a different cookie token (as @clerk/backend)", async () => {
    const { clock, request } = setup();
    const headerToken = await mint(key, { now: clock.seconds, sub: "user_header" });
    const cookieToken = await mint(key, { now: clock.seconds, sub: "user_cookie" });
    const response = await request("/auth/me", {
      headers: { authorization: `Bearer ${headerToken}`, cookie: `__client_uat=1; __session=${cookieToken}` },
    });
    expect(await body(response)).toMatchObject({ userId: "user_header" });
  });

  it("accepts the scheme in any case", async () => {
    const { clock, request } = setup();
    const token = await mint(key, { now: clock.seconds });
    const response = await request("/auth/me", { headers: { authorization: `bEaReR ${token}` } });
    expect(response.status).toBe(200);
  });

  it("is accepted within the clock skew on either side", async () => {
    const { clock, withToken } = setup();
    // Issued 4 s in the future (nbf too): within the default 5 s skew.
    const early = await mint(key, { now: clock.seconds + 4, nbfSkewSeconds: 0 });
    expect((await withToken(early)).status).toBe(200);
    // Expired 4 s ago: still within the skew.
    const late = await mint(key, { now: clock.seconds - 64, ttlSeconds: 60 });
    expect((await withToken(late)).status).toBe(200);
  });
});

describe("rejections carry the @clerk/backend reason code", () => {
  it("session-token-missing: a bare challenge without an error code (RFC 6750 §3.1)", async () => {
    const { request, logger } = setup();
    const response = await request("/auth/me");
    expect(response.status).toBe(401);
    expect(await body(response)).toMatchObject({ error: "unauthorized", reason: "session-token-missing" });
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="mastra"');
    expect(logger.events("auth.rejected")).toEqual([
      expect.objectContaining({ reason: "session-token-missing", method: "GET", path: "/auth/me", status: 401 }),
    ]);
  });

  it("token-expired, beyond the skew", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, { now: clock.seconds - 66, ttlSeconds: 60 });
    await expect401(await withToken(token), "token-expired");
  });

  it("token-expired also for a token cached while it was valid", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, { now: clock.seconds, ttlSeconds: 60 });
    expect((await withToken(token)).status).toBe(200);
    clock.advance(66);
    await expect401(await withToken(token), "token-expired");
  });

  it("token-not-active-yet", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, { now: clock.seconds, nbfSkewSeconds: 0, claims: { nbf: clock.seconds + 30 } });
    await expect401(await withToken(token), "token-not-active-yet");
  });

  it("token-iat-in-the-future", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, { now: clock.seconds, claims: { iat: clock.seconds + 30 } });
    await expect401(await withToken(token), "token-iat-in-the-future");
  });

  it("token-invalid-algorithm: HS256, none, and algorithms outside the allow-list", async () => {
    const { clock, withToken, origin } = setup();
    for (const alg of ["HS256", "none", "None", "RS512", "ES256"]) {
      const token = await mint(key, { now: clock.seconds, header: { alg } });
      await expect401(await withToken(token), "token-invalid-algorithm");
    }
    // Rejected from the header alone: no key lookup, so no origin fetch.
    expect(origin.count).toBe(0);
  });

  it("token-invalid-issuer, including prefix and suffix variants of the right one", async () => {
    const { clock, withToken } = setup();
    for (const iss of ["https://evil.example", `${ISSUER}.evil.example`, `${ISSUER}/`, "https://clerk.test.exampl", ISSUER.toUpperCase()]) {
      const token = await mint(key, { now: clock.seconds, issuer: iss });
      await expect401(await withToken(token), "token-invalid-issuer");
    }
  });

  it("token-invalid-authorized-parties: azp not allowed, or missing when required", async () => {
    const { clock, withToken } = setup({ CLERK_AUTHORIZED_PARTIES: "https://app.example.com, https://admin.example.com/" });
    expect((await withToken(await mint(key, { now: clock.seconds, azp: "https://admin.example.com" }))).status).toBe(200);
    await expect401(await withToken(await mint(key, { now: clock.seconds, azp: "https://evil.example.com" })), "token-invalid-authorized-parties");
    await expect401(await withToken(await mint(key, { now: clock.seconds, azp: null })), "token-invalid-authorized-parties");
  });

  it("token-invalid-signature: a flipped signature, a payload swapped under a valid signature", async () => {
    const { clock, withToken } = setup();
    const token = await mint(key, { now: clock.seconds, sub: "user_1" });
    const [h, p, s] = token.split(".") as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === "A" ? "B" : "A"}${s.slice(11)}`;
    await expect401(await withToken(flipped), "token-invalid-signature");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    const forged = base64url.encode(JSON.stringify({ ...claims, sub: "user_admin" }));
    await expect401(await withToken(`${h}.${forged}.${s}`), "token-invalid-signature");
  });

  it("token-invalid-signature: signed by another key that claims our kid", async () => {
    const { clock, withToken } = setup();
    const attacker = await newKey(key.kid);
    await expect401(await withToken(await mint(attacker, { now: clock.seconds })), "token-invalid-signature");
  });

  it("jwk-kid-mismatch: a kid the JWKS does not have", async () => {
    const { clock, withToken } = setup();
    const other = await newKey();
    await expect401(await withToken(await mint(other, { now: clock.seconds })), "jwk-kid-mismatch");
  });

  it("session-token-pending by default, accepted when configured", async () => {
    const { clock, withToken } = setup();
    await expect401(await withToken(await mint(key, { now: clock.seconds, pending: true })), "session-token-pending");
    const relaxed = setup({ CLERK_ACCEPT_PENDING_SESSIONS: "true" });
    expect((await relaxed.withToken(await mint(key, { now: relaxed.clock.seconds, pending: true }))).status).toBe(200);
  });

  it("token-too-large: over 8 KiB, before any parsing", async () => {
    const { clock, withToken, origin } = setup();
    const token = await mint(key, { now: clock.seconds, claims: { padding: "x".repeat(9000) } });
    await expect401(await withToken(token), "token-too-large");
    expect(origin.count).toBe(0);
  });

  it.each([
    ["two segments", "aaa.bbb"],
    ["five segments (JWE)", "a.b.c.d.e"],
    ["padding in a segment", "eyJhbGciOiJSUzI1NiJ9.e30=.sig"],
    ["a standard-base64 character", "eyJhbGciOiJSUzI1NiJ9.e+30.sig"],
    ["an empty signature", "eyJhbGciOiJSUzI1NiJ9.e30."],
    ["a header that is not JSON", "bm90IGpzb24.e30.c2ln"],
  ])("token-invalid: %s", async (_label, token) => {
    const { withToken } = setup();
    await expect401(await withToken(token), "token-invalid");
  });

  it.each([
    ["no kid", { kid: undefined }],
    ["an overlong kid", { kid: "k".repeat(300) }],
    ["a kid with CR/LF", { kid: "a\r\nb" }],
    ["an embedded jwk", { jwk: { kty: "RSA", n: "x", e: "AQAB" } }],
    ["an x5c chain", { x5c: ["MIIB"] }],
    ["a jku URL", { jku: "https://evil.example/jwks.json" }],
    ["an x5u URL", { x5u: "https://evil.example/cert.pem" }],
    ["typ other than JWT (or at+jwt)", { typ: "JOSE" }],
    ["a nested token (cty)", { cty: "JWT" }],
    ["an unknown crit extension", { crit: ["exp-ext"], "exp-ext": true }],
  ])("token-invalid: header with %s", async (_label, header) => {
    const { clock, withToken, origin } = setup();
    const token = await mint(key, { now: clock.seconds, header });
    await expect401(await withToken(token), "token-invalid");
    // jku/x5u are never fetched: the only origin request allowed is the configured JWKS.
    for (const r of origin.requests) expect(r.url.startsWith(`${ISSUER}/.well-known/jwks.json`)).toBe(true);
  });

  it.each([
    ["exp missing", { exp: undefined }],
    ["exp as a string", { exp: "9999999999" }],
    ["nbf missing", { nbf: undefined }],
    ["iat as a string", { iat: "1" }],
    ["exp absurdly large", { exp: 1e300 }],
    ["sub missing", { sub: undefined }],
    ["sub not a string", { sub: 42 }],
  ])("token-invalid: claims with %s", async (_label, claims) => {
    const { clock, withToken } = setup();
    await expect401(await withToken(await mint(key, { now: clock.seconds, claims })), "token-invalid");
  });

  it.each([
    ["Bearer with no token", "Bearer"],
    ["Bearer with two tokens", "Bearer aaa.bbb.ccc ddd.eee.fff"],
    ["two Authorization headers (joined by the runtime)", "Bearer aaa.bbb.ccc, Bearer ddd.eee.fff"],
  ])("token-invalid: %s", async (_label, authorization) => {
    const { request } = setup();
    await expect401(await request("/auth/me", { headers: { authorization } }), "token-invalid");
  });

  it("a non-Bearer scheme is not a token: session-token-missing", async () => {
    const { request } = setup();
    const response = await request("/auth/me", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(await body(response)).toMatchObject({ reason: "session-token-missing" });
  });

  it("a scheme-less compact JWS is the token, as @clerk/backend reads it; it wins over a cookie", async () => {
    const { clock, request } = setup();
    const token = await mint(key, { now: clock.seconds, sub: "user_bare" });
    expect(await body(await request("/auth/me", { headers: { authorization: token } }))).toMatchObject({ userId: "user_bare" });
    const cookieToken = await mint(key, { now: clock.seconds, sub: "user_cookie" });
    expect(await body(await request("/auth/me", { headers: { authorization: ` ${token} `, cookie: `__client_uat=1; __session=${cookieToken}` } }))).toMatchObject({ userId: "user_bare" });
    // A bare value of another shape is not a session token: the cookie applies.
    expect(await body(await request("/auth/me", { headers: { authorization: "ak_opaque", cookie: `__client_uat=1; __session=${cookieToken}` } }))).toMatchObject({ userId: "user_cookie" });
    // A forged bare token is verified, and refused, like a Bearer one.
    const forged = `${token.slice(0, token.lastIndexOf("."))}${cookieToken.slice(cookieToken.lastIndexOf("."))}`;
    await expect401(await request("/auth/me", { headers: { authorization: forged } }), "token-invalid-signature");
  });

  it("two different __session cookies are ambiguous: token-invalid", async () => {
    const { clock, request } = setup();
    const a = await mint(key, { now: clock.seconds, sub: "a" });
    const b = await mint(key, { now: clock.seconds, sub: "b" });
    await expect401(await request("/auth/me", { headers: { cookie: `__client_uat=1; __session=${a}; __client_uat=1; __session=${b}` } }), "token-invalid");
  });

  it("a valid token for another Clerk instance (other issuer, other keys)", async () => {
    const { clock, withToken } = setup();
    const foreign = await newKey();
    const token = await mint(foreign, { now: clock.seconds, issuer: "https://other-instance.clerk.accounts.dev" });
    const response = await withToken(token);
    expect(response.status).toBe(401);
    expect(["jwk-kid-mismatch", "token-invalid-issuer"]).toContain((await body(response)).reason);
  });

  it("logs one line per rejection with the reason and kid, never the token", async () => {
    const { clock, withToken, logger } = setup();
    const token = await mint(key, { now: clock.seconds - 600 });
    await withToken(token);
    const lines = logger.events("auth.rejected");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reason: "token-expired", kid: key.kid, status: 401 });
    const serialised = JSON.stringify(logger.lines);
    expect(serialised).not.toContain(token);
    expect(serialised).not.toContain(token.split(".")[2]!);
  });
});

describe("networkless verification with CLERK_JWT_KEY", () => {
  async function pemOf(k: SigningKey) {
    const spki = await crypto.subtle.exportKey("spki", await crypto.subtle.importKey("jwk", k.publicJwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]));
    const b64 = btoa(String.fromCharCode(...new Uint8Array(spki as ArrayBuffer)));
    return `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----`;
  }

  it("verifies with no fetch at all, whatever the kid", async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    const pem = await pemOf(key);
    // Escaped newlines, as a PEM pasted into a dashboard variable often arrives.
    const h = harness({ CLERK_JWT_KEY: pem.replace(/\n/g, "\\n"), CLERK_ISSUER: ISSUER }, { fetch: origin.fetch, now: clock.now, kv: null });
    const response = await h.withToken(await mint(key, { now: clock.seconds, header: { kid: "ins_whatever" } }));
    expect(response.status).toBe(200);
    const other = await newKey();
    const bad = await h.withToken(await mint(other, { now: clock.seconds }));
    expect(await body(bad)).toMatchObject({ reason: "token-invalid-signature" });
    expect(origin.count).toBe(0);
    expect(await body(await h.health())).toMatchObject({ keys: { source: "jwt-key", state: "fresh" } });
  });

  it("a PEM that is well-formed but not a key answers misconfigured, naming CLERK_JWT_KEY", async () => {
    const clock = new Clock();
    const h = harness(
      { CLERK_JWT_KEY: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", CLERK_ISSUER: ISSUER },
      { now: clock.now, kv: null },
    );
    const response = await h.withToken(await mint(key, { now: clock.seconds }));
    await expectMisconfigured(response, h.logger, "CLERK_JWT_KEY", /^CLERK_JWT_KEY: is not a valid RS256 public key/);
  });
});

describe("CLERK_JWT_KEY for other algorithms and sizes", () => {
  const pemFrom = (spki: ArrayBuffer) => `-----BEGIN PUBLIC KEY-----\n${btoa(String.fromCharCode(...new Uint8Array(spki))).match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----`;

  it.each(["ES256", "ES512", "PS256", "EdDSA"])("%s: a token its PEM verifies is accepted, another key's is not", async (alg) => {
    const { SignJWT, exportSPKI, generateKeyPair } = await import("jose");
    const clock = new Clock();
    const pair = await generateKeyPair(alg, { extractable: true });
    const other = await generateKeyPair(alg, { extractable: true });
    const h = harness({ CLERK_JWT_KEY: await exportSPKI(pair.publicKey), CLERK_ISSUER: ISSUER, CLERK_ALGORITHMS: alg }, { now: clock.now, kv: null });
    const sign = (k: CryptoKey) =>
      new SignJWT({ sid: "sess_1", v: 2 }).setProtectedHeader({ alg, kid: "ins_pem", typ: "JWT" }).setIssuer(ISSUER).setSubject("user_1").setIssuedAt(clock.seconds).setNotBefore(clock.seconds - 5).setExpirationTime(clock.seconds + 60).sign(k);
    expect((await h.withToken(await sign(pair.privateKey as CryptoKey))).status).toBe(200);
    expect(await body(await h.withToken(await sign(other.privateKey as CryptoKey)))).toMatchObject({ reason: "token-invalid-signature" });
  });

  it("an RSA key under 2048 bits answers misconfigured, naming CLERK_JWT_KEY and its size", async () => {
    const clock = new Clock();
    const weak = (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const h = harness({ CLERK_JWT_KEY: pemFrom((await crypto.subtle.exportKey("spki", weak.publicKey)) as ArrayBuffer), CLERK_ISSUER: ISSUER }, { now: clock.now, kv: null });
    await expectMisconfigured(await h.withToken(await mint(key, { now: clock.seconds })), h.logger, "CLERK_JWT_KEY", /1024-bit RSA key/);
  });

  it("a PEM of another key type than CLERK_ALGORITHMS says answers misconfigured", async () => {
    const { exportSPKI, generateKeyPair } = await import("jose");
    const clock = new Clock();
    const ec = await generateKeyPair("ES256", { extractable: true });
    const h = harness({ CLERK_JWT_KEY: await exportSPKI(ec.publicKey), CLERK_ISSUER: ISSUER }, { now: clock.now, kv: null });
    await expectMisconfigured(await h.withToken(await mint(key, { now: clock.seconds })), h.logger, "CLERK_JWT_KEY", /is not a valid RS256 public key/);
  });
});

describe("other asymmetric algorithms, when configured", () => {
  it.each(["ES256", "ES384", "PS256", "PS512", "EdDSA"])("%s: a valid token is accepted, a tampered one is not", async (alg) => {
    const { SignJWT, exportJWK, generateKeyPair } = await import("jose");
    const pair = await generateKeyPair(alg, { extractable: true });
    const kid = `ins_${alg.toLowerCase()}`;
    const origin = new FakeOrigin();
    origin.keys = [{ kid, privateKey: pair.privateKey as CryptoKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } as SigningKey["publicJwk"] }];
    const clock = new Clock();
    const h = harness(uniqueJwksEnv({ CLERK_ALGORITHMS: alg }), { fetch: origin.fetch, now: clock.now, kv: null });
    const token = await new SignJWT({ sub: "user_alg", sid: "sess_1", v: 2 })
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .setIssuer(ISSUER)
      .setIssuedAt(clock.seconds)
      .setNotBefore(clock.seconds - 10)
      .setExpirationTime(clock.seconds + 60)
      .sign(pair.privateKey);
    const ok = await h.withToken(token);
    expect(ok.status).toBe(200);
    expect(await body(ok)).toMatchObject({ userId: "user_alg" });
    const [hd, p, s] = token.split(".") as [string, string, string];
    const other = s[5] === "A" ? "B" : "A";
    await expect401(await h.withToken(`${hd}.${p}.${s.slice(0, 5)}${other}${s.slice(6)}`), "token-invalid-signature");
    // RS256 tokens are no longer accepted once the allow-list is only this algorithm.
    await expect401(await h.withToken(await mint(key, { now: clock.seconds })), "token-invalid-algorithm");
  });
});

describe("the verified-token cache", () => {
  const identity = { userId: "user_1" } as never;
  const entry = (claimsBytes: number) => ({ identity, tokenClass: "session" as const, classBit: 1, aud: null, kid: "k", exp: 2e9, nbf: 0, iat: 0, claimsBytes });

  it("is bounded in bytes as well as entries: the oldest go first, and the size is kept exact", async () => {
    const { VerifiedTokenCache, entryBytes } = await import("../../src/verify/token-cache.js");
    const one = entryBytes("t".repeat(1000), entry(500));
    const cache = new VerifiedTokenCache(100, one * 3);
    for (let i = 0; i < 5; i++) cache.set(`${i}`.padEnd(1000, "t"), entry(500));
    // Five of the same size into a budget of three: entries 0 and 1 were evicted, not the newest.
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBe(one * 3);
    expect(cache.get("0".padEnd(1000, "t"))).toBeUndefined();
    expect(cache.get("4".padEnd(1000, "t"))).toBeDefined();
    // An entry twice the size makes room for itself (two of the oldest go); one bigger than the
    // whole budget is not held at all (rather than emptying the cache for it).
    cache.set("big".padEnd(1000, "t"), entry(500 + one));
    expect(cache.size).toBe(2);
    expect(cache.bytes).toBe(one * 3);
    expect(cache.get("4".padEnd(1000, "t"))).toBeDefined();
    cache.set("huge".padEnd(1000, "t"), entry(one * 3));
    expect(cache.get("huge".padEnd(1000, "t"))).toBeUndefined();
    expect(cache.stats()).toEqual({ entries: 2, bytes: one * 3, maxEntries: 100, maxBytes: one * 3 });
    // Re-setting a token replaces its entry without counting it twice; deleting frees its bytes.
    cache.set("big".padEnd(1000, "t"), entry(500));
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: one * 2 });
    cache.delete("big".padEnd(1000, "t"));
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: one });
    // The entry bound still holds on its own.
    const few = new VerifiedTokenCache(2, one * 100);
    for (let i = 0; i < 3; i++) few.set(`${i}`.padEnd(1000, "t"), entry(500));
    expect(few.stats()).toMatchObject({ entries: 2, bytes: one * 2 });
  });

  it("holds real tokens up to TOKEN_CACHE_MAX_BYTES, reported in /healthz detail and /metrics", async () => {
    const { clock, withToken, health, request } = setup({ TOKEN_CACHE_MAX_BYTES: "6000", METRICS_TOKEN: "metrics-secret-0123456789" });
    const tokens = [];
    for (let i = 0; i < 6; i++) tokens.push(await mint(key, { now: clock.seconds, sub: `user_${i}`, claims: { pad: "x".repeat(600) } }));
    for (const token of tokens) expect((await withToken(token)).status).toBe(200);
    const detail = (await body(await health())).tokenCache as { entries: number; bytes: number; maxEntries: number; maxBytes: number };
    expect(detail.maxBytes).toBe(6000);
    expect(detail.maxEntries).toBe(10_000);
    expect(detail.bytes).toBeLessThanOrEqual(6000);
    expect(detail.entries).toBeGreaterThan(0);
    expect(detail.entries).toBeLessThan(tokens.length);
    const metrics = await (await request("/metrics", { headers: { authorization: "Bearer metrics-secret-0123456789" } })).text();
    expect(metrics).toContain(`jwt_authn_jwt_cache_entries ${detail.entries}\n`);
    expect(metrics).toContain(`jwt_authn_jwt_cache_bytes ${detail.bytes}\n`);
    expect(metrics).toContain("# TYPE jwt_authn_jwt_cache_bytes gauge");
    // The oldest token was evicted but is still valid: verified again, not refused.
    expect((await withToken(tokens[0]!)).status).toBe(200);
    // Without the METRICS_TOKEN, /healthz says only its status.
    expect(await body(await request("/healthz"))).toEqual({ status: "ok" });
  });

  it("TOKEN_CACHE_MAX_BYTES and TOKEN_CACHE_MAX_ENTRIES are validated once, naming the variable", async () => {
    for (const [name, value, detail] of [
      ["TOKEN_CACHE_MAX_BYTES", "-1", /TOKEN_CACHE_MAX_BYTES/],
      ["TOKEN_CACHE_MAX_BYTES", "999999999", /between 0 and 67108864/],
      ["TOKEN_CACHE_MAX_ENTRIES", "lots", /TOKEN_CACHE_MAX_ENTRIES/],
    ] as const) {
      const { withToken, logger } = setup({ [name]: value });
      await expectMisconfigured(await withToken("x.y.z"), logger, name, detail);
    }
  });
});
