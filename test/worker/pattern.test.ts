import { describe, expect, it } from "vitest";
import { normalizePath } from "../../src/paths/normalize.js";
import { matchPattern, parsePattern, parsePatterns, type PathPattern } from "../../src/paths/pattern.js";
import { isPublic, parsePublicPaths } from "../../src/authorize/public-paths.js";
import { compileRules, evaluateRules } from "../../src/authorize/rules.js";
import type { Identity } from "../../src/identity/identity.js";

function pattern(source: string): PathPattern {
  const parsed = parsePattern(source);
  if (typeof parsed === "string") throw new Error(parsed);
  return parsed;
}

const matches = (source: string, path: string) => matchPattern(pattern(source), path);

describe("parsePattern", () => {
  it("compiles literal pieces around segment wildcards", () => {
    expect(pattern("/api")).toMatchObject({ prefix: "/api", wildcard: false, pieces: ["/api"] });
    expect(pattern("/api/auth/*")).toMatchObject({ prefix: "/api/auth/", wildcard: true, pieces: ["/api/auth/"] });
    expect(pattern("/api/agents/*/generate")).toMatchObject({ prefix: "/api/agents/", wildcard: false, pieces: ["/api/agents/", "/generate"] });
    expect(pattern("/api/workflows/*/start*")).toMatchObject({ wildcard: true, pieces: ["/api/workflows/", "/start"] });
    expect(pattern("/*/a/*/b")).toMatchObject({ wildcard: false, pieces: ["/", "/a/", "/b"] });
    expect(pattern("  /api/*/x ").source).toBe("/api/*/x");
  });

  it.each([
    ["api/x", /must start with \//],
    ["/api/a*b/x", /only use \* as a whole segment/],
    ["/api/*x/y", /only use \* as a whole segment/],
    ["/api/x*/y", /only use \* as a whole segment/],
    ["/api/**", /only use \* as a whole segment/],
    ["/api/*/**", /only use \* as a whole segment/],
    ["/api//x/*/y", /not a normalised path/],
    ["/api/*//y", /not a normalised path/],
    ["/api/./*/y", /not a normalised path/],
    ["/api/*/../y", /not a normalised path/],
    ["/api/*/..", /not a normalised path/],
    ["/api/*/y?x=1", /character paths are never matched with/],
    ["/api/*/%2e", /character paths are never matched with/],
  ])("rejects %s", (source, reason) => {
    const parsed = parsePattern(source);
    expect(typeof parsed).toBe("string");
    expect(parsed).toMatch(reason);
  });

  it("parsePatterns takes one pattern or a non-empty list, and names the bad one", () => {
    expect(parsePatterns("/a/*/b")).toHaveLength(1);
    expect(parsePatterns(["/a", "/b/*"])).toHaveLength(2);
    expect(parsePatterns([])).toMatch(/non-empty array/);
    expect(parsePatterns([1])).toMatch(/non-empty array/);
    expect(parsePatterns(["/ok", "/a*b/c"])).toMatch(/"\/a\*b\/c"/);
  });
});

describe("matchPattern", () => {
  it.each([
    // A segment wildcard is exactly one non-empty segment.
    ["/api/agents/*/generate", "/api/agents/weather/generate", true],
    ["/api/agents/*/generate", "/api/agents/weather/generate/", true],
    ["/api/agents/*/generate", "/api/agents/generate", false],
    ["/api/agents/*/generate", "/api/agents/a/b/generate", false],
    ["/api/agents/*/generate", "/api/agents/weather/generate/x", false],
    ["/api/agents/*/generate", "/api/agents/weather/generated", false],
    ["/api/agents/*/generate", "/api/agents/weather", false],
    ["/api/agents/*/generate", "/api/agents/weather/", false],
    ["/api/agents/*/generate", "/api/agentsX/weather/generate", false],
    // Combined with a trailing wildcard: any continuation after the last literal.
    ["/api/workflows/*/start*", "/api/workflows/w/start", true],
    ["/api/workflows/*/start*", "/api/workflows/w/start-async", true],
    ["/api/workflows/*/start*", "/api/workflows/w/start/x", true],
    ["/api/workflows/*/start*", "/api/workflows/w/stream", false],
    ["/api/workflows/*/start*", "/api/workflows/start", false],
    ["/api/agents/*/*", "/api/agents/a/", true],
    ["/api/agents/*/*", "/api/agents/a/b/c", true],
    ["/api/agents/*/*", "/api/agents/a", false],
    // Several segment wildcards, and one at the root.
    ["/*/a/*/b", "/x/a/y/b", true],
    ["/*/a/*/b", "/x/a/b", false],
    ["/*/a/*/b", "/x/y/a/z/b", false],
    ["/*/", "/x/", true],
    ["/*/", "/x", false],
    // The forms that existed before segment wildcards behave as they did.
    ["/api", "/api", true],
    ["/api", "/api/", true],
    ["/api", "/api/x", false],
    ["/api", "/apix", false],
    ["/", "/", true],
    ["/", "/x", false],
    ["/api/auth/*", "/api/auth/", true],
    ["/api/auth/*", "/api/auth/login/x", true],
    ["/api/auth/*", "/api/auth", false],
    ["/api/agents/secret*", "/api/agents/secret-2", true],
    ["/*", "/anything/at/all", true],
  ])("%s ~ %s → %s", (source, path, expected) => {
    expect(matches(source, path)).toBe(expected);
  });

  it("a segment wildcard never matches a dot segment or an empty segment, even on a raw path", () => {
    for (const path of ["/api/agents/../generate", "/api/agents/./generate", "/api/agents//generate"]) {
      expect(matches("/api/agents/*/generate", path)).toBe(false);
    }
    expect(matches("/api/agents/*/generate", "/api/agents/.well/generate")).toBe(true);
    expect(matches("/api/agents/*/generate", "/api/agents/.../generate")).toBe(true);
  });

  it("on normalised paths, other spellings of a route match like the route itself", () => {
    const p = pattern("/api/agents/*/generate");
    const cases: [string, boolean][] = [
      ["/api/agents/x/../weather/generate", true],
      ["/api//agents///weather/generate", true],
      ["/api/agents/%77eather/generate", true],
      ["/api/agents/weather/%67enerate", true],
      ["/api/agents/weather/./generate", true],
      // After normalisation these name another route: the wildcard sees the real one.
      ["/api/agents//generate", false],
      ["/api/agents/weather/../generate", false],
      ["/api/agents/a/b/../../generate", false],
    ];
    for (const [raw, expected] of cases) expect([raw, matchPattern(p, normalizePath(raw))]).toEqual([raw, expected]);
  });

  // Every path of up to four segments over a small alphabet, against a reference matcher written
  // independently (a regular expression per pattern): the two must agree everywhere.
  it("agrees with a reference matcher on every small path", () => {
    const sources = ["/a/*/b", "/a/*/b*", "/*/b", "/a/*/*", "/a/*/", "/*/*/b", "/a/b", "/a/*", "/a*", "/", "/*"];
    const alphabet = ["a", "b", "bb", ".", "..", "", "a.b"];
    const paths = new Set<string>(["/"]);
    let frontier = [""];
    for (let depth = 0; depth < 4; depth++) {
      const next: string[] = [];
      for (const prefix of frontier) {
        for (const segment of alphabet) {
          const path = `${prefix}/${segment}`;
          next.push(path);
          paths.add(path);
          paths.add(`${path}/`);
        }
      }
      frontier = next;
    }
    let checked = 0;
    for (const source of sources) {
      const p = pattern(source);
      const reference = referenceRegExp(source);
      for (const path of paths) {
        expect([source, path, matchPattern(p, path)]).toEqual([source, path, reference.test(path)]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });
});

function referenceRegExp(source: string): RegExp {
  const trailing = source.endsWith("*");
  const body = trailing ? source.slice(0, -1) : source;
  const escaped = body
    .split("/")
    .map((segment) => (segment === "*" ? "(?!\\.\\.?(?:/|$))[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  if (trailing) return new RegExp(`^${escaped}`);
  return new RegExp(body === "/" ? "^//?$" : `^${escaped}/?$`);
}

describe("one rule engine: AUTH_RULES and PUBLIC_PATHS take segment wildcards too", () => {
  const identity = (userId: string): Identity => ({ userId, sessionId: null, orgId: null, orgSlug: null, orgRole: null, orgPermissions: [], tokenType: "session_token", subject: null, machineId: null, clientId: null, tokenId: null, name: null, scopes: [], claims: { sub: userId, iss: "x", exp: 0, iat: 0, nbf: 0 } });

  it("a rule on /api/agents/*/generate decides those routes only", () => {
    const rules = compileRules(JSON.stringify([{ id: "gen", path: "/api/agents/*/generate", methods: ["POST"], require: { userIds: ["user_ok"] } }]));
    expect(evaluateRules(rules, "POST", "/api/agents/weather/generate", identity("user_other"))).toEqual({ allowed: false, reason: "user-not-allowed", rule: "gen" });
    expect(evaluateRules(rules, "POST", "/api/agents/weather/generate", identity("user_ok"))).toEqual({ allowed: true, rule: "gen" });
    expect(evaluateRules(rules, "POST", "/api/agents/weather/stream", identity("user_other"))).toEqual({ allowed: true, rule: null });
  });

  it("a malformed wildcard in AUTH_RULES is a configuration error naming the rule", () => {
    expect(() => compileRules(JSON.stringify([{ id: "bad", path: "/api/a*b/generate" }]))).toThrow(/^AUTH_RULES: rule "bad": pattern "\/api\/a\*b\/generate" may only use \*/);
  });

  it("PUBLIC_PATHS with a segment wildcard", () => {
    const paths = parsePublicPaths("GET /api/agents/*/voice/speakers");
    expect(isPublic(paths, "GET", "/api/agents/weather/voice/speakers")).toBe(true);
    expect(isPublic(paths, "GET", "/api/agents/voice/speakers")).toBe(false);
    expect(isPublic(paths, "POST", "/api/agents/weather/voice/speakers")).toBe(false);
  });
});
