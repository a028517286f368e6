import { ConfigError } from "../core/errors.js";
import { MASTRA_ACTIONS, MASTRA_RESOURCES, PACKED_MASTRA_ROUTES, PACKED_OUTSIDE_ROUTES } from "./mastra-routes.js";
import { methodOf, packedLines, pathOf, unpackRoute } from "./packed.js";
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
  rest: Map<string, Leaf> | null;
  routes: Map<string, Leaf> | null;
}

/** A route in the tree: compiled the first time a request reaches it (issue #14: a new isolate's first request builds the tree, not 420 routes). */
interface Leaf {
  /** The route, or its compact line (src/routes/packed.ts) until first needed. */
  source: MastraRoute | string;
  fullPath: string;
  /** Registration order: where two routes share a method and path, the first registered wins. */
  order: number;
  compiled: TableRoute | null;
}

/**
 * Mastra's routes for one API prefix, in a segment tree: classifying a request is one split of
 * the path and a map lookup per segment (a literal segment wins over a parameter, as Mastra
 * registers its literal routes first), with no regular expression per request. Nothing is done
 * before it is needed (issue #14: this is built on a new isolate's first request): the routes
 * under each first segment after the prefix (`agents`, `workflows`, …) enter the tree when a
 * request first reaches that segment, a route's permission, actions and targets are decoded when a
 * request first reaches the route, and the whole list only when asked for ({@link routes}).
 */
export class RouteTable {
  readonly prefix: string;
  readonly #root: Node = node();
  readonly #prefixSegments: number;
  readonly #leaves: Leaf[] = [];
  /** Routes not in the tree yet, by their first segment after the prefix. */
  readonly #pending = new Map<string, Leaf[]>();
  #routes: readonly TableRoute[] | null = null;
  #resources: ReadonlySet<string> | null;
  #actions: ReadonlySet<string> | null;

  /** `routes`/`outside`: the pinned Mastra's (from the generated table) unless given. */
  constructor(prefix: string = DEFAULT_API_PREFIX, routes?: readonly MastraRoute[], outside?: readonly MastraRoute[]) {
    this.prefix = prefix;
    this.#prefixSegments = prefix === "/" ? 0 : prefix.split("/").length - 1;
    for (const source of routes ?? packedLines(PACKED_MASTRA_ROUTES)) {
      const path = pathOf(source);
      const leaf = this.#leaf(source, prefix === "/" ? path : `${prefix}${path}`);
      // A route whose first segment is a parameter or a wildcard can match under any segment: in the tree at once.
      const first = path.slice(1, (path.indexOf("/", 1) + 1 || path.length + 1) - 1);
      if (first === "" || first.startsWith(":") || first === "*") this.#insert(leaf);
      else {
        const bucket = this.#pending.get(first);
        if (bucket) bucket.push(leaf);
        else this.#pending.set(first, [leaf]);
      }
    }
    for (const source of outside ?? packedLines(PACKED_OUTSIDE_ROUTES)) this.#insert(this.#leaf(source, pathOf(source)));
    // The generator lists the pinned table's resources and actions, so validating a selector
    // does not decode every route; a table of other routes derives them on first use.
    const pinned = routes === undefined && outside === undefined;
    this.#resources = pinned ? new Set(MASTRA_RESOURCES.split(" ")) : null;
    this.#actions = pinned ? new Set(MASTRA_ACTIONS.split(" ")) : null;
  }

  /** Every route, compiled, in registration order (Mastra's, then those outside the prefix). */
  get routes(): readonly TableRoute[] {
    return (this.#routes ??= this.#leaves.map(compiled));
  }

  /** Every resource the table knows: what a selector may name. */
  get resources(): ReadonlySet<string> {
    return (this.#resources ??= new Set(this.routes.map((r) => r.resource)));
  }

  /** Every action the table knows: what a selector may name. */
  get actions(): ReadonlySet<string> {
    return (this.#actions ??= new Set(this.routes.flatMap((r) => r.actions)));
  }

  #leaf(source: MastraRoute | string, fullPath: string): Leaf {
    const leaf: Leaf = { source, fullPath, order: this.#leaves.length, compiled: null };
    this.#leaves.push(leaf);
    return leaf;
  }

  #insert(leaf: Leaf): void {
    const method = methodOf(leaf.source);
    const segments = leaf.fullPath.split("/").slice(1);
    let at = this.#root;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === "*" && i === segments.length - 1) {
        at.rest ??= new Map();
        setFirst(at.rest, method, leaf);
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
    setFirst(at.routes, method, leaf);
  }

  /** The route a request reaches, on the normalised path. A trailing slash is the same route; HEAD is routed as GET. */
  classify(method: string, path: string): Classified {
    const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
    const segments = trimmed.split("/").slice(1);
    const m = method === "HEAD" ? "GET" : method;
    const underPrefix = this.#prefixSegments === 0 || isUnder(trimmed, this.prefix);
    if (underPrefix && this.#pending.size > 0) {
      const first = segments[this.#prefixSegments];
      const bucket = first === undefined ? undefined : this.#pending.get(first);
      if (bucket) {
        this.#pending.delete(first!);
        for (const leaf of bucket) this.#insert(leaf);
      }
    }
    const leaf = find(this.#root, segments, 0, m);
    return { match: leaf ? { route: compiled(leaf), segments } : null, underPrefix };
  }
}

/** The first registration wins, as in Mastra's router (whatever order the routes entered the tree in). */
function setFirst(routes: Map<string, Leaf>, method: string, leaf: Leaf): void {
  const held = routes.get(method);
  if (!held || held.order > leaf.order) routes.set(method, leaf);
}

function compiled(leaf: Leaf): TableRoute {
  return (leaf.compiled ??= compileRoute(typeof leaf.source === "string" ? unpackRoute(leaf.source) : leaf.source, leaf.fullPath));
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");
}

function node(): Node {
  return { literal: new Map(), param: null, rest: null, routes: null };
}

function pick(routes: Map<string, Leaf> | null, method: string): Leaf | undefined {
  return routes?.get(method) ?? routes?.get("ALL");
}

function find(at: Node, segments: readonly string[], i: number, method: string): Leaf | undefined {
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
