import { ConfigError } from "../core/errors.js";
import { listVar } from "../core/env.js";
import { matchMethod, matchPattern, parseMethods, parsePattern, type PathPattern } from "../paths/pattern.js";

export interface PublicPath {
  methods: Set<string> | null;
  pattern: PathPattern;
}

/**
 * `PUBLIC_PATHS`: comma-separated patterns, each optionally preceded by a method
 * (`/api, /api/auth/*, GET /api/agents`). A public path is forwarded without a token and without
 * identity headers; it is matched on the normalised path like every rule.
 */
export function parsePublicPaths(value: string | undefined, variable = "PUBLIC_PATHS"): PublicPath[] {
  return (listVar(value, variable) ?? []).map((entry) => {
    const parts = entry.split(/\s+/);
    if (parts.length > 2) throw new ConfigError(variable, `"${entry.slice(0, 80)}" is not "[METHOD] /path"`);
    const [method, path] = parts.length === 2 ? parts : [undefined, parts[0]!];
    const pattern = parsePattern(path!);
    if (typeof pattern === "string") throw new ConfigError(variable, pattern);
    const methods = parseMethods(method === undefined ? undefined : [method]);
    if (typeof methods === "string") throw new ConfigError(variable, methods);
    return { methods, pattern };
  });
}

export function isPublic(paths: readonly PublicPath[], method: string, path: string): boolean {
  for (const p of paths) if (matchMethod(p.methods, method) && matchPattern(p.pattern, path)) return true;
  return false;
}
