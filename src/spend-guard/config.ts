import { ConfigError } from "../core/errors.js";
import { jsonVar } from "../core/env.js";
import { compileSelector, matchSelector, selectsTargets, SELECTOR_KEYS, type EntrySelectors, type RouteRequest, type RouteSelector } from "../routes/selector.js";
import { routeTable, type RouteTable } from "../routes/table.js";
import type { SpendCounterNamespace } from "./windows.js";

/** Whose budget a request spends. `ip` is the only key a public (anonymous) request has. */
export type LimitKey = "user" | "org" | "session" | "ip";

export type { EntrySelectors };

/** One entry of `RATE_LIMITS`. */
export interface RateLimitEntry extends EntrySelectors {
  /** The policy name in `RateLimit-Policy`/`RateLimit` and in logs. Default `rate-limit-<index>`. */
  id?: string;
  key: LimitKey;
  limit: number;
  /** Seconds. */
  period: number;
  /**
   * A `[[ratelimits]]` binding of this Worker. Its `simple.limit`/`simple.period` in wrangler.toml
   * must be this entry's `limit`/`period` (the binding does not tell the Worker its own numbers).
   * Without it, the entry is counted exactly by the `SpendCounter` Durable Object.
   */
  binding?: string;
}

/** One entry of `QUOTAS`: `limit` requests per UTC day, counted exactly by the Durable Object. */
export interface QuotaEntry extends EntrySelectors {
  id?: string;
  key: "user" | "org";
  limit: number;
}

export interface CompiledLimit {
  id: string;
  /** Which variable it came from, for messages. */
  source: "RATE_LIMITS" | "QUOTAS";
  selector: RouteSelector;
  key: LimitKey;
  limit: number;
  period: number;
  /** The Workers Rate Limiting binding counting it, or null when the Durable Object does. */
  binding: RateLimit | null;
  /** Its `RateLimit-Policy` list member, built once. */
  policy: string;
}

export interface SpendGuardConfig {
  /** `RATE_LIMITS` then `QUOTAS`, in order. Empty: the guard costs one length check per request. */
  limits: CompiledLimit[];
  /** Set when some limit is counted by the Durable Object. */
  counter: SpendCounterNamespace | null;
  /** Some limit names agents, workflows or tools: a route naming its target in the body needs it read first. */
  selectsTargets: boolean;
}

export const DAY_S = 86_400;
/** The Workers Rate Limiting binding only knows these periods. */
const BINDING_PERIODS = new Set([10, 60]);
const MAX_PERIOD_S = 30 * DAY_S;
const MAX_LIMIT = 1_000_000_000;
/** Ids travel in a structured-field string and a SQL row name: keep them plain. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const RATE_KEYS = new Set<string>(["id", ...SELECTOR_KEYS, "key", "limit", "period", "binding"]);
const QUOTA_KEYS = new Set<string>(["id", ...SELECTOR_KEYS, "key", "limit"]);
const RATE_KEY_KINDS: readonly LimitKey[] = ["user", "org", "session", "ip"];
const QUOTA_KEY_KINDS: readonly LimitKey[] = ["user", "org"];
export const COUNTER_BINDING = "SPEND_COUNTER";

/** The bindings the spend guard may look up by name (`binding` of an entry, and the counter). */
export type SpendGuardEnv = { RATE_LIMITS?: string; QUOTAS?: string; SPEND_COUNTER?: SpendCounterNamespace } & Record<string, unknown>;

/**
 * Parses `RATE_LIMITS` and `QUOTAS` once per isolate. A malformed entry, an unknown binding or a
 * missing Durable Object binding is a {@link ConfigError} naming the entry, so a typo never leaves
 * a costly route silently unguarded.
 */
export function resolveSpendGuard(env: SpendGuardEnv, table: RouteTable = routeTable()): SpendGuardConfig {
  const limits = [...parseList(env, "RATE_LIMITS", table), ...parseList(env, "QUOTAS", table)];
  const seen = new Map<string, string>();
  for (const l of limits) {
    const other = seen.get(l.id);
    if (other) throw new ConfigError(l.source, `entry "${l.id}": id already used in ${other}; ids name separate budgets and must be unique`);
    seen.set(l.id, l.source);
  }
  const exact = limits.find((l) => l.binding === null);
  let counter: SpendGuardConfig["counter"] = null;
  if (exact) {
    const ns = env[COUNTER_BINDING] as SpendCounterNamespace | undefined;
    if (!ns || typeof ns.idFromName !== "function") {
      throw new ConfigError(exact.source, `entry "${exact.id}" is counted by the SpendCounter Durable Object, but the Worker has no ${COUNTER_BINDING} binding (see wrangler.toml)`);
    }
    counter = ns;
  }
  return { limits, counter, selectsTargets: limits.some((l) => selectsTargets(l.selector)) };
}

function parseList(env: SpendGuardEnv, variable: "RATE_LIMITS" | "QUOTAS", table: RouteTable): CompiledLimit[] {
  const value = env[variable];
  if (value === undefined || (typeof value === "string" && value.trim() === "")) return [];
  const raw = jsonVar(value, variable, "a JSON array of entries");
  if (!Array.isArray(raw)) throw new ConfigError(variable, "must be a JSON array of entries");
  return raw.map((entry, index) => compileEntry(env, variable, entry, index, table));
}

function compileEntry(env: SpendGuardEnv, variable: "RATE_LIMITS" | "QUOTAS", entry: unknown, index: number, table: RouteTable): CompiledLimit {
  if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new ConfigError(variable, `entry #${index} is not an object`);
  const e = entry as Record<string, unknown>;
  if (e.id !== undefined && (typeof e.id !== "string" || !ID.test(e.id))) {
    throw new ConfigError(variable, `entry #${index}: id must be 1-64 letters, digits, . _ : or - (it is sent in the RateLimit headers)`);
  }
  const id = (e.id as string | undefined) ?? `${variable === "QUOTAS" ? "quota" : "rate-limit"}-${index}`;
  const fail = (message: string) => new ConfigError(variable, `entry ${e.id === undefined ? `#${index}` : `"${id}"`}: ${message}`);
  const quota = variable === "QUOTAS";

  for (const name of Object.keys(e)) if (!(quota ? QUOTA_KEYS : RATE_KEYS).has(name)) throw fail(`unknown key "${name.slice(0, 40)}"`);

  const selector = compileSelector(e, table);
  if (typeof selector === "string") throw fail(selector);

  const kinds = quota ? QUOTA_KEY_KINDS : RATE_KEY_KINDS;
  if (typeof e.key !== "string" || !kinds.includes(e.key as LimitKey)) throw fail(`key must be one of ${kinds.join(", ")}`);
  const key = e.key as LimitKey;

  if (!Number.isInteger(e.limit) || (e.limit as number) < 1 || (e.limit as number) > MAX_LIMIT) throw fail("limit must be a positive integer");
  const limit = e.limit as number;

  let period = DAY_S;
  let binding: RateLimit | null = null;
  if (!quota) {
    if (!Number.isInteger(e.period) || (e.period as number) < 1 || (e.period as number) > MAX_PERIOD_S) {
      throw fail(`period must be a whole number of seconds between 1 and ${MAX_PERIOD_S}`);
    }
    period = e.period as number;
    if (e.binding !== undefined) {
      if (typeof e.binding !== "string" || !BINDING_NAME.test(e.binding)) throw fail("binding must be the name of a [[ratelimits]] binding");
      if (!BINDING_PERIODS.has(period)) throw fail(`a Rate Limiting binding counts over 10 or 60 seconds only, not ${period}; drop "binding" to count it in the Durable Object`);
      const candidate = env[e.binding] as RateLimit | undefined;
      if (!candidate || typeof candidate.limit !== "function") throw fail(`binding "${e.binding}" is not a [[ratelimits]] binding of this Worker`);
      binding = candidate;
    }
  }

  return { id, source: variable, selector, key, limit, period, binding, policy: `"${id}";q=${limit};w=${period}` };
}

/**
 * The limits a request falls under: every matching entry applies, not only the first. `request`
 * carries the request's route classification when the caller already has it.
 */
export function matchLimits(limits: readonly CompiledLimit[], method: string, path: string, request: RouteRequest = { method, path }): readonly CompiledLimit[] {
  let matched: CompiledLimit[] | undefined;
  for (const l of limits) if (matchSelector(l.selector, request)) (matched ??= []).push(l);
  return matched ?? NONE;
}

const NONE: readonly CompiledLimit[] = [];
