/**
 * Clerk's billing and step-up claims, checked as Clerk's own `has()` checks them
 * (`createCheckAuthorization` in `@clerk/shared/authorization`, which `@clerk/backend`'s
 * signed-in auth object builds from `fea`, `pla` and `fva`):
 *
 * - `pla` / `fea`: comma-separated `<scope>:<name>` elements, scope `u` (user), `o` (organization)
 *   or `ou`/`uo` (both); an element without a colon makes the whole claim unreadable (Clerk throws
 *   and `has()` answers false), other scopes are ignored. A required name `o:pro` (or `org:`,
 *   `organization:`) looks at the organization's, `u:pro` (or `user:`) at the user's, a bare `pro`
 *   at both.
 * - `fva`: `[minutes since first factor, minutes since second factor]`, `-1` for never.
 *
 * Pure functions; the rules compile and call them.
 */

export type ReverificationLevel = "first_factor" | "second_factor" | "multi_factor";

/** A step-up requirement: the factor(s) of `level` verified less than `afterMinutes` ago. */
export interface ReverificationConfig {
  level: ReverificationLevel;
  afterMinutes: number;
}

/** Clerk's presets (`TYPES_TO_OBJECTS` in `@clerk/shared/authorization`). */
export const REVERIFICATION_PRESETS: Readonly<Record<"strict_mfa" | "strict" | "moderate" | "lax", ReverificationConfig>> = {
  strict_mfa: { afterMinutes: 10, level: "multi_factor" },
  strict: { afterMinutes: 10, level: "second_factor" },
  moderate: { afterMinutes: 60, level: "second_factor" },
  lax: { afterMinutes: 1440, level: "second_factor" },
};

const LEVELS = new Set<string>(["first_factor", "second_factor", "multi_factor"]);
const ORG_SCOPES = new Set(["o", "org", "organization"]);
const USER_SCOPES = new Set(["u", "user"]);

/** The reason a refused reverification gives, and the one Clerk's front end recognises in `clerk_error`. */
export const REVERIFICATION_REQUIRED = "reverification-required";

/**
 * Compiles `require.reverification`: a Clerk preset (`strict_mfa`, `strict`, `moderate`, `lax`), a
 * number of minutes (second factor, as Clerk's non-MFA presets: a user without a second factor
 * re-verifies the first), or Clerk's own object `{ level, afterMinutes }`. Returns the config, or
 * the reason it is malformed.
 */
export function compileReverification(value: unknown): ReverificationConfig | string {
  if (typeof value === "string") {
    const preset = (REVERIFICATION_PRESETS as Record<string, ReverificationConfig>)[value];
    if (preset && Object.prototype.hasOwnProperty.call(REVERIFICATION_PRESETS, value)) return { ...preset };
    return `reverification "${value.slice(0, 40)}" is not strict_mfa, strict, moderate, lax, a number of minutes or {level, afterMinutes}`;
  }
  if (typeof value === "number") {
    return validMinutes(value) ? { level: "second_factor", afterMinutes: value } : "reverification minutes must be a positive number";
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const key of Object.keys(o)) if (key !== "level" && key !== "afterMinutes") return `reverification: unknown key "${key.slice(0, 40)}"`;
    if (typeof o.level !== "string" || !LEVELS.has(o.level)) return "reverification level must be first_factor, second_factor or multi_factor";
    if (!validMinutes(o.afterMinutes)) return "reverification afterMinutes must be a positive number";
    return { level: o.level as ReverificationLevel, afterMinutes: o.afterMinutes };
  }
  return "reverification must be strict_mfa, strict, moderate, lax, a number of minutes or {level, afterMinutes}";
}

function validMinutes(value: unknown): value is number {
  // Clerk's isValidMaxAge is `typeof x === "number" && x > 0`; JSON has no Infinity.
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

/**
 * Validates one name of `require.plans` / `require.features`: `name`, or `<scope>:name` with a
 * scope Clerk knows (`u`, `user`, `o`, `org`, `organization`). Names Clerk could never match — an
 * unknown scope, an empty name, a second colon, a comma or whitespace — are configuration errors
 * (Clerk's `has()` would silently answer false). Returns the reason, or null.
 */
export function checkScopedName(kind: "plan" | "feature", value: string): string | null {
  const shown = `${kind} "${value.slice(0, 60)}"`;
  if (/[\s,]/.test(value)) return `${shown} may not contain commas or whitespace`;
  const parts = value.split(":");
  if (parts.length > 2) return `${shown} is not name or <scope>:name`;
  if (parts.length === 2) {
    const [scope, name] = parts as [string, string];
    if (!ORG_SCOPES.has(scope) && !USER_SCOPES.has(scope)) return `${shown}: unknown scope "${scope.slice(0, 20)}" (u, user, o, org, organization)`;
    if (name === "") return `${shown} names nothing after its scope`;
  }
  return null;
}

/** Clerk's `splitByScope`: the claim's names by scope; throws on an element without a colon. */
export function splitByScope(claim: string): { org: string[]; user: string[] } {
  const org: string[] = [];
  const user: string[] = [];
  if (!claim) return { org, user };
  for (const raw of claim.split(",")) {
    const part = raw.trim();
    const colon = part.indexOf(":");
    if (colon === -1) throw new Error(`Invalid claim element (missing colon): ${part}`);
    const scope = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (scope === "o") org.push(value);
    else if (scope === "u") user.push(value);
    else if (scope === "ou" || scope === "uo") {
      org.push(value);
      user.push(value);
    }
  }
  return { org, user };
}

/**
 * Whether the claim (`pla` or `fea`, as the token carries it) holds the plan or feature — Clerk's
 * `has({ plan })` / `has({ feature })`: a missing, empty, non-string or unreadable claim holds
 * nothing.
 */
export function claimHas(claim: unknown, required: string): boolean {
  if (typeof claim !== "string" || !claim) return false;
  let scoped: { org: string[]; user: string[] };
  try {
    scoped = splitByScope(claim);
  } catch {
    return false;
  }
  const [rawScope, rawId] = required.split(":") as [string, string | undefined];
  if (rawId === undefined) return scoped.org.includes(rawScope) || scoped.user.includes(rawScope);
  const id = rawId || rawScope;
  if (ORG_SCOPES.has(rawScope)) return scoped.org.includes(id);
  if (USER_SCOPES.has(rawScope)) return scoped.user.includes(id);
  return false; // Clerk throws "Invalid scope" and has() answers false.
}

function validFactorAge(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x) && (x === -1 || x >= 0);
}

/**
 * Clerk's `checkReverificationAuthorization` over the `fva` claim: a missing or malformed claim,
 * or no factor ever verified, fails; otherwise the factors `level` asks for must have been
 * verified less than `afterMinutes` ago (a user without a second factor is judged on the first,
 * except that `multi_factor` with only a second factor fails).
 */
export function reverificationSatisfied(fva: unknown, config: ReverificationConfig): boolean {
  if (!Array.isArray(fva) || fva.length !== 2 || !validFactorAge(fva[0]) || !validFactorAge(fva[1])) return false;
  const [factor1Age, factor2Age] = fva as [number, number];
  const { level, afterMinutes } = config;
  if (factor1Age === -1 && factor2Age === -1) return false;
  const factor1Fresh = factor1Age !== -1 && afterMinutes > factor1Age;
  const factor2Fresh = factor2Age !== -1 && afterMinutes > factor2Age;
  switch (level) {
    case "first_factor":
      return factor1Fresh;
    case "second_factor":
      if (factor2Age === -1) return factor1Fresh;
      if (factor1Age === -1) return factor2Fresh;
      return factor2Fresh;
    case "multi_factor":
      if (factor2Age === -1) return factor1Fresh;
      if (factor1Age === -1) return false;
      return factor1Fresh && factor2Fresh;
  }
}
