import { ConfigError } from "../core/errors.js";
import { mastraRoutes, outsideRoutes } from "./packed.js";
import type { MastraRoute, RouteTargets } from "./route.js";

/** Mastra's default API prefix (`server.apiPrefix`). */
export const DEFAULT_API_PREFIX = "/api";

export type TargetKind = keyof RouteTargets;

/** A target the route acts on but the edge cannot name (Mastra finds it from stored state, or the body named none). */
export const UNKNOWN_TARGET: unique symbol = Symbol("unknown target");
export type Target = string | typeof UNKNOWN_TARGET;

/** A table route compiled for one prefix. */
export interface TableRoute extends MastraRoute {
  /** The path the upstream serves it at (`/api/agents/:agentId/generate`). */
  readonly fullPath: string;
  readonly actionSet: ReadonlySet<string>;
  /** Per target kind: the path segment naming it, or the JSON body field, or unknown. */
  readonly targetAt: Readonly<Partial<Record<TargetKind, number | { body: string } | typeof UNKNOWN_TARGET>>>;
}

/** What the table says about one request. Built per request; `body` is filled by the pipeline when it reads one. */
export interface RouteMatch {
  readonly route: TableRoute;
  readonly segments: readonly string[];
  /** Targets read from the JSON body (`agent_id` of `/v1/responses`), once read. */
  body?: Partial<Record<TargetKind, Target>>;
}

export interface Classified {
  /** Null: no route Mastra serves (a custom API route under the prefix, or anything outside it). */
  readonly match: RouteMatch | null;
  /** The path is under the API prefix. */
  readonly underPrefix: boolean;
}

interface Node {
  literal: Map<string, Node>;
  param: Node | null;
  /** A trailing `*`: one or more further segments. */
  rest: Map<string, TableRoute> | null;
  routes: Map<string, TableRoute> | null;
}

/**
 * Mastra's routes for one API prefix, precompiled into a segment tree: classifying a request is
 * one split of the path and a map lookup per segment (a literal segment wins over a parameter, as
 * Mastra registers its literal routes first), with no regular expression per request.
 */
export class RouteTable {
  readonly prefix: string;
  readonly routes: readonly TableRoute[];
  /** Every resource and action the table knows: what a selector may name. */
  readonly resources: ReadonlySet<string>;
  readonly actions: ReadonlySet<string>;
  readonly #root: Node = node();
  readonly #prefixSegments: number;

  constructor(prefix: string = DEFAULT_API_PREFIX, routes: readonly MastraRoute[] = mastraRoutes(), outside: readonly MastraRoute[] = outsideRoutes()) {
    this.prefix = prefix;
    this.#prefixSegments = prefix === "/" ? 0 : prefix.split("/").length - 1;
    const compiled: TableRoute[] = [];
    for (const route of routes) compiled.push(compileRoute(route, prefix === "/" ? route.path : `${prefix}${route.path}`));
    for (const route of outside) compiled.push(compileRoute(route, route.path));
    this.routes = compiled;
    this.resources = new Set(compiled.map((r) => r.resource));
    this.actions = new Set(compiled.flatMap((r) => r.actions));
    for (const route of compiled) this.#insert(route);
  }

  #insert(route: TableRoute): void {
    const segments = route.fullPath.split("/").slice(1);
    let at = this.#root;
    for (const [i, segment] of segments.entries()) {
      if (segment === "*" && i === segments.length - 1) {
        at.rest ??= new Map();
        if (!at.rest.has(route.method)) at.rest.set(route.method, route);
        return;
      }
      if (segment.startsWith(":")) at = at.param ??= node();
      else {
        let next = at.literal.get(segment);
        if (!next) at.literal.set(segment, (next = node()));
        at = next;
      }
    }
    at.routes ??= new Map();
    // The first registration wins, as in Mastra's router.
    if (!at.routes.has(route.method)) at.routes.set(route.method, route);
  }

  /** The route a request reaches, on the normalised path. A trailing slash is the same route; HEAD is routed as GET. */
  classify(method: string, path: string): Classified {
    const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
    const segments = trimmed.split("/").slice(1);
    const m = method === "HEAD" ? "GET" : method;
    const route = find(this.#root, segments, 0, m);
    const underPrefix = this.#prefixSegments === 0 || isUnder(trimmed, this.prefix);
    return { match: route ? { route, segments } : null, underPrefix };
  }
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");
}

function node(): Node {
  return { literal: new Map(), param: null, rest: null, routes: null };
}

function pick(routes: Map<string, TableRoute> | null, method: string): TableRoute | undefined {
  return routes?.get(method) ?? routes?.get("ALL");
}

function find(at: Node, segments: readonly string[], i: number, method: string): TableRoute | undefined {
  if (i === segments.length) return pick(at.routes, method);
  const segment = segments[i]!;
  const literal = at.literal.get(segment);
  if (literal) {
    const found = find(literal, segments, i + 1, method);
    if (found) return found;
  }
  if (at.param && segment !== "") {
    const found = find(at.param, segments, i + 1, method);
    if (found) return found;
  }
  return at.rest && segment !== "" ? pick(at.rest, method) : undefined;
}

function compileRoute(route: MastraRoute, fullPath: string): TableRoute {
  const segments = fullPath.split("/").slice(1);
  const targetAt: Partial<Record<TargetKind, number | { body: string } | typeof UNKNOWN_TARGET>> = {};
  for (const [kind, source] of Object.entries(route.targets ?? {}) as [TargetKind, string][]) {
    if (source === "?") targetAt[kind] = UNKNOWN_TARGET;
    else if (source.startsWith("body.")) targetAt[kind] = { body: source.slice(5) };
    else {
      const index = segments.indexOf(source);
      if (index < 0) throw new Error(`route ${route.method} ${route.path}: no ${source} segment`);
      targetAt[kind] = index;
    }
  }
  return { ...route, fullPath, actionSet: new Set(route.actions), targetAt };
}

/**
 * The target of one kind a matched request acts on: the name (decoded as Mastra's router decodes
 * a parameter), {@link UNKNOWN_TARGET} when the route acts on one the edge cannot name, or null
 * when the route acts on no target of that kind.
 */
export function targetOf(match: RouteMatch, kind: TargetKind): Target | null {
  const at = match.route.targetAt[kind];
  if (at === undefined) return null;
  if (at === UNKNOWN_TARGET) return UNKNOWN_TARGET;
  if (typeof at === "number") return decodeSegment(match.segments[at]!);
  return match.body?.[kind] ?? UNKNOWN_TARGET;
}

function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `MASTRA_API_PREFIX`: where Mastra's routes are mounted (its `server.apiPrefix`), default `/api`. */
export function parseApiPrefix(value: string | undefined, variable = "MASTRA_API_PREFIX"): string {
  if (value === undefined || value.trim() === "") return DEFAULT_API_PREFIX;
  const prefix = value.trim().replace(/\/+$/, "") || "/";
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(prefix) || /\/\//.test(prefix) || /\/\.\.?(\/|$)/.test(prefix)) {
    throw new ConfigError(variable, `"${prefix.slice(0, 60)}" is not a path like /api`);
  }
  return prefix;
}

const tables = new Map<string, RouteTable>();

/** The table for a prefix, built once per isolate (the deliberate isolate cache: tables are immutable). */
export function routeTable(prefix: string = DEFAULT_API_PREFIX): RouteTable {
  let table = tables.get(prefix);
  if (!table) tables.set(prefix, (table = new RouteTable(prefix)));
  return table;
}
