import { describe, expect, it } from "vitest";
import { exports } from "cloudflare:workers";
import { parsePublishableKey } from "../../src/verify/publishable-key.js";
import { expectMisconfigured, harness } from "./helpers.js";

describe("publishable key", () => {
  it("decodes pk_test_/pk_live_ into issuer and JWKS URL", () => {
    const key = `pk_test_${btoa("foo-bar-13.clerk.accounts.dev$")}`;
    expect(parsePublishableKey(key)).toEqual({
      instanceType: "test",
      frontendApiHost: "foo-bar-13.clerk.accounts.dev",
      issuer: "https://foo-bar-13.clerk.accounts.dev",
      jwksUrl: "https://foo-bar-13.clerk.accounts.dev/.well-known/jwks.json",
    });
    const live = parsePublishableKey(`pk_live_${btoa("clerk.example.com$").replace(/=+$/, "")}`);
    expect(live).toMatchObject({ instanceType: "live", issuer: "https://clerk.example.com" });
  });

  it.each([
    ["a secret key in its place", "sk_test_abc"],
    ["no $ terminator", `pk_test_${btoa("clerk.example.com")}`],
    ["a path smuggled into the host", `pk_test_${btoa("evil.example/x?$")}`],
    ["not base64", "pk_test_***"],
  ])("rejects %s", (_label, key) => {
    expect(() => parsePublishableKey(key)).toThrow(/CLERK_PUBLISHABLE_KEY/);
  });
});

describe("misconfiguration answers every request with 500 naming the variable", () => {
  const secret = "sk_live_SUPERSECRETVALUE123";
  it.each([
    ["no key source at all", {}, /no key source.*CLERK_JWT_KEY, CLERK_JWKS_URI, CLERK_PUBLISHABLE_KEY or CLERK_SECRET_KEY/],
    ["a secret key but no issuer", { CLERK_SECRET_KEY: secret }, /^CLERK_ISSUER: no issuer can be derived/],
    ["a plain-http JWKS URL on a public host", { CLERK_JWKS_URI: "http://clerk.example.com/.well-known/jwks.json", CLERK_ISSUER: "https://clerk.example.com" }, /^CLERK_JWKS_URI: must use https/],
    ["an unparsable JWKS URL", { CLERK_JWKS_URI: "not a url", CLERK_ISSUER: "https://clerk.example.com" }, /^CLERK_JWKS_URI: is not an absolute URL/],
    ["an unparsable publishable key", { CLERK_PUBLISHABLE_KEY: "pk_test_!!!" }, /^CLERK_PUBLISHABLE_KEY:/],
    ["an unparsable PEM", { CLERK_JWT_KEY: "-----BEGIN RSA PRIVATE KEY-----", CLERK_ISSUER: "https://clerk.example.com" }, /^CLERK_JWT_KEY: is not a PEM public key/],
    ["a non-number skew", { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: "https://c.example", CLERK_CLOCK_SKEW_MS: "5s" }, /^CLERK_CLOCK_SKEW_MS: must be a non-negative integer/],
    ["a symmetric algorithm", { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: "https://c.example", CLERK_ALGORITHMS: "RS256,HS256" }, /^CLERK_ALGORITHMS: "HS256"/],
    ["an authorized party that is not an origin", { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: "https://c.example", CLERK_AUTHORIZED_PARTIES: "https://app.example.com/path" }, /^CLERK_AUTHORIZED_PARTIES:/],
    ["a stale bound below the TTL", { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: "https://c.example", JWKS_CACHE_TTL_S: "600", JWKS_MAX_STALE_S: "60" }, /^JWKS_MAX_STALE_S:/],
    ["a malformed secret key", { CLERK_SECRET_KEY: "pk_test_not_a_secret SUPERSECRETVALUE123", CLERK_ISSUER: "https://c.example" }, /^CLERK_SECRET_KEY: is not a Clerk secret key/],
    // A [vars] value written without quotes reaches the Worker as a number or a boolean: refused by name, never ignored.
    ["an issuer that is not text", { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: 42 as unknown as string }, /^CLERK_ISSUER: must be a string, got a number/],
    ["a JWKS URL that is not text", { CLERK_JWKS_URI: true as unknown as string, CLERK_ISSUER: "https://c.example" }, /^CLERK_JWKS_URI: must be a string, got a boolean/],
  ])("%s", async (_label, env, message) => {
    const h = harness(env);
    const variable = h.gateway.configError!.variable;
    expect(message.source).toContain(variable);
    for (const path of ["/auth/me", "/healthz", "/anything"]) {
      const response = await h.request(path);
      expect(JSON.stringify(await response.clone().json())).not.toContain("SUPERSECRETVALUE123");
      await expectMisconfigured(response, h.logger, variable, message);
    }
    expect(h.logger.events("config.invalid")).toHaveLength(1);
    expect(h.logger.events("auth.rejected")).toHaveLength(3);
    expect(JSON.stringify(h.logger.lines)).not.toContain("SUPERSECRETVALUE123");
  });

  it("plain http is accepted for loopback JWKS hosts (local dev)", () => {
    const h = harness({ CLERK_JWKS_URI: "http://127.0.0.1:8790/.well-known/jwks.json", CLERK_ISSUER: "http://127.0.0.1:8790" });
    expect(h.gateway.configError).toBeUndefined();
    expect(h.gateway.config!.keySource).toEqual({ kind: "jwks-uri", url: "http://127.0.0.1:8790/.well-known/jwks.json" });
  });

  it("unquoted [vars] (numbers, booleans, arrays: wrangler passes TOML values as JSON) are read as the type they mean, never ignored", async () => {
    const { createGateway } = await import("../../src/gateway/app.js");
    const typed = {
      CLERK_JWKS_URI: "https://c.example/jwks",
      CLERK_ISSUER: "https://c.example",
      JWKS_CACHE_TTL_S: 120,
      JWKS_MAX_STALE_S: 3600,
      CLERK_AUTHORIZED_PARTIES: ["https://app.example.com", "https://admin.example.com"],
      MASTRA_URL: "https://mastra.example.com",
      UPSTREAM_TIMEOUT_MS: 5000,
      FORWARD_AUTHORIZATION: false,
    } as unknown as Record<string, string>;
    const gateway = createGateway(typed, { logger: { log() {} } });
    expect(gateway.configError).toBeUndefined();
    expect(gateway.config!.jwks).toMatchObject({ cacheTtlS: 120, maxStaleS: 3600 });
    expect(gateway.config!.authorizedParties).toEqual(["https://app.example.com", "https://admin.example.com"]);
    expect(gateway.policy!.proxy).toMatchObject({ timeoutMs: 5000, forwardAuthorization: false });
  });

  it.each([
    ["a TTL given as an object", { JWKS_CACHE_TTL_S: { s: 600 } }, "JWKS_CACHE_TTL_S", /must be a non-negative integer, got an object/],
    ["a negative number", { JWKS_MAX_STALE_S: -1 }, "JWKS_MAX_STALE_S", /must be a non-negative integer, got -1/],
    ["a fractional number", { CLERK_CLOCK_SKEW_MS: 1.5 }, "CLERK_CLOCK_SKEW_MS", /must be a non-negative integer, got 1.5/],
    ["a list with a number in it", { CLERK_AUTHORIZED_PARTIES: ["https://app.example.com", 3] }, "CLERK_AUTHORIZED_PARTIES", /array of strings/],
    ["a boolean given as a number", { FORWARD_AUTHORIZATION: 2, MASTRA_URL: "https://mastra.example.com" }, "FORWARD_AUTHORIZATION", /must be true or false, got a number/],
  ])("a typed [vars] value of the wrong type is refused by name: %s", async (_label, vars, variable, message) => {
    const { createGateway } = await import("../../src/gateway/app.js");
    const lines: { event: string; variable?: string; message?: string }[] = [];
    const env = { CLERK_JWKS_URI: "https://c.example/jwks", CLERK_ISSUER: "https://c.example", ...vars } as unknown as Record<string, string>;
    const gateway = createGateway(env, { logger: { log: (_level: string, event: string, fields?: Record<string, unknown>) => void lines.push({ event, ...fields }) } });
    expect(gateway.configError?.variable).toBe(variable);
    expect(gateway.configError?.message).toMatch(message);
    expect(lines.find((l) => l.event === "config.invalid")?.variable).toBe(variable);
  });

  it("the shipped wrangler.toml alone is a misconfiguration that says what to set", async () => {
    const { createGateway } = await import("../../src/gateway/app.js");
    // The [vars] of wrangler.toml without the test bindings: no key source.
    const gateway = createGateway({ CLERK_CLOCK_SKEW_MS: "5000", JWKS_CACHE_TTL_S: "600", JWKS_MAX_STALE_S: "86400", JWKS_REFETCH_COOLDOWN_S: "30" }, { logger: { log() {} } });
    expect(gateway.configError?.variable).toBe("CLERK_PUBLISHABLE_KEY");
  });
});

describe("the Worker entry point", () => {
  it("serves /healthz without a token and 401 elsewhere", async () => {
    // Public, status only: the details (source, kids, ages) need METRICS_TOKEN. No key was needed
    // yet and no load failed: ok (a probe never makes the gateway fetch).
    const health = await exports.default.fetch("https://gateway.test/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const me = await exports.default.fetch("https://gateway.test/auth/me");
    expect(me.status).toBe(401);
    const other = await exports.default.fetch("https://gateway.test/nope");
    expect(other.status).toBe(401);
  });
});
