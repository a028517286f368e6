import { describe, expect, it } from "vitest";
import { normalizePath, PathError } from "../../src/paths/normalize.js";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import { parsePublicPaths, isPublic } from "../../src/authorize/public-paths.js";
import { ConfigError } from "../../src/core/errors.js";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";

describe("normalizePath", () => {
  it.each([
    ["/api/agents", "/api/agents"],
    ["/api//agents", "/api/agents"],
    ["//api///agents//", "/api/agents/"],
    ["/api/./agents", "/api/agents"],
    ["/api/auth/../agents", "/api/agents"],
    ["/api/auth/%2e%2e/agents", "/api/agents"],
    ["/api/auth/%2E%2e/agents", "/api/agents"],
    ["/api/auth/.%2e/agents", "/api/agents"],
    ["/%61pi/%41gents", "/api/Agents"],
    ["/../../etc/passwd", "/etc/passwd"],
    ["/api/agents/a%20b", "/api/agents/a%20b"],
    ["/api/agents/a%3fb", "/api/agents/a%3Fb"],
    ["/", "/"],
    ["/..", "/"],
  ])("%s → %s", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it.each(["/api/auth/..%2Fagents", "/api/agents%2fsecret", "/api%5Cagents", "/api\\agents", "/api/%00", "/api/%zz", "/api/%4"])(
    "%s is refused",
    (input) => {
      expect(() => normalizePath(input)).toThrow(PathError);
    },
  );
});

function identity(claims: Partial<ClerkClaims> & Record<string, unknown>) {
  return toIdentity({ sub: "user_1", iss: "x", exp: 0, iat: 0, nbf: 0, ...claims } as ClerkClaims);
}

describe("AUTH_RULES", () => {
  const rules = compileRules(
    JSON.stringify([
      { id: "blocked", path: "/api/agents/legacy*", allow: false },
      { id: "admins", path: ["/api/agents/secretAgent*", "/api/agents/secret-agent*"], methods: ["POST"], require: { orgRoles: ["admin"] } },
      { path: "/api/billing/*", require: { orgPermissions: ["org:billing:read", "org:billing:manage"] } },
      { id: "acme", path: "/api/acme/*", require: { orgIds: ["org_acme"], emailVerified: true } },
      { id: "vip", path: "/api/vip", require: { userIds: ["user_vip"], claims: { plan: ["pro", "enterprise"], "metadata.tier": 2 } } },
      { id: "reads", path: "/api/reports*", methods: ["GET"], require: { orgRoles: ["org:viewer", "member"] } },
    ]),
  );
  const member = identity({ v: 2, o: { id: "org_acme", rol: "member" } });
  const admin = identity({ v: 2, o: { id: "org_acme", rol: "admin" } });

  it("no matching rule: every authenticated user is allowed", () => {
    expect(evaluateRules(rules, "GET", "/api/agents", member)).toEqual({ allowed: true, rule: null });
  });

  it("allow: false denies outright", () => {
    expect(evaluateRules(rules, "GET", "/api/agents/legacyAgent", admin)).toEqual({ allowed: false, reason: "rule-denies", rule: "blocked" });
  });

  it("a prefix pattern covers every continuation, and a rule lists both agent spellings", () => {
    for (const path of ["/api/agents/secretAgent/generate", "/api/agents/secret-agent/stream"]) {
      expect(evaluateRules(rules, "POST", path, member)).toEqual({ allowed: false, reason: "org-role-not-allowed", rule: "admins" });
      expect(evaluateRules(rules, "POST", path, admin)).toEqual({ allowed: true, rule: "admins" });
    }
    // Methods narrow the rule: a GET does not match it.
    expect(evaluateRules(rules, "GET", "/api/agents/secretAgent", member).allowed).toBe(true);
  });

  it("roles written with or without org: mean the same; GET rules cover HEAD", () => {
    const viewer = identity({ org_id: "org_1", org_role: "org:member" });
    expect(evaluateRules(rules, "HEAD", "/api/reports/q3", viewer)).toEqual({ allowed: true, rule: "reads" });
    expect(evaluateRules(rules, "GET", "/api/reports/q3", identity({}))).toMatchObject({ allowed: false, reason: "org-role-not-allowed" });
  });

  it("orgPermissions are all-of, and the rule without an id is named by its index", () => {
    const some = identity({ org_id: "o", org_permissions: ["org:billing:read"] });
    const all = identity({ org_id: "o", org_permissions: ["org:billing:read", "org:billing:manage"] });
    expect(evaluateRules(rules, "GET", "/api/billing/x", some)).toEqual({ allowed: false, reason: "org-permission-missing", rule: 2 });
    expect(evaluateRules(rules, "GET", "/api/billing/x", all).allowed).toBe(true);
  });

  it("orgIds and emailVerified", () => {
    expect(evaluateRules(rules, "GET", "/api/acme/x", member)).toMatchObject({ reason: "email-not-verified" });
    const verified = identity({ v: 2, o: { id: "org_acme", rol: "member" }, email_verified: true });
    expect(evaluateRules(rules, "GET", "/api/acme/x", verified).allowed).toBe(true);
    const other = identity({ v: 2, o: { id: "org_other", rol: "admin" }, email_verified: true });
    expect(evaluateRules(rules, "GET", "/api/acme/x", other)).toMatchObject({ reason: "org-not-allowed" });
  });

  it("userIds and claims (any-of values, dotted paths)", () => {
    const vip = identity({ sub: "user_vip", plan: "pro", metadata: { tier: 2 } });
    expect(evaluateRules(rules, "GET", "/api/vip", vip).allowed).toBe(true);
    expect(evaluateRules(rules, "GET", "/api/vip", identity({ sub: "user_vip", plan: "free", metadata: { tier: 2 } }))).toMatchObject({ reason: "claim-mismatch:plan" });
    expect(evaluateRules(rules, "GET", "/api/vip", identity({ sub: "user_vip", plan: "pro" }))).toMatchObject({ reason: "claim-mismatch:metadata.tier" });
    expect(evaluateRules(rules, "GET", "/api/vip", identity({ sub: "user_x", plan: "pro", metadata: { tier: 2 } }))).toMatchObject({ reason: "user-not-allowed" });
  });

  it("a claim path cannot reach the prototype chain", () => {
    const [rule] = compileRules([{ path: "/x", require: { claims: { "constructor.name": "Object" } } }]);
    expect(evaluateRules([rule!], "GET", "/x", identity({}))).toMatchObject({ allowed: false });
  });

  it("first matching rule wins", () => {
    const ordered = compileRules([
      { id: "first", path: "/api/*", allow: false },
      { id: "second", path: "/api/open" },
    ]);
    expect(evaluateRules(ordered, "GET", "/api/open", admin)).toMatchObject({ allowed: false, rule: "first" });
  });

  it.each([
    ["invalid JSON", "[{", /AUTH_RULES: is not valid JSON/],
    ["not an array", '{"path":"/x"}', /must be a JSON array/],
    ["an unknown key", '[{"id":"r1","path":"/x","requires":{}}]', /rule "r1": unknown key "requires"/],
    ["an unknown requirement", '[{"path":"/x","require":{"orgRole":["admin"]}}]', /rule #0: unknown requirement "orgRole"/],
    ["a pattern without a leading slash", '[{"path":"api/x"}]', /rule #0: pattern "api\/x" must start with/],
    ["a star inside a segment", '[{"id":"mid","path":"/api/a*b"}]', /rule "mid":/],
    ["a non-normalised pattern", '[{"path":"/api/../x"}]', /not a normalised path/],
    ["allow: true", '[{"path":"/x","allow":true}]', /allow may only be false/],
    ["an empty role list", '[{"path":"/x","require":{"orgRoles":[]}}]', /orgRoles must be a non-empty array/],
    ["a bad method", '[{"path":"/x","methods":["G ET"]}]', /is not an HTTP method/],
  ])("misconfiguration: %s", (_label, json, message) => {
    let caught: unknown;
    try {
      compileRules(json);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toMatch(/^AUTH_RULES: /);
    expect((caught as ConfigError).message).toMatch(message);
  });
});

describe("PUBLIC_PATHS", () => {
  const paths = parsePublicPaths("/api, /api/auth/*, GET /api/status");
  it.each([
    ["GET", "/api", true],
    ["POST", "/api", true],
    ["GET", "/api/", true],
    ["GET", "/api/auth/login", true],
    ["GET", "/api/status", true],
    ["HEAD", "/api/status", true],
    ["POST", "/api/status", false],
    ["GET", "/api/agents", false],
    ["GET", "/api/authx", false],
    ["GET", "/apix", false],
  ])("%s %s → %s", (method, path, expected) => {
    expect(isPublic(paths, method, path)).toBe(expected);
  });

  it("rejects malformed entries naming the variable", () => {
    expect(() => parsePublicPaths("api/x")).toThrow(/^PUBLIC_PATHS: /);
    expect(() => parsePublicPaths("GET POST /x")).toThrow(/^PUBLIC_PATHS: /);
  });
});
