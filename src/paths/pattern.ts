// Path patterns shared by PUBLIC_PATHS, AUTH_RULES and RATE_LIMITS (line comments here, because
// the examples contain "*/"):
// - an exact path: /api
// - a trailing *: any continuation. /api/auth/* is everything under /api/auth/, and
//   /api/agents/secret* any path starting so;
// - a * that is a whole segment in the middle: exactly one non-empty segment. /api/agents/*/generate
//   matches /api/agents/weather/generate, not /api/agents/generate nor /api/agents/a/b/generate.
//   Both kinds combine: /api/workflows/*/start* (start, start-async).
//
// Matching is done on the normalised path (see normalizePath), so a segment wildcard never meets
// ".", ".." or an empty segment; it refuses them anyway, so that a pattern does not depend on its
// caller having normalised. An exact pattern (no trailing *) also matches the same path with a
// trailing slash, since upstream routers commonly treat the two alike.
//
// Patterns are compiled once into literal pieces; matching is a few startsWith/indexOf calls, with
// no regular expression per request.

export interface PathPattern {
  source: string;
  /** The literal text before the first wildcard (the whole path of an exact pattern). */
  prefix: string;
  /** Ends in `*`: any continuation after the last literal piece. */
  wildcard: boolean;
  // The literal pieces around the segment wildcards: /api/agents/*/generate is
  // ["/api/agents/", "/generate"]. One piece (= prefix) when there is no segment wildcard.
  pieces: readonly string[];
}

/** Returns a parsed pattern, or a reason it is malformed. */
export function parsePattern(source: string): PathPattern | string {
  const text = source.trim();
  const shown = `pattern "${text.slice(0, 80)}"`;
  if (!text.startsWith("/")) return `${shown} must start with /`;
  const wildcard = text.endsWith("*");
  const body = wildcard ? text.slice(0, -1) : text;
  const pieces: string[] = [];
  let from = 0;
  for (let star = body.indexOf("*"); star !== -1; star = body.indexOf("*", star + 1)) {
    if (body[star - 1] !== "/" || body[star + 1] !== "/") {
      return `${shown} may only use * as a whole segment (/a/*/b) or at its end (/a/*, /a/b*)`;
    }
    pieces.push(body.slice(from, star));
    from = star + 1;
  }
  pieces.push(body.slice(from));
  if (/[?#%\\\s]/.test(body.replaceAll("*", ""))) return `${shown} has a character paths are never matched with (? # % \\ or space)`;
  if (/\/\/|\/\.\.?(\/|$)/.test(body)) return `${shown} is not a normalised path (// or dot segments)`;
  return { source: text, prefix: pieces[0]!, wildcard, pieces };
}

export function matchPattern(pattern: PathPattern, path: string): boolean {
  const { pieces, wildcard } = pattern;
  if (pieces.length === 1) {
    if (wildcard) return path.startsWith(pattern.prefix);
    return path === pattern.prefix || (endsAtSlash(path, pattern.prefix.length) && path.startsWith(pattern.prefix));
  }
  if (!path.startsWith(pieces[0]!)) return false;
  let at = pieces[0]!.length;
  for (let i = 1; i < pieces.length; i++) {
    // Every piece after a segment wildcard starts with "/", so the segment ends at the next one.
    const end = path.indexOf("/", at);
    if (end === -1 || !isSegment(path, at, end)) return false;
    const piece = pieces[i]!;
    if (!path.startsWith(piece, end)) return false;
    at = end + piece.length;
  }
  return wildcard || at === path.length || endsAtSlash(path, at);
}

/** The path continues with exactly one trailing "/" after `at` (the trailing-slash spelling). */
function endsAtSlash(path: string, at: number): boolean {
  return path.length > 1 && at === path.length - 1 && path.endsWith("/");
}

function isSegment(path: string, start: number, end: number): boolean {
  const length = end - start;
  if (length === 0) return false;
  if (length <= 2 && path[start] === "." && (length === 1 || path[start + 1] === ".")) return false;
  return true;
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

/** A `path` setting: one pattern or a non-empty array of them (AUTH_RULES, RATE_LIMITS, QUOTAS). */
export function parsePatterns(value: unknown): PathPattern[] | string {
  const sources = typeof value === "string" ? [value] : value;
  if (!Array.isArray(sources) || sources.length === 0 || !sources.every((p) => typeof p === "string")) {
    return "path must be a pattern or a non-empty array of patterns";
  }
  const patterns: PathPattern[] = [];
  for (const source of sources) {
    const parsed = parsePattern(source);
    if (typeof parsed === "string") return parsed;
    patterns.push(parsed);
  }
  return patterns;
}
