import { ConfigError } from "./errors.js";

/**
 * Reading settings: the one copy of each parser every configuration uses (the gateway's env, the
 * library faces' options). Each throws {@link ConfigError} naming the variable, and never echoes
 * a value that could be a secret unless the caller shows it is not one.
 */

/** A set, non-blank string. */
export function nonEmpty(value: string | undefined | null): value is string {
  return typeof value === "string" && value.trim() !== "";
}

/**
 * What a `[vars]` value is when it is not text: wrangler passes an unquoted TOML value through as
 * JSON (`JWKS_MAX_STALE_S = 60` arrives as the number 60, `CORS_ORIGINS = ["…"]` as an array), so
 * the typed readers below take the type they mean and refuse any other by name — a setting is
 * never silently ignored.
 */
export function kindOf(value: unknown): string {
  return Array.isArray(value) ? "an array" : value === null ? "null" : typeof value === "object" ? "an object" : `a ${typeof value}`;
}

export function intVar(value: unknown, variable: string): number | undefined {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError(variable, `must be a non-negative integer, got ${String(value).slice(0, 32)}`);
    return value;
  }
  if (value !== undefined && value !== null && typeof value !== "string") throw new ConfigError(variable, `must be a non-negative integer, got ${kindOf(value)}`);
  if (!nonEmpty(value)) return undefined;
  const text = value.trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(variable, `must be a non-negative integer, got "${text.slice(0, 32)}"`);
  return Number(text);
}

export function boolVar(value: unknown, variable: string): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value !== undefined && value !== null && typeof value !== "string") throw new ConfigError(variable, `must be true or false, got ${kindOf(value)}`);
  if (!nonEmpty(value)) return undefined;
  const text = value.trim().toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new ConfigError(variable, `must be true or false, got "${text.slice(0, 32)}"`);
}

/**
 * A comma-separated list. Unset or blank: undefined. Set but made only of separators (`","`):
 * a mistake, never "no list" — a list that meant to restrict something must not turn into no
 * restriction at all.
 */
export function listVar(value: unknown, variable: string): string[] | undefined {
  if (Array.isArray(value)) {
    if (!value.every((v) => typeof v === "string")) throw new ConfigError(variable, "must be a comma-separated string or an array of strings");
    value = value.join(",");
  }
  if (value !== undefined && value !== null && typeof value !== "string") throw new ConfigError(variable, `must be a comma-separated string, got ${kindOf(value)}`);
  if (!nonEmpty(value)) return undefined;
  const entries = value.split(",").map((v) => v.trim()).filter(Boolean);
  if (entries.length === 0) throw new ConfigError(variable, "is set but lists nothing (only commas and spaces)");
  return entries;
}

/** A JSON setting; `shape` says what was expected, for the error. */
export function jsonVar(value: string, variable: string, shape: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new ConfigError(variable, `is not valid JSON (expected ${shape}): ${(error as Error).message.slice(0, 80)}`);
  }
}

export function checkNumber(value: unknown, variable: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(variable, `must be a number between ${min} and ${max}, got ${typeof value === "number" ? value : typeof value}`);
  }
  return value;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** True for hosts that never leave the machine: the only place plain http is acceptable. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/** An absolute https URL (http only for loopback), without credentials; `allowPath: false` wants an origin. */
export function checkUrl(value: string, variable: string, { allowPath }: { allowPath: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, "is not an absolute URL");
  }
  if (url.username || url.password) throw new ConfigError(variable, "must not contain credentials");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new ConfigError(variable, `must use https (plain http is allowed only for loopback hosts), got ${url.protocol}//${url.host}`);
  }
  if (!allowPath && url.pathname !== "/") throw new ConfigError(variable, "must be an origin without a path");
  return url;
}

/**
 * `scheme://host[:port]` exactly (a trailing slash tolerated), returned as the URL's origin so
 * that a spelling difference cannot make a comparison fail. Origins are not secret: the value is
 * echoed (shortened) so the operator sees which entry is wrong.
 */
export function checkOrigin(value: string, variable: string): string {
  const shown = `"${value.slice(0, 80)}" is not an origin (scheme://host[:port])`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, shown);
  }
  if (url.origin !== value.replace(/\/$/, "") || (url.protocol !== "http:" && url.protocol !== "https:")) throw new ConfigError(variable, shown);
  return url.origin;
}

/** The fields of an object that are not undefined (so a spread does not erase defaults). */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A Worker's `env`, `process.env`, or any object of variables. Only string values are read. */
export type VariableSource = object;

/** `process.env` where the runtime has one; never touches `process` where it does not exist. */
export function processEnv(): VariableSource | undefined {
  const p = (globalThis as { process?: { env?: VariableSource } }).process;
  return p && typeof p.env === "object" && p.env !== null ? p.env : undefined;
}

/** The string-valued entries of a variable source (bindings and the like are left out). */
export function stringsOf(source: VariableSource): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(source as Record<string, unknown>)) if (typeof value === "string") out[name] = value;
  return out;
}

/**
 * Library options are checked by name: an unknown one (`authorizedparties`, `authorisedParties`)
 * is almost always a misspelling of a security setting, and dropping it silently would turn a
 * restriction off. `known` lists every accepted name.
 */
export function checkOptionNames(options: object, known: ReadonlySet<string>, where: string): void {
  for (const name of Object.keys(options)) {
    if (known.has(name)) continue;
    const near = [...known].find((k) => k.toLowerCase() === name.toLowerCase() || similar(k, name));
    throw new ConfigError(name, `is not an option of ${where}${near ? ` (did you mean "${near}"?)` : ""}`);
  }
}

/**
 * Close enough to suggest: the same name in another case or spelling (`s` for `z`), or a few
 * edits away (Levenshtein distance ≤ 3, and less than a third of the name).
 */
function similar(a: string, b: string): boolean {
  const x = a.toLowerCase().replace(/s/g, "z");
  const y = b.toLowerCase().replace(/s/g, "z");
  if (x === y) return true;
  const limit = Math.min(3, Math.floor(x.length / 3));
  if (Math.abs(x.length - y.length) > limit) return false;
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length]! <= limit;
}
