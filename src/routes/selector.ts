import { matchMethod, matchPattern, parseMethods, parsePatterns, type PathPattern } from "../paths/pattern.js";
import type { AgentDirectory } from "./agent-directory.js";
import { targetOf, UNKNOWN_TARGET, type Classified, type RouteTable, type TargetKind } from "./table.js";

/**
 * Which requests an AUTH_RULES rule or a RATE_LIMITS/QUOTAS entry is about. Every selector given
 * must match (a rule with `agents` and `actions` is about those actions on those agents); the
 * values of one selector are any-of.
 * - `path`, `methods`: the normalised path and the method, as before;
 * - `resources`, `actions`: Mastra's permission for the route (`agents:execute`), from the route
 *   table; `stored` means every `stored-*` resource, as in Mastra's RBAC;
 * - `agents`, `workflows`, `tools`: every route acting on one of those targets, however it names
 *   it (path parameter, JSON body field); a route that acts on a target the edge cannot name
 *   (`GET /v1/responses/:id`) matches every such selector.
 */
/**
 * Which requests an `AUTH_RULES`, `RATE_LIMITS` or `QUOTAS` entry selects, as written: `path` and
 * `methods`, or Mastra's vocabulary — `resources`, `actions`, `agents`, `workflows`, `tools` —
 * matched through the route table (e.g. `"actions": ["execute"]` for every route that runs
 * something; `"agents": [...]` for every route acting on one of those agents).
 */
export interface EntrySelectors {
  path?: string | string[];
  methods?: string[];
  /** Mastra permission resources: `agents`, `workflows`, `memory`, `tools`, `a2a`, `mcp`, `stored` … */
  resources?: string[];
  /** Mastra permission actions: `read`, `write`, `execute`, `delete`, `publish`, `create`. */
  actions?: string[];
  /** Agents by key or id (an entry lists every name it means). */
  agents?: string[];
  workflows?: string[];
  tools?: string[];
}

export interface RouteSelector {
  patterns: PathPattern[] | null;
  methods: Set<string> | null;
  resources: ReadonlySet<string> | null;
  actions: ReadonlySet<string> | null;
  targets: [TargetKind, ReadonlySet<string>][];
  /** Set when a selector needs the route table: the request is classified (once) before matching. */
  table: RouteTable | null;
}

/** The selector keys an entry may carry (beside its own keys). */
export const SELECTOR_KEYS = ["path", "methods", "resources", "actions", "agents", "workflows", "tools"] as const;

const TARGET_SELECTORS: readonly [string, TargetKind][] = [
  ["agents", "agent"],
  ["workflows", "workflow"],
  ["tools", "tool"],
];

/**
 * Every other name a target answers to, beside the one the request spells: an agent's key and id,
 * the keys under which parent agents list it as a sub-agent, and — so a rule about a sub-agent
 * also holds on every agent that can delegate to it — the names of the agents it can delegate to.
 * Undefined when nothing more is known than the spelling (the rules then match it as written).
 */
export type TargetAliases = (kind: TargetKind, name: string) => readonly string[] | undefined;

/** A request as selectors see it. `classified` is filled on first need and reused by every later selector. */
export interface RouteRequest {
  readonly method: string;
  readonly path: string;
  classified?: Classified;
  /** The other names of the request's targets, where the caller knows them (see {@link TargetAliases}). */
  aliases?: TargetAliases;
  /**
   * The upstream's agent directory, when the gateway has one for this request: an `agents`
   * selector then also matches every other spelling of the agents it names (a sub-agent key, a
   * stored agent, a parent that delegates to one). Absent: only the names the entry lists.
   */
  agents?: AgentDirectory | null;
  /**
   * A spelling the directory could not learn the meaning of (the upstream could not be asked):
   * it may be any agent, so every `agents` selector matches it, as a target the edge cannot name.
   */
  undecidedAgent?: string;
}

/** Compiles the selector keys of one entry; returns the reason it is malformed as a string. */
export function compileSelector(entry: Record<string, unknown>, table: RouteTable): RouteSelector | string {
  const present = SELECTOR_KEYS.filter((k) => k !== "methods" && entry[k] !== undefined);
  if (present.length === 0) return "needs a path, resources, actions, agents, workflows or tools";

  let patterns: PathPattern[] | null = null;
  if (entry.path !== undefined) {
    const parsed = parsePatterns(entry.path);
    if (typeof parsed === "string") return parsed;
    patterns = parsed;
  }
  const methods = parseMethods(entry.methods);
  if (typeof methods === "string") return methods;

  const names = (key: string): string[] | string | null => {
    const value = entry[key];
    if (value === undefined) return null;
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "")) {
      return `${key} must be a non-empty array of names`;
    }
    return value as string[];
  };

  const resourceList = names("resources");
  if (typeof resourceList === "string") return resourceList;
  let resources: Set<string> | null = null;
  if (resourceList) {
    resources = new Set();
    for (const r of resourceList) {
      if (r === "stored") {
        for (const known of table.resources) if (known.startsWith("stored-")) resources.add(known);
      } else if (table.resources.has(r)) resources.add(r);
      else return `unknown resource "${r.slice(0, 40)}" (Mastra's are ${[...table.resources].sort().join(", ")})`;
    }
  }

  const actionList = names("actions");
  if (typeof actionList === "string") return actionList;
  if (actionList) {
    const unknown = actionList.find((a) => !table.actions.has(a));
    if (unknown !== undefined) return `unknown action "${unknown.slice(0, 40)}" (one of ${[...table.actions].sort().join(", ")})`;
  }

  const targets: [TargetKind, ReadonlySet<string>][] = [];
  for (const [key, kind] of TARGET_SELECTORS) {
    const list = names(key);
    if (typeof list === "string") return list;
    if (list) targets.push([kind, new Set(list)]);
  }

  const usesRoutes = resources !== null || actionList !== null || targets.length > 0;
  return { patterns, methods, resources, actions: actionList ? new Set(actionList) : null, targets, table: usesRoutes ? table : null };
}

/** The selector is about this request. */
export function matchSelector(selector: RouteSelector, request: RouteRequest): boolean {
  if (!matchMethod(selector.methods, request.method)) return false;
  if (selector.patterns && !selector.patterns.some((p) => matchPattern(p, request.path))) return false;
  if (!selector.table) return true;
  const match = (request.classified ??= selector.table.classify(request.method, request.path)).match;
  if (!match) return false;
  const { route } = match;
  if (selector.resources && !selector.resources.has(route.resource)) return false;
  if (selector.actions && !route.actions.some((a) => selector.actions!.has(a))) return false;
  for (const [kind, names] of selector.targets) {
    const target = targetOf(match, kind);
    if (target === null) return false;
    if (target === UNKNOWN_TARGET || names.has(target)) continue;
    if (kind === "agent" && (request.agents?.covers(names, target) || request.undecidedAgent === target)) continue;
    // Any of the target's names selects it: a rule listing `weatherAgent` holds on `helper`.
    const aliases = request.aliases?.(kind, target);
    if (!aliases?.some((name) => names.has(name))) return false;
  }
  return true;
}

/** The agent names a selector lists, or null when it names none. */
export function selectedAgents(selector: RouteSelector): ReadonlySet<string> | null {
  for (const [kind, names] of selector.targets) if (kind === "agent") return names;
  return null;
}

/** The selector names targets (agents, workflows, tools): a route naming its target in the body needs that body read. */
export function selectsTargets(selector: RouteSelector): boolean {
  return selector.targets.length > 0;
}
