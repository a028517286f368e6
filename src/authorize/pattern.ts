/**
 * Path patterns shared by PUBLIC_PATHS, AUTH_RULES and RATE_LIMITS: an exact path (`/api`), or a
 * prefix ending in `*` meaning any continuation (`/api/auth/*`, `/api/agents/secret*`). Matching
 * is done on the normalised path (see `normalizePath`); an exact pattern also matches the same
 * path with a trailing slash, since upstream routers commonly treat the two alike.
 */
export interface PathPattern {
  source: string;
  prefix: string;
  wildcard: boolean;
}

/** Returns a parsed pattern, or a reason it is malformed. */
export function parsePattern(source: string): PathPattern | string {
  const text = source.trim();
  if (!text.startsWith("/")) return `pattern "${text.slice(0, 80)}" must start with /`;
  const star = text.indexOf("*");
  if (star !== -1 && star !== text.length - 1) return `pattern "${text.slice(0, 80)}" may only end in *, not contain it`;
  const prefix = star === -1 ? text : text.slice(0, -1);
  if (/[?#%\\\s]/.test(prefix)) return `pattern "${text.slice(0, 80)}" has a character paths are never matched with (? # % \\ or space)`;
  if (/\/\/|\/\.\.?(\/|$)/.test(prefix)) return `pattern "${text.slice(0, 80)}" is not a normalised path (// or dot segments)`;
  return { source: text, prefix, wildcard: star !== -1 };
}

export function matchPattern(pattern: PathPattern, path: string): boolean {
  if (pattern.wildcard) return path.startsWith(pattern.prefix);
  return path === pattern.prefix || (path.length > 1 && path.endsWith("/") && path.slice(0, -1) === pattern.prefix);
}

const METHOD = /^[A-Z]+$/;

/** Normalises a methods list; HEAD is implied by GET, since a HEAD is routed like a GET. */
export function parseMethods(methods: unknown): Set<string> | string | null {
  if (methods === undefined) return null;
  if (!Array.isArray(methods) || methods.length === 0) return "methods must be a non-empty array of HTTP methods";
  const set = new Set<string>();
  for (const m of methods) {
    if (typeof m !== "string" || !METHOD.test(m.toUpperCase())) return `"${String(m).slice(0, 20)}" is not an HTTP method`;
    set.add(m.toUpperCase());
  }
  if (set.has("GET")) set.add("HEAD");
  return set;
}

export function matchMethod(methods: Set<string> | null, method: string): boolean {
  return methods === null || methods.has(method.toUpperCase());
}
