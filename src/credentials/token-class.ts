import { ConfigError } from "../core/errors.js";

/**
 * The classes of Clerk credential a route may accept (issue #13), named as a rule writes them,
 * and the markers that tell them apart, as `@clerk/backend` reads them
 * (node_modules/@clerk/backend/dist: `src/tokens/machine.ts`, `src/tokens/jwtCategories.ts`):
 * - `session`: a session JWT (`cat` absent or `cl_B7d4PD111AAA`, `sub` a user);
 * - `m2m`: an M2M JWT (`sub` `mch_…`, `cat` absent or `cl_B7d4PD333AAA`) or an opaque `mt_…`;
 * - `oauth`: an OAuth access token JWT (`typ` `at+jwt` or `application/at+jwt`) or an opaque `oat_…`;
 * - `api_key`: an opaque `ak_…` (API keys have no JWT form).
 */
export type TokenClass = "session" | "m2m" | "oauth" | "api_key";

/** `@clerk/backend`'s `TokenType` names of the classes: what `tokenType` says in an identity. */
export const TOKEN_TYPE = {
  session: "session_token",
  m2m: "m2m_token",
  oauth: "oauth_token",
  api_key: "api_key",
} as const satisfies Record<TokenClass, string>;

export type TokenType = (typeof TOKEN_TYPE)[TokenClass];

export const TOKEN_CLASSES: readonly TokenClass[] = ["session", "m2m", "oauth", "api_key"];

/** Clerk's `cat` header values (`JWT_CATEGORY_SESSION_TOKEN`, `JWT_CATEGORY_M2M_TOKEN`). */
export const SESSION_CATEGORY = "cl_B7d4PD111AAA";
export const M2M_CATEGORY = "cl_B7d4PD333AAA";
/** `sub` of an M2M token: a machine id (`M2M_SUBJECT_PREFIX`). */
export const MACHINE_ID_PREFIX = "mch_";
/** `typ` values of an OAuth access token JWT (`OAUTH_ACCESS_TOKEN_TYPES`; RFC 9068 §2.1). */
export const OAUTH_JWT_TYPES: readonly string[] = ["at+jwt", "application/at+jwt"];

/** The class of an opaque machine token by its prefix (`mt_`, `oat_`, `ak_`), or null. */
export function opaqueClassOf(token: string): "m2m" | "oauth" | "api_key" | null {
  if (token.startsWith("mt_")) return "m2m";
  if (token.startsWith("oat_")) return "oauth";
  if (token.startsWith("ak_")) return "api_key";
  return null;
}

/** Every spelling `accepts` takes: the short class names, Clerk's `TokenType` names, and `any`. */
const SPELLINGS: ReadonlyMap<string, readonly TokenClass[]> = new Map<string, readonly TokenClass[]>([
  ...TOKEN_CLASSES.map((c) => [c, [c]] as const),
  ["session_token", ["session"]],
  ["m2m_token", ["m2m"]],
  ["oauth_token", ["oauth"]],
  ["any", TOKEN_CLASSES],
]);

/**
 * An `accepts` setting (an array, or a comma-separated string) as the set of classes it names.
 * Unknown names and an empty list are {@link ConfigError}s: a typo must never open or close a
 * route silently.
 */
export function parseAccepts(value: unknown, where: string): ReadonlySet<TokenClass> {
  const names = typeof value === "string" ? value.split(",").map((v) => v.trim()).filter(Boolean) : value;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === "string")) {
    throw new ConfigError(where, `must list token classes (${TOKEN_CLASSES.join(", ")} or any)`);
  }
  const classes = new Set<TokenClass>();
  for (const name of names as string[]) {
    const meant = SPELLINGS.get(name.trim());
    if (!meant) throw new ConfigError(where, `"${name.slice(0, 40)}" is not a token class (${TOKEN_CLASSES.join(", ")} or any)`);
    for (const c of meant) classes.add(c);
  }
  return classes;
}
