// Clerk's billing and step-up claims (pla, fea, fva) and impersonation (act), checked as Clerk's
// own has() checks them: tables for the pure checks, the rules that use them, and a differential
// against @clerk/shared's createCheckAuthorization on generated claims.

import fc from "fast-check";
import { isReverificationHint, reverificationError } from "@clerk/shared/authorization-errors";
import { describe, expect, it } from "vitest";
import {
  checkScopedName,
  claimHas,
  compileReverification,
  REVERIFICATION_PRESETS,
  reverificationSatisfied,
  splitByScope,
  type ReverificationConfig,
} from "../../src/authorize/clerk-claims.js";
import { actorId, isImpersonated } from "../../src/identity/actor.js";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import { ConfigError } from "../../src/core/errors.js";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";
import { forbidden } from "../../src/http/responses.js";
import { clerkHas } from "../support/clerk-has.js";
import { fcParams } from "../support/fast-check.js";

describe("claimHas: Clerk's has({ plan }) / has({ feature }) over pla / fea", () => {
  it.each<[unknown, string, boolean]>([
    ["u:pro", "pro", true],
    ["u:pro", "u:pro", true],
    ["u:pro", "user:pro", true],
    ["u:pro", "o:pro", false],
    ["o:team", "o:team", true],
    ["o:team", "org:team", true],
    ["o:team", "organization:team", true],
    ["o:team", "u:team", false],
    ["o:team", "team", true],
    ["ou:both", "u:both", true],
    ["uo:both", "o:both", true],
    ["x:pro", "pro", false],
    ["u:free,o:team", "u:team", false],
    [" u:free , o:team ", "team", true],
    // One element without a colon: Clerk cannot read the claim, so it holds nothing.
    ["u:free,broken", "free", false],
    ["u:pro:extra", "pro", false],
    ["u:pro:extra", "pro:extra", false], // "pro" is no scope (a name the rules refuse to compile)
    ["", "pro", false],
    [undefined, "pro", false],
    [["u:pro"], "pro", false],
    [42, "pro", false],
  ])("%j has %s → %s", (claim, required, expected) => {
    expect(claimHas(claim, required)).toBe(expected);
    // Clerk agrees (a non-string claim reaches has() as @clerk/backend passes it: `claim || ""`).
    expect(clerkHas({ pla: claim })({ plan: required })).toBe(expected);
    expect(clerkHas({ fea: claim })({ feature: required })).toBe(expected);
  });

  it("splitByScope is Clerk's", () => {
    expect(splitByScope("u:a, o:b,ou:c,uo:d,z:e")).toEqual({ user: ["a", "c", "d"], org: ["b", "c", "d"] });
    expect(() => splitByScope("u:a,b")).toThrow(/missing colon/);
  });

  it.each<[string, boolean]>([
    ["pro", true],
    ["u:pro", true],
    ["user:pro", true],
    ["o:team", true],
    ["org:team", true],
    ["organization:team", true],
    ["x:pro", false],
    [":pro", false],
    ["o:", false],
    ["o:a:b", false],
    ["a,b", false],
    ["a b", false],
  ])("a configured name %j is valid: %s", (name, valid) => {
    expect(checkScopedName("plan", name) === null).toBe(valid);
  });
});

describe("reverification: Clerk's has({ reverification }) over fva", () => {
  it.each<[unknown, ReverificationConfig | null]>([
    ["strict_mfa", { level: "multi_factor", afterMinutes: 10 }],
    ["strict", { level: "second_factor", afterMinutes: 10 }],
    ["moderate", { level: "second_factor", afterMinutes: 60 }],
    ["lax", { level: "second_factor", afterMinutes: 1440 }],
    [5, { level: "second_factor", afterMinutes: 5 }],
    [0.5, { level: "second_factor", afterMinutes: 0.5 }],
    [{ level: "first_factor", afterMinutes: 30 }, { level: "first_factor", afterMinutes: 30 }],
    ["sometimes", null],
    ["toString", null],
    ["", null],
    [0, null],
    [-5, null],
    [Number.NaN, null],
    [Number.POSITIVE_INFINITY, null],
    [{ level: "third_factor", afterMinutes: 5 }, null],
    [{ level: "first_factor", afterMinutes: 0 }, null],
    [{ level: "first_factor" }, null],
    [{ level: "first_factor", afterMinutes: 5, extra: 1 }, null],
    [["strict"], null],
    [null, null],
    [true, null],
  ])("%j compiles to %j", (value, expected) => {
    const compiled = compileReverification(value);
    if (expected === null) expect(typeof compiled).toBe("string");
    else expect(compiled).toEqual(expected);
  });

  // [fva, strict_mfa, strict, moderate, lax, first_factor within 10]
  it.each<[unknown, boolean, boolean, boolean, boolean, boolean]>([
    [[0, 0], true, true, true, true, true],
    [[9, 9], true, true, true, true, true],
    [[10, 10], false, false, true, true, false],
    [[0, -1], true, true, true, true, true], // no second factor: the first is judged
    [[30, -1], false, false, true, true, false],
    [[-1, 0], false, true, true, true, false], // only a second factor: multi_factor fails
    [[0, 30], false, false, true, true, true], // first fresh, second stale
    [[30, 0], false, true, true, true, false],
    [[100, 2000], false, false, false, false, false],
    [[1439, -1], false, false, false, true, false],
    [[-1, -1], false, false, false, false, false],
    [[1.5, 1.5], true, true, true, true, true],
    [[-2, 0], false, false, false, false, false],
    [[0], false, false, false, false, false],
    [[0, 0, 0], false, false, false, false, false],
    [["0", 0], false, false, false, false, false],
    [null, false, false, false, false, false],
    [undefined, false, false, false, false, false],
    ["0,0", false, false, false, false, false],
  ])("fva %j", (fva, strictMfa, strict, moderate, lax, first) => {
    const cases: [ReverificationConfig, boolean][] = [
      [REVERIFICATION_PRESETS.strict_mfa, strictMfa],
      [REVERIFICATION_PRESETS.strict, strict],
      [REVERIFICATION_PRESETS.moderate, moderate],
      [REVERIFICATION_PRESETS.lax, lax],
      [{ level: "first_factor", afterMinutes: 10 }, first],
    ];
    for (const [config, expected] of cases) {
      expect([config, reverificationSatisfied(fva, config)]).toEqual([config, expected]);
      expect([config, clerkHas({ fva })({ reverification: config })]).toEqual([config, expected]);
    }
  });

  it("the 403 carries Clerk's reverification hint, as its front end reads it", async () => {
    const config = REVERIFICATION_PRESETS.strict;
    const response = forbidden("reverification-required", "step-up", config);
    expect(response.status).toBe(403);
    const json = (await response.json()) as Record<string, unknown>;
    expect(isReverificationHint(json)).toBe(true);
    expect(json).toEqual({ error: "forbidden", reason: "reverification-required", rule: "step-up", ...reverificationError(config) });
    expect((await forbidden("plan-not-allowed", 0).json()) as object).not.toHaveProperty("clerk_error");
  });
});

describe("impersonation: act", () => {
  it.each<[unknown, boolean, string | null]>([
    [undefined, false, null],
    [null, false, null],
    [{ sub: "user_admin" }, true, "user_admin"],
    [{ sub: "user_admin", iss: "https://dashboard.clerk.com", sid: "sess_1" }, true, "user_admin"],
    [{}, true, null],
    [{ sub: 5 }, true, null],
    ["user_admin", true, null],
  ])("act %j: impersonated %s, actor %s", (act, impersonated, actor) => {
    const claims = act === undefined ? {} : { act };
    expect(isImpersonated(claims)).toBe(impersonated);
    expect(actorId(claims)).toBe(actor);
  });
});

function identity(claims: Record<string, unknown>) {
  return toIdentity({ sub: "user_1", iss: "x", exp: 0, iat: 0, nbf: 0, v: 2, ...claims } as ClerkClaims);
}

describe("AUTH_RULES: plans, features, reverification, notImpersonated", () => {
  const rules = compileRules([
    { id: "paid", path: "/api/paid/*", require: { plans: ["u:pro", "o:team"] } },
    { id: "export", path: "/api/export/*", require: { features: ["export", "o:audit"] } },
    { id: "step-up", path: "/api/danger/*", require: { reverification: "strict" } },
    { id: "minutes", path: "/api/recent/*", require: { reverification: 5 } },
    { id: "own", path: "/api/own/*", require: { notImpersonated: true } },
    { id: "all", path: "/api/all/*", require: { orgRoles: ["admin"], plans: ["pro"], features: ["export"], notImpersonated: true, reverification: "moderate" } },
  ]);

  it.each<[string, Record<string, unknown>, string | null]>([
    ["/api/paid/x", { pla: "u:pro" }, null],
    ["/api/paid/x", { pla: "o:team" }, null],
    ["/api/paid/x", { pla: "o:pro" }, "plan-not-allowed"],
    ["/api/paid/x", { pla: "u:team" }, "plan-not-allowed"],
    ["/api/paid/x", {}, "plan-not-allowed"],
    ["/api/export/x", { fea: "u:export,o:audit" }, null],
    ["/api/export/x", { fea: "o:export,ou:audit" }, null],
    ["/api/export/x", { fea: "u:export" }, "feature-missing:o:audit"],
    ["/api/export/x", { fea: "o:audit" }, "feature-missing:export"],
    ["/api/danger/x", { fva: [0, 5] }, null],
    ["/api/danger/x", { fva: [0, 15] }, "reverification-required"],
    ["/api/danger/x", {}, "reverification-required"],
    ["/api/recent/x", { fva: [4, -1] }, null],
    ["/api/recent/x", { fva: [5, -1] }, "reverification-required"],
    ["/api/own/x", {}, null],
    ["/api/own/x", { act: { sub: "user_support" } }, "impersonated"],
    // Reverification is checked last: re-verifying would not cure a missing plan.
    ["/api/all/x", { o: { id: "org_1", rol: "admin" }, pla: "u:pro", fea: "u:export", fva: [0, 0] }, null],
    ["/api/all/x", { o: { id: "org_1", rol: "admin" }, pla: "u:free", fea: "u:export", fva: [999, 999] }, "plan-not-allowed"],
    ["/api/all/x", { o: { id: "org_1", rol: "admin" }, pla: "u:pro", fea: "u:export", fva: [999, 999], act: { sub: "u" } }, "impersonated"],
    ["/api/all/x", { o: { id: "org_1", rol: "admin" }, pla: "u:pro", fea: "u:export", fva: [999, 999] }, "reverification-required"],
  ])("%s with %j → %s", (path, claims, reason) => {
    const decision = evaluateRules(rules, "GET", path, identity(claims));
    if (reason === null) expect(decision.allowed).toBe(true);
    else expect(decision).toMatchObject({ allowed: false, reason });
  });

  it("docs/authorization.md's example compiles", () => {
    const example = compileRules([
      { id: "pro", agents: ["researchAgent"], require: { plans: ["u:pro", "o:team"], features: ["o:deep_research"] } },
      { id: "step-up", resources: ["memory"], actions: ["delete"], require: { reverification: "strict" } },
      { id: "no-support", resources: ["memory"], require: { notImpersonated: true } },
    ]);
    expect(example.map((r) => r.require.reverification)).toEqual([null, { level: "second_factor", afterMinutes: 10 }, null]);
  });

  it("a reverification refusal says what to ask for; others do not", () => {
    expect(evaluateRules(rules, "GET", "/api/danger/x", identity({ fva: [0, 15] }))).toEqual({
      allowed: false,
      reason: "reverification-required",
      rule: "step-up",
      reverification: { level: "second_factor", afterMinutes: 10 },
    });
    expect(evaluateRules(rules, "GET", "/api/paid/x", identity({}))).toEqual({ allowed: false, reason: "plan-not-allowed", rule: "paid" });
  });

  it.each<[Record<string, unknown>, RegExp]>([
    [{ plans: [] }, /rule "bad": plans must be a non-empty array/],
    [{ features: [""] }, /rule "bad": features must be a non-empty array/],
    [{ plans: "pro" }, /rule "bad": plans must be a non-empty array/],
    [{ plans: ["x:pro"] }, /rule "bad": plan "x:pro": unknown scope/],
    [{ features: ["o:"] }, /rule "bad": feature "o:" names nothing/],
    [{ features: ["a,b"] }, /rule "bad": feature "a,b" may not contain/],
    [{ reverification: "sometimes" }, /rule "bad": reverification "sometimes" is not/],
    [{ reverification: -5 }, /rule "bad": reverification minutes must be a positive number/],
    [{ reverification: 0 }, /rule "bad": reverification minutes must be a positive number/],
    [{ reverification: { level: "x", afterMinutes: 5 } }, /rule "bad": reverification level/],
    [{ reverification: null }, /rule "bad": reverification must be/],
    [{ notImpersonated: false }, /rule "bad": notImpersonated may only be true/],
  ])("misconfiguration %j names the rule", (require, message) => {
    let error: unknown;
    try {
      compileRules([{ id: "bad", path: "/api/x", require }]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(message);
  });
});

describe("differential: the rules against @clerk/shared's createCheckAuthorization", () => {
  const SCOPES = ["u", "o", "ou", "uo", "x", ""];
  const NAMES = ["pro", "team", "free", "export", "a-b"];
  const element = fc.oneof(
    { weight: 9, arbitrary: fc.tuple(fc.constantFrom(...SCOPES), fc.constantFrom(...NAMES), fc.constantFrom("", " ")).map(([s, n, pad]) => `${pad}${s}:${n}${pad}`) },
    { weight: 1, arbitrary: fc.constantFrom(...NAMES) },
  );
  const claim = fc.oneof(fc.constant(undefined), fc.constant(""), fc.array(element, { maxLength: 4 }).map((parts) => parts.join(",")));
  const required = fc.tuple(fc.constantFrom("", "u:", "user:", "o:", "org:", "organization:"), fc.constantFrom(...NAMES)).map(([s, n]) => `${s}${n}`);
  const age = fc.oneof(fc.constant(-1), fc.constant(-2), fc.integer({ min: 0, max: 2000 }), fc.double({ min: 0, max: 100, noNaN: true }));
  const fva = fc.oneof({ weight: 8, arbitrary: fc.tuple(age, age) }, { weight: 1, arbitrary: fc.constantFrom(undefined, null, [0], [0, 0, 0]) });
  const reverification = fc.oneof(
    fc.constantFrom<unknown>("strict_mfa", "strict", "moderate", "lax"),
    fc.integer({ min: 1, max: 2000 }),
    fc.record({ level: fc.constantFrom("first_factor", "second_factor", "multi_factor"), afterMinutes: fc.integer({ min: 1, max: 2000 }) }),
  );

  it("plans (any of), features (all of) and reverification agree with has()", () => {
    fc.assert(
      fc.property(claim, claim, fva, fc.array(required, { minLength: 1, maxLength: 3 }), fc.array(required, { minLength: 1, maxLength: 3 }), reverification, (pla, fea, fvaClaim, plans, features, rev) => {
        const claims: Record<string, unknown> = {};
        if (pla !== undefined) claims.pla = pla;
        if (fea !== undefined) claims.fea = fea;
        if (fvaClaim !== undefined) claims.fva = fvaClaim;
        const has = clerkHas(claims);
        const clerkRev = typeof rev === "number" ? { level: "second_factor" as const, afterMinutes: rev } : (rev as Parameters<typeof has>[0]["reverification"]);
        const id = identity(claims);
        const [planRule, featureRule, revRule] = compileRules([
          { path: "/p", require: { plans } },
          { path: "/f", require: { features } },
          { path: "/r", require: { reverification: rev as number } },
        ]);
        expect(evaluateRules([planRule!], "GET", "/p", id).allowed).toBe(plans.some((plan) => has({ plan })));
        expect(evaluateRules([featureRule!], "GET", "/f", id).allowed).toBe(features.every((feature) => has({ feature })));
        expect(evaluateRules([revRule!], "GET", "/r", id).allowed).toBe(has({ reverification: clerkRev }));
      }),
      fcParams("clerk has() differential", 3000),
    );
  });
});
