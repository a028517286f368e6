import { ConfigError } from "../core/errors.js";
import { jsonVar } from "../core/env.js";
import type { Identity } from "../identity/identity.js";
import type { RouteTable } from "../routes/table.js";

/**
 * `ROLE_PERMISSIONS`: Clerk role or permission → Mastra permission patterns, with `_default` for
 * any role the map does not name — the `roleMapping` Mastra's own RBAC providers take
 * (`resolvePermissionsFromMapping` in `@mastra/core/auth/ee`), e.g.
 * `{"org:admin": ["*"], "org:member": ["agents:read", "agents:execute", "memory:*"], "_default": []}`.
 * A session's roles are its org role (`admin` and `org:admin` alike) and each org permission; a
 * session with none (no active organisation) gets `_default`.
 */
export type RolePermissions = ReadonlyMap<string, readonly string[]>;

/**
 * Validates a Mastra permission pattern: `*`, `resource:action` or `resource:action:id`, where
 * resource is one the route table knows, `stored` (every `stored-*`) or `*`, and action one it
 * knows or `*`. Returns the reason it is malformed, or null.
 */
export function checkPermissionPattern(pattern: unknown, table: RouteTable): string | null {
  if (typeof pattern !== "string" || pattern === "") return "a permission must be a non-empty string";
  if (pattern === "*") return null;
  const shown = `"${pattern.slice(0, 60)}"`;
  const parts = pattern.split(":");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) return `permission ${shown} is not resource:action (or *)`;
  const [resource, action] = parts as [string, string];
  if (resource !== "*" && resource !== "stored" && !table.resources.has(resource)) return `permission ${shown}: unknown resource "${resource.slice(0, 40)}"`;
  if (action !== "*" && !table.actions.has(action)) return `permission ${shown}: unknown action "${action.slice(0, 40)}"`;
  return null;
}

/** Parses `ROLE_PERMISSIONS` once; unset is an empty map (no session holds any Mastra permission). */
export function parseRolePermissions(value: string | Record<string, unknown> | undefined, table: RouteTable, variable = "ROLE_PERMISSIONS"): RolePermissions {
  if (value === undefined || (typeof value === "string" && value.trim() === "")) return new Map();
  const raw = typeof value === "string" ? jsonVar(value, variable, "a JSON object of role → permissions") : value;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(variable, "must be a JSON object of role → [permission patterns]");
  const map = new Map<string, string[]>();
  for (const [role, list] of Object.entries(raw as Record<string, unknown>)) {
    const shown = `"${role.slice(0, 40)}"`;
    if (!Array.isArray(list)) throw new ConfigError(variable, `${shown} must list permission patterns`);
    for (const p of list) {
      const problem = checkPermissionPattern(p, table);
      if (problem) throw new ConfigError(variable, `${shown}: ${problem}`);
    }
    // Clerk writes roles as org:<role>; a role written without the prefix means the same one.
    const key = role === "_default" || role.startsWith("org:") ? role : `org:${role}`;
    map.set(key, [...(map.get(key) ?? []), ...(list as string[])]);
  }
  return map;
}

/** The Mastra permissions a session holds under the mapping. */
export function grantedPermissions(identity: Identity, mapping: RolePermissions): string[] {
  const roles: string[] = [];
  if (identity.orgRole) roles.push(identity.orgRole.startsWith("org:") ? identity.orgRole : `org:${identity.orgRole}`);
  roles.push(...identity.orgPermissions);
  const fallback = mapping.get("_default") ?? [];
  if (roles.length === 0) return [...fallback];
  const granted = new Set<string>();
  for (const role of roles) for (const p of mapping.get(role) ?? fallback) granted.add(p);
  return [...granted];
}

/** Families `stored:` stands for, as `RESOURCE_EXPANSIONS` in `@mastra/core/auth/ee`. */
const STORED = /^stored-/;

/**
 * Whether a granted pattern covers a required permission — Mastra's `matchesPermission`
 * (`@mastra/core/auth/ee`): `*` covers everything, `agents:*` every agents action, `*:read`
 * every read, `stored:x` every `stored-*:x`, and a third part scopes to one resource id. A
 * required pattern (`memory:*`) is covered only by a grant at least as wide.
 */
export function matchesPermission(granted: string, required: string): boolean {
  if (granted === "*") return true;
  if (required === "*") return false;
  const g = granted.split(":");
  const r = required.split(":");
  if (g[0] === "stored" && STORED.test(r[0] ?? "")) g[0] = r[0]!;
  if (g.length < 2 || r.length < 2) return granted === required;
  const [gr, ga, gid] = g;
  const [rr, ra, rid] = r;
  if (gr !== "*" && gr !== rr) return false;
  if (ga !== "*" && ga !== ra) return false;
  return gid === undefined || gid === rid;
}
