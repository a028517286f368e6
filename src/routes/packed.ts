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
 * there is the inverse of {@link unpackRoutes}; test/node/mastra-routes.test.ts checks the round
 * trip against @mastra/server's own routes). One route per line, fields separated by one space:
 *
 *     METHOD PATH PERMISSION [r=RESOURCE] [a=ACTION,…] [p] [o] [KIND=SOURCE]…
 *
 * PERMISSION is `-` for none, `[a:b,c:d` for Mastra's any-of array, else the permission itself.
 * The resource and the actions are written only where they differ from the permission's own
 * (`agents:execute` → resource `agents`, actions `execute`); `p` marks a public route, `o` one
 * outside the API prefix. Why not the JSON of each entry: the table is most of the deploy bundle
 * (issue #14's budget is 40 KiB gzipped), and this form is a quarter of its size before gzip.
 */
export function unpackRoutes(packed: string): MastraRoute[] {
  return packedLines(packed).map(unpackRoute);
}

/** The lines of a packed table, one route each. */
export function packedLines(packed: string): string[] {
  return packed.split("\n").filter((line) => line !== "");
}

/** A route's method: from a packed line without decoding the rest of it. */
export function methodOf(route: MastraRoute | string): string {
  return typeof route === "string" ? route.slice(0, route.indexOf(" ")) : route.method;
}

/** A route's path: from a packed line without decoding the rest of it. */
export function pathOf(route: MastraRoute | string): string {
  if (typeof route !== "string") return route.path;
  const from = route.indexOf(" ") + 1;
  return route.slice(from, route.indexOf(" ", from));
}

/** One packed line, decoded. */
export function unpackRoute(line: string): MastraRoute {
  const [method, path, permissionField, ...rest] = line.split(" ") as [string, string, string, ...string[]];
  const permission = permissionField === "-" ? null : permissionField.startsWith("[") ? permissionField.slice(1).split(",") : permissionField;
  const list = permission === null ? [] : Array.isArray(permission) ? permission : [permission];
  let resource = list[0]?.split(":")[0] ?? "";
  let actions = [...new Set(list.map((p) => p.split(":")[1]!))];
  const route: MastraRoute = { method, path, permission, resource, actions };
  let targets: RouteTargets | undefined;
  for (const field of rest) {
    const eq = field.indexOf("=");
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (name === "p") route.public = true;
    else if (name === "o") route.outside = true;
    else if (name === "r") resource = value;
    else if (name === "a") actions = value.split(",");
    else (targets ??= {})[name as keyof RouteTargets] = value as RouteTargets[keyof RouteTargets];
  }
  route.resource = resource;
  route.actions = actions;
  if (targets) route.targets = targets;
  return route;
}
