import { ConfigError } from "../core/errors.js";
import type { Identity } from "../identity/identity.js";
import { isClaimPath, readClaim } from "../identity/claim-path.js";
import { jsonVar } from "../core/env.js";
import { compileSelector, matchSelector, selectsTargets, SELECTOR_KEYS, type RouteRequest, type RouteSelector, type EntrySelectors } from "../routes/selector.js";
import { routeTable, type RouteTable } from "../routes/table.js";
import { checkPermissionPattern, grantedPermissions, matchesPermission, type RolePermissions } from "./permissions.js";
import { checkScopedName, claimHas, compileReverification, reverificationSatisfied, REVERIFICATION_REQUIRED, type ReverificationConfig } from "./clerk-claims.js";
import { isImpersonated } from "../identity/actor.js";
import { parseAccepts, type TokenClass } from "../credentials/token-class.js";

/** What an authenticated user must satisfy on a matching request. Lists are any-of except `orgPermissions` (all-of). */
export interface RuleRequirements {
  /** The `email_verified` claim must be true (added through Clerk's session-token customisation). */
  emailVerified?: true;
  orgIds?: string[];
  /** Clerk roles; `admin` and `org:admin` mean the same. */
  orgRoles?: string[];
  /** Every one of these `org:<feature>:<permission>` must be held. */
  orgPermissions?: string[];
  userIds?: string[];
  /** Each named claim (a dotted path into the claims) must equal the value, or one of the values. */
  claims?: Record<string, unknown>;
  /**
   * Every one of these Mastra permission patterns (`agents:execute`, `memory:*`) must be granted
   * to the session by `ROLE_PERMISSIONS`.
   */
  permissions?: string[];
  /** One of these Clerk plans (`pla`), as Clerk's `has({ plan })`: `pro`, `u:pro`, `o:team`. */
  plans?: string[];
  /** Every one of these Clerk features (`fea`), as Clerk's `has({ feature })`: `export`, `o:sso`. */
  features?: string[];
  /**
   * Step-up over `fva`, as Clerk's `has({ reverification })`: `strict_mfa`, `strict`, `moderate`,
   * `lax`, a number of minutes (second factor), or `{ level, afterMinutes }`. Refused with the
   * 403 Clerk's front end reads as a reverification prompt.
   */
  reverification?: "strict_mfa" | "strict" | "moderate" | "lax" | number | ReverificationConfig;
  /** Refuse impersonated sessions (a token carrying `act`). */
  notImpersonated?: true;
  /**
   * Every one of these scopes must be granted to the machine credential (issue #13): an OAuth
   * token's `scp`/`scope`, an M2M token's `scopes`, an opaque token's or API key's `scopes`.
   * A session has none, so a rule requiring scopes admits machines only.
   */
  scopes?: string[];
}

/**
 * One entry of `AUTH_RULES`. The first rule whose selectors all match decides. A rule needs at
 * least one of `path`, `resources`, `actions`, `agents`, `workflows`, `tools` (see
 * {@link RouteSelector}): the last five are Mastra's vocabulary, matched through the route table,
 * so a rule about an agent holds on every route that runs it.
 */
export interface AuthRule extends EntrySelectors {
  id?: string;
  /** `false` denies every request the rule matches. */
  allow?: false;
  /**
   * The token classes accepted on the rule's routes (`session`, `m2m`, `oauth`, `api_key`, `any`),
   * instead of the gateway's `ACCEPTS`. A class not listed is refused 401 `token-type-mismatch`.
   */
  accepts?: string[];
  require?: RuleRequirements;
}

export interface CompiledRule {
  /** The rule's `id`, or its index in the array. */
  label: string | number;
  selector: RouteSelector;
  deny: boolean;
  /** Null: the gateway's default (`ACCEPTS`). */
  accepts: ReadonlySet<TokenClass> | null;
  require: Required<Omit<RuleRequirements, "emailVerified" | "claims" | "reverification" | "notImpersonated">> & {
    emailVerified: boolean;
    claims: [string, unknown[]][];
    reverification: ReverificationConfig | null;
    notImpersonated: boolean;
  };
  /** ROLE_PERMISSIONS, when the rule requires permissions. */
  rolePermissions: RolePermissions;
}

/** What rules are compiled against: the route table (default: Mastra's under `/api`) and ROLE_PERMISSIONS. */
export interface RuleOptions {
  table?: RouteTable;
  rolePermissions?: RolePermissions;
}

/** A refusal for want of reverification carries what Clerk's front end must ask for (`reverification`). */
export type Decision =
  | { allowed: true; rule: string | number | null }
  | { allowed: false; reason: string; rule: string | number; reverification?: ReverificationConfig };

const RULE_KEYS = new Set<string>(["id", ...SELECTOR_KEYS, "allow", "accepts", "require"]);
const REQUIRE_KEYS = new Set(["emailVerified", "orgIds", "orgRoles", "orgPermissions", "userIds", "claims", "permissions", "plans", "features", "reverification", "notImpersonated", "scopes"]);

/**
 * Validates `AUTH_RULES` once. Any problem — invalid JSON, an unknown key, a malformed pattern —
 * is a {@link ConfigError} that names the rule, so a typo can never silently open a route.
 */
export function compileRules(input: string | readonly AuthRule[] | undefined, variable = "AUTH_RULES", options: RuleOptions = {}): CompiledRule[] {
  if (input === undefined || (typeof input === "string" && input.trim() === "")) return [];
  const raw: unknown = typeof input === "string" ? jsonVar(input, variable, "a JSON array of rules") : input;
  if (!Array.isArray(raw)) throw new ConfigError(variable, "must be a JSON array of rules");
  const table = options.table ?? routeTable();
  return raw.map((rule, index) => compileRule(rule, index, variable, table, options.rolePermissions));
}

function compileRule(rule: unknown, index: number, variable: string, table: RouteTable, rolePermissions: RolePermissions | undefined): CompiledRule {
  const where = (label: string | number) => `rule ${typeof label === "number" ? `#${label}` : `"${label}"`}`;
  if (!rule || typeof rule !== "object" || Array.isArray(rule)) throw new ConfigError(variable, `rule #${index} is not an object`);
  const r = rule as Record<string, unknown>;
  if (r.id !== undefined && (typeof r.id !== "string" || r.id === "")) throw new ConfigError(variable, `rule #${index}: id must be a non-empty string`);
  const label: string | number = (r.id as string | undefined) ?? index;
  const fail = (message: string) => new ConfigError(variable, `${where(label)}: ${message}`);

  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) throw fail(`unknown key "${key}"`);

  const selector = compileSelector(r, table);
  if (typeof selector === "string") throw fail(selector);

  if (r.allow !== undefined && r.allow !== false) throw fail("allow may only be false (rules allow by their requirements)");
  const deny = r.allow === false;
  let accepts: ReadonlySet<TokenClass> | null = null;
  if (r.accepts !== undefined) {
    if (!Array.isArray(r.accepts)) throw fail("accepts must be an array of token classes (session, m2m, oauth, api_key, any)");
    try {
      accepts = parseAccepts(r.accepts, variable);
    } catch (error) {
      throw fail(`accepts: ${(error as Error).message.replace(`${variable}: `, "")}`);
    }
  }

  const req = (r.require ?? {}) as Record<string, unknown>;
  if (typeof req !== "object" || Array.isArray(req)) throw fail("require must be an object");
  for (const key of Object.keys(req)) if (!REQUIRE_KEYS.has(key)) throw fail(`unknown requirement "${key}"`);
  if (deny && Object.keys(req).length) throw fail("a rule with allow: false has nothing to require");
  if (req.emailVerified !== undefined && req.emailVerified !== true) throw fail("emailVerified may only be true");
  if (req.notImpersonated !== undefined && req.notImpersonated !== true) throw fail("notImpersonated may only be true");

  const list = (name: string): string[] => {
    const value = req[name];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "")) {
      throw fail(`${name} must be a non-empty array of strings`);
    }
    return value as string[];
  };

  let claims: [string, unknown[]][] = [];
  if (req.claims !== undefined) {
    if (!req.claims || typeof req.claims !== "object" || Array.isArray(req.claims) || Object.keys(req.claims).length === 0) {
      throw fail("claims must be an object of claim name → value or [values]");
    }
    claims = Object.entries(req.claims as Record<string, unknown>).map(([name, value]) => {
      if (!isClaimPath(name)) throw fail(`claim name "${String(name).slice(0, 40)}" is not a claim path`);
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0) throw fail(`claim "${name}" lists no value`);
      return [name, values];
    });
  }

  const permissions = list("permissions");
  for (const p of permissions) {
    const problem = checkPermissionPattern(p, table);
    if (problem) throw fail(problem);
  }
  if (permissions.length && !rolePermissions?.size) throw fail("require.permissions needs ROLE_PERMISSIONS (Clerk role → Mastra permissions)");

  const plans = list("plans");
  const features = list("features");
  for (const p of plans) {
    const problem = checkScopedName("plan", p);
    if (problem) throw fail(problem);
  }
  for (const f of features) {
    const problem = checkScopedName("feature", f);
    if (problem) throw fail(problem);
  }
  let reverification: ReverificationConfig | null = null;
  if (req.reverification !== undefined) {
    const compiled = compileReverification(req.reverification);
    if (typeof compiled === "string") throw fail(compiled);
    reverification = compiled;
  }

  return {
    label,
    selector,
    deny,
    accepts,
    rolePermissions: rolePermissions ?? new Map(),
    require: {
      emailVerified: req.emailVerified === true,
      orgIds: list("orgIds"),
      orgRoles: list("orgRoles").map(toClerkRole),
      orgPermissions: list("orgPermissions"),
      userIds: list("userIds"),
      claims,
      permissions,
      plans,
      features,
      reverification,
      notImpersonated: req.notImpersonated === true,
      scopes: list("scopes"),
    },
  };
}

/** The first rule matching the request, or undefined. */
export function findRule(rules: readonly CompiledRule[], method: string, path: string, request: RouteRequest = { method, path }): CompiledRule | undefined {
  for (const rule of rules) if (matchSelector(rule.selector, request)) return rule;
  return undefined;
}

/** Every class some rule (or the default) accepts: what may be verified before the deciding rule is known. */
export function acceptedAnywhere(rules: readonly CompiledRule[], fallback: ReadonlySet<TokenClass>): ReadonlySet<TokenClass> {
  const all = new Set(fallback);
  for (const rule of rules) if (rule.accepts) for (const c of rule.accepts) all.add(c);
  return all;
}

/** Some rule names agents, workflows or tools: a route naming its target in the body needs it read first. */
export function rulesSelectTargets(rules: readonly CompiledRule[]): boolean {
  return rules.some((r) => selectsTargets(r.selector));
}

/**
 * Decides one request. No matching rule: every authenticated user is allowed (the seeds' default
 * `authorizeUser`). The failed requirement is the reason, so a 403 says what was missing.
 * `request` carries the request's route classification when the caller already has it.
 */
export function evaluateRules(rules: readonly CompiledRule[], method: string, path: string, identity: Identity, request?: RouteRequest): Decision {
  return decideRule(findRule(rules, method, path, request), identity);
}

/** {@link evaluateRules} once the deciding rule (or none) is known. */
export function decideRule(rule: CompiledRule | undefined, identity: Identity): Decision {
  if (!rule) return { allowed: true, rule: null };
  const reason = checkRequirements(rule, identity);
  if (!reason) return { allowed: true, rule: rule.label };
  if (reason === REVERIFICATION_REQUIRED && rule.require.reverification) return { allowed: false, reason, rule: rule.label, reverification: { ...rule.require.reverification } };
  return { allowed: false, reason, rule: rule.label };
}

/** Returns the first unmet requirement of a rule, or null when the identity satisfies it. */
export function checkRequirements(rule: CompiledRule, identity: Identity): string | null {
  if (rule.deny) return "rule-denies";
  const r = rule.require;
  if (r.emailVerified && identity.claims.email_verified !== true) return "email-not-verified";
  if (r.userIds.length && !(identity.userId !== null && r.userIds.includes(identity.userId))) return "user-not-allowed";
  if (r.orgIds.length && !(identity.orgId && r.orgIds.includes(identity.orgId))) return "org-not-allowed";
  if (r.orgRoles.length && !(identity.orgRole && r.orgRoles.includes(toClerkRole(identity.orgRole)))) return "org-role-not-allowed";
  if (r.orgPermissions.length && !r.orgPermissions.every((p) => identity.orgPermissions.includes(p))) return "org-permission-missing";
  for (const s of r.scopes) if (!identity.scopes.includes(s)) return `scope-missing:${s}`;
  for (const [name, values] of r.claims) {
    const actual = readClaim(identity.claims, name);
    if (!values.some((v) => sameValue(v, actual))) return `claim-mismatch:${name}`;
  }
  if (r.permissions.length) {
    const granted = grantedPermissions(identity, rule.rolePermissions);
    for (const required of r.permissions) if (!granted.some((g) => matchesPermission(g, required))) return `permission-missing:${required}`;
  }
  // Clerk's billing and step-up claims, as its has() reads them; reverification last, since
  // re-verifying cannot cure any other failure.
  if (r.notImpersonated && isImpersonated(identity.claims)) return "impersonated";
  if (r.plans.length && !r.plans.some((p) => claimHas(identity.claims.pla, p))) return "plan-not-allowed";
  for (const f of r.features) if (!claimHas(identity.claims.fea, f)) return `feature-missing:${f}`;
  if (r.reverification && !reverificationSatisfied(identity.claims.fva, r.reverification)) return REVERIFICATION_REQUIRED;
  return null;
}

/** Clerk writes roles as `org:<role>`; a role written without the prefix means the same one. */
export function toClerkRole(role: string): string {
  return role.startsWith("org:") ? role : `org:${role}`;
}

function sameValue(expected: unknown, actual: unknown): boolean {
  if (expected === null || typeof expected !== "object") return expected === actual;
  return JSON.stringify(expected) === JSON.stringify(actual);
}
