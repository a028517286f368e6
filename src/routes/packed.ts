import { PACKED_MASTRA_ROUTES, PACKED_OUTSIDE_ROUTES } from "./mastra-routes.js";
import type { MastraRoute, RouteTargets } from "./route.js";

let mastra: readonly MastraRoute[] | undefined;
let outside: readonly MastraRoute[] | undefined;

/** SERVER_ROUTES of the pinned @mastra/server, paths relative to the API prefix, in Mastra's order; decoded on first use, then held (the isolate cache: immutable). */
export function mastraRoutes(): readonly MastraRoute[] {
  return (mastra ??= unpackRoutes(PACKED_MASTRA_ROUTES));
}

/** What Mastra's server serves outside the API prefix (the health probe, Studio). */
export function outsideRoutes(): readonly MastraRoute[] {
  return (outside ??= unpackRoutes(PACKED_OUTSIDE_ROUTES));
}

/**
 * The route table's compact text form, as scripts/gen-mastra-routes.mjs writes it (`packRoutes`
 * there is the inverse of {@link unpackRoute}; test/node/mastra-routes.test.ts checks the round
 * trip against @mastra/server's own routes). One route per line, fields separated by one space:
 *
 *     METHOD PATH [PERMISSION] [r=RESOURCE] [a=ACTION,…] [p] [o] [KIND=SOURCE]…
 *
 * METHOD is one letter ({@link METHODS}); PATH is written as the number of its first characters it
 * shares with the line before, `|`, and the rest (`8|/providers` after `/agents`): {@link packedLines}
 * expands both. What the path and method already say is left out. PERMISSION is absent when it is Mastra's
 * derivation from them (`GET /agents/…` → `agents:read`, see {@link ACTION_OF_METHOD}), `~ACTION`
 * when only the action differs (`agents:execute` → `~execute`), `-` for none, `[a:b,c:d` for
 * Mastra's any-of array, else the permission itself. The resource and the actions are written only
 * where they differ from the permission's own; `p` marks a public route, `o` one outside the API
 * prefix; a target is written only where the path's parameters do not name it
 * ({@link PARAM_TARGETS}). Why not the JSON of each entry: the table is the largest part of the
 * deploy bundle (issue #14's budget is 40 KiB gzipped), and this form is a fifth of its size.
 */
const METHODS: Readonly<Record<string, string>> = { G: "GET", P: "POST", U: "PUT", D: "DELETE", A: "PATCH", L: "ALL" };

const ACTION_OF_METHOD: Readonly<Record<string, string>> = { GET: "read", POST: "write", PUT: "write", PATCH: "write", DELETE: "delete" };

/** The path parameters that name each kind of target (the first one present wins), as the generator's `paramTargets`. */
const PARAM_TARGETS: readonly [keyof RouteTargets, readonly string[]][] = [
  ["agent", ["agentId", "storedAgentId"]],
  ["workflow", ["workflowId", "dynamicWorkflowId"]],
  ["tool", ["toolId"]],
  ["mcpServer", ["serverId"]],
];

export function unpackRoutes(packed: string): MastraRoute[] {
  return packedLines(packed).map(unpackRoute);
}

/** The lines of a packed table, one route each, with the method and the path written out (`GET /agents/providers …`). */
export function packedLines(packed: string): string[] {
  const lines: string[] = [];
  let previous = "";
  for (const line of packed.split("\n")) {
    if (line === "") continue;
    const space = line.indexOf(" ");
    const bar = line.indexOf("|", space);
    const end = line.indexOf(" ", space + 1);
    const rest = end < 0 ? "" : line.slice(end);
    const path = previous.slice(0, Number(line.slice(space + 1, bar))) + line.slice(bar + 1, end < 0 ? undefined : end);
    previous = path;
    lines.push(`${METHODS[line.slice(0, space)] ?? line.slice(0, space)} ${path}${rest}`);
  }
  return lines;
}

/** A route's method: from a packed line without decoding the rest of it. */
export function methodOf(route: MastraRoute | string): string {
  return typeof route === "string" ? route.slice(0, route.indexOf(" ")) : route.method;
}

/** A route's path: from a packed line without decoding the rest of it. */
export function pathOf(route: MastraRoute | string): string {
  if (typeof route !== "string") return route.path;
  const from = route.indexOf(" ") + 1;
  const end = route.indexOf(" ", from);
  return end < 0 ? route.slice(from) : route.slice(from, end);
}

/** One packed line, decoded. */
export function unpackRoute(line: string): MastraRoute {
  const [method, path, ...fields] = line.split(" ") as [string, string, ...string[]];
  const segment = path.split("/")[1] ?? "";
  let permissionField: string | undefined;
  const rest: string[] = [];
  for (const field of fields) {
    if (permissionField === undefined && !field.includes("=") && field !== "p" && field !== "o") permissionField = field;
    else rest.push(field);
  }
  const permission =
    permissionField === undefined
      ? `${segment}:${ACTION_OF_METHOD[method]}`
      : permissionField === "-"
        ? null
        : permissionField.startsWith("[")
          ? permissionField.slice(1).split(",")
          : permissionField.startsWith("~")
            ? `${segment}:${permissionField.slice(1)}`
            : permissionField;
  const list = permission === null ? [] : Array.isArray(permission) ? permission : [permission];
  let resource = list[0]?.split(":")[0] ?? "";
  let actions = [...new Set(list.map((p) => p.split(":")[1]!))];
  const route: MastraRoute = { method, path, permission, resource, actions };
  const targets: RouteTargets = {};
  const params = path.split("/").filter((s) => s.startsWith(":"));
  for (const [kind, names] of PARAM_TARGETS) {
    const name = names.find((n) => params.includes(`:${n}`));
    if (name) targets[kind] = `:${name}`;
  }
  for (const field of rest) {
    const eq = field.indexOf("=");
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (name === "p") route.public = true;
    else if (name === "o") route.outside = true;
    else if (name === "r") resource = value;
    else if (name === "a") actions = value.split(",");
    else targets[name as keyof RouteTargets] = value as RouteTargets[keyof RouteTargets];
  }
  route.resource = resource;
  route.actions = actions;
  if (Object.keys(targets).length > 0) route.targets = targets;
  return route;
}
