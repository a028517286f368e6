import { ConfigError } from "../core/errors.js";

/**
 * `UNKNOWN_ROUTES`: what happens to a request under the API prefix that is none of Mastra's
 * routes (a custom API route, or a route of a newer Mastra than the table).
 * - `allow` (default): like any route, every signed-in user reaches it unless a rule says
 *   otherwise; only `path` rules can match it (it has no resource, action or target).
 * - `deny`: refused (403 `unknown-route`) unless PUBLIC_PATHS or an AUTH_RULES `path` rule names
 *   it, so only routes someone wrote a rule for are reachable.
 */
export type UnknownRoutes = "allow" | "deny";

export function parseUnknownRoutes(value: string | undefined, variable = "UNKNOWN_ROUTES"): UnknownRoutes {
  const v = value?.trim().toLowerCase() ?? "";
  if (v === "" || v === "allow") return "allow";
  if (v === "deny") return "deny";
  throw new ConfigError(variable, `must be "allow" or "deny", not "${value!.slice(0, 20)}"`);
}
