import type { Context, MiddlewareHandler } from "hono";
import { PathError, Reason } from "../core/errors.js";
import { normalizePath } from "../paths/normalize.js";
import { checkRequirements, compileRules, evaluateRules, toClerkRole, type AuthRule, type CompiledRule } from "../authorize/rules.js";
import { forbidden, json, unauthorized } from "../http/responses.js";
import { REVERIFICATION_REQUIRED, type ReverificationConfig } from "../authorize/clerk-claims.js";
import { silentLogger, type Logger } from "../core/log.js";
import type { Identity } from "../identity/identity.js";
import type { AuthEnv } from "./clerk-auth.js";

/** The request's path normalised as the gateway does it, so a rule matches the same spellings here. */
function requestPath(c: Context): string {
  return normalizePath(new URL(c.req.url).pathname);
}

type Refusal = { reason: string; rule: string | number | null; reverification?: ReverificationConfig };

function guard(logger: Logger, check: (identity: Identity, c: Context) => Refusal | null): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const identity = c.get("auth");
    if (!identity) {
      // Only reachable when clerkAuth let an anonymous request through.
      return unauthorized(Reason.SessionTokenMissing, "this route needs a signed-in user", false);
    }
    let failed;
    try {
      failed = check(identity, c);
    } catch (error) {
      if (error instanceof PathError) return json({ error: "bad_request", reason: error.reason, message: error.message }, 400);
      throw error;
    }
    if (failed) {
      logger.log("warn", "auth.forbidden", { status: 403, reason: failed.reason, rule: failed.rule === null ? null : String(failed.rule), method: c.req.method, path: c.req.path, user: identity.userId });
      return forbidden(failed.reason, failed.rule, failed.reverification);
    }
    return next();
  };
}

/** AUTH_RULES as middleware: the first rule matching method and path decides; none matching allows. */
export function authorizeRules(rules: readonly CompiledRule[], logger: Logger = silentLogger): MiddlewareHandler<AuthEnv> {
  return guard(logger, (identity, c) => {
    const decision = evaluateRules(rules, c.req.method, requestPath(c), identity);
    return decision.allowed ? null : decision;
  });
}

/** Any signed-in user. */
export function requireAuth(): MiddlewareHandler<AuthEnv> {
  return guard(silentLogger, () => null);
}

/** The active organisation role must be one of these (`admin` and `org:admin` alike). */
export function requireOrgRole(role: string | string[], logger: Logger = silentLogger): MiddlewareHandler<AuthEnv> {
  const roles = (Array.isArray(role) ? role : [role]).map(toClerkRole);
  return guard(logger, (identity) => (identity.orgRole && roles.includes(toClerkRole(identity.orgRole)) ? null : { reason: "org-role-not-allowed", rule: null }));
}

/** Every one of these organisation permissions must be held. */
export function requirePermission(permission: string | string[], logger: Logger = silentLogger): MiddlewareHandler<AuthEnv> {
  const wanted = Array.isArray(permission) ? permission : [permission];
  return guard(logger, (identity) => (wanted.every((p) => identity.orgPermissions.includes(p)) ? null : { reason: "org-permission-missing", rule: null }));
}

/**
 * One AUTH_RULES rule as a guard on a route: its requirements apply to every request reaching
 * the route (`path` and `methods` are not needed here and, when given, are validated but not matched).
 */
export function requireRule(rule: Omit<AuthRule, "path"> & { path?: AuthRule["path"] }, logger: Logger = silentLogger): MiddlewareHandler<AuthEnv> {
  const [compiled] = compileRules([{ path: "/*", ...rule }], "requireRule");
  return guard(logger, (identity) => {
    const reason = checkRequirements(compiled!, identity);
    if (!reason) return null;
    const reverification = reason === REVERIFICATION_REQUIRED ? compiled!.require.reverification : null;
    return reverification ? { reason, rule: compiled!.label, reverification } : { reason, rule: compiled!.label };
  });
}
