// Issue #11 §3, the second line of defence: MastraAuthGateway and MastraAuthClerk enforce AUTH_RULES
// in-process with the gateway's compiled rules, and mastraRulesMiddleware resolves the agent a
// request names as Mastra does (key, id, sub-agent key) so a rule holds on every spelling.

import { describe, expect, it } from "vitest";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";
import type { RouteRequest } from "../../src/routes/selector.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };

const identityOf = (role: string | null) =>
  toIdentity({ sub: "user_1", iss: "https://clerk.example.com", exp: 2e9, iat: 1e9, ...(role ? { org_id: "org_acme", org_role: `org:${role}` } : {}) } as ClerkClaims);

describe("selectors: a target is selected by any of its names", () => {
  it("a rule naming weatherAgent holds on `helper` when the request knows helper is weatherAgent; not otherwise", () => {
    const rules = compileRules([ADMINS_ONLY]);
    const member = identityOf("member");
    const path = "/api/agents/helper/generate";
    expect(evaluateRules(rules, "POST", path, member)).toEqual({ allowed: true, rule: null });
    const aliased: RouteRequest = { method: "POST", path, aliases: (kind, name) => (kind === "agent" && name === "helper" ? ["helper", "weather-agent"] : undefined) };
    expect(evaluateRules(rules, "POST", path, member, aliased)).toEqual({ allowed: false, reason: "org-role-not-allowed", rule: "admins-only" });
    const other: RouteRequest = { method: "POST", path, aliases: () => ["travel-agent"] };
    expect(evaluateRules(rules, "POST", path, member, other)).toEqual({ allowed: true, rule: null });
    expect(evaluateRules(rules, "POST", path, identityOf("admin"), { ...aliased, classified: undefined })).toEqual({ allowed: true, rule: "admins-only" });
  });
});
