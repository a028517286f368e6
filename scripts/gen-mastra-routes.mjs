// Writes src/routes/mastra-routes.ts: every route the pinned @mastra/server serves, with the
// permission Mastra itself requires for it and where the route names its target. Run after
// upgrading @mastra/server; test/node/mastra-routes.test.ts fails until the table is regenerated.
//
//   node scripts/gen-mastra-routes.mjs          write the table
//   node scripts/gen-mastra-routes.mjs --check  exit 1 when the checked-in table is stale

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const OUTPUT = join(ROOT, "src/routes/mastra-routes.ts");

/**
 * Routes whose Mastra permission (`write`) under-states what they do: each runs an agent, a
 * workflow, a tool or a scorer, so it spends like an `execute`. The table adds `execute` to their
 * actions (their `permission` stays Mastra's). Keyed by "METHOD path"; a key that no longer names
 * a route fails the test, so the list cannot outlive the routes it describes.
 */
export const ALSO_EXECUTES = {
  "POST /agents/:agentId/network": "runs the agent network (a model call per step)",
  "POST /a2a/:agentId": "A2A message/send and message/stream run the agent",
  "POST /schedules/:scheduleId/run": "runs the scheduled workflow now",
  "POST /datasets/:datasetId/experiments": "runs an experiment against an agent or workflow",
  "POST /datasets/:datasetId/experiments/:experimentId/items/:itemId/run": "runs one experiment item",
  "POST /editor/workflow-builder/stream": "streams the workflow builder's agent",
  "POST /observability/traces/score": "runs scorers (model-graded ones call a model)",
  "ALL /mcp/:serverId/mcp": "MCP tools/call runs the tool (or the agent or workflow it wraps)",
  "ALL /mcp/:serverId/sse": "MCP over SSE: tools/call runs the tool",
  "POST /mcp/:serverId/messages": "MCP over SSE: tools/call runs the tool",
};

/**
 * Where a route names its target, beyond the path parameters read by {@link paramTargets}: in the
 * JSON body (read at the edge, bounded), or nowhere the edge can see ("?": Mastra finds the agent
 * from a stored response or conversation, so every agent rule applies).
 */
export const BODY_TARGETS = {
  "POST /v1/responses": { agent: "body.agent_id" },
  "POST /v1/conversations": { agent: "body.agent_id" },
  "GET /v1/responses/:responseId": { agent: "?" },
  "DELETE /v1/responses/:responseId": { agent: "?" },
  "GET /v1/conversations/:conversationId": { agent: "?" },
  "GET /v1/conversations/:conversationId/items": { agent: "?" },
  "DELETE /v1/conversations/:conversationId": { agent: "?" },
};

/**
 * Routes Mastra's server serves outside SERVER_ROUTES (from @mastra/deployer's server, not a
 * dependency here, so listed by hand): the health probe and Studio. `outside` routes are not
 * under the API prefix.
 */
export const OUTSIDE_ROUTES = [
  { method: "GET", path: "/health", permission: null, public: true, outside: true, resource: "health", actions: ["read"] },
  { method: "GET", path: "/", permission: null, outside: true, resource: "studio", actions: ["read"] },
  { method: "GET", path: "/assets/*", permission: null, outside: true, resource: "studio", actions: ["read"] },
];

/** The target kinds and the path parameters that name them. */
const PARAM_TARGETS = {
  agent: ["agentId", "storedAgentId"],
  workflow: ["workflowId", "dynamicWorkflowId"],
  tool: ["toolId"],
  mcpServer: ["serverId"],
};

export function paramTargets(path, { special = true } = {}) {
  const params = [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
  const targets = {};
  for (const [kind, names] of Object.entries(PARAM_TARGETS)) {
    const name = names.find((n) => params.includes(n));
    if (name) targets[kind] = `:${name}`;
  }
  // /mcp/v0/servers/:id is the MCP registry's name for a server id.
  if (special && path === "/mcp/v0/servers/:id") targets.mcpServer = ":id";
  return targets;
}

function resourceOf(permission, path, extract) {
  const first = Array.isArray(permission) ? permission[0] : permission;
  return first ? first.split(":")[0] : extract(path);
}

/** One table entry per SERVER_ROUTES route, in Mastra's order. */
export function buildEntries(routes, { getEffectivePermission, extractResource, deriveAction }) {
  const keys = new Set(routes.map((r) => `${r.method} ${r.path}`));
  for (const key of [...Object.keys(ALSO_EXECUTES), ...Object.keys(BODY_TARGETS)]) {
    if (!keys.has(key)) throw new Error(`${key} is no longer a route of @mastra/server: update scripts/gen-mastra-routes.mjs`);
  }
  return routes.map((route) => {
    const key = `${route.method} ${route.path}`;
    const permission = getEffectivePermission(route);
    const isPublic = route.requiresAuth === false;
    const permissions = permission === null ? [] : Array.isArray(permission) ? permission : [permission];
    const actions = new Set(permissions.map((p) => p.split(":")[1]));
    // Public and ALL routes have no Mastra permission: their action is the one Mastra would derive.
    if (permissions.length === 0 && route.method !== "ALL") actions.add(deriveAction(route.method, route.path));
    if (ALSO_EXECUTES[key]) actions.add("execute");
    const entry = { method: route.method, path: route.path, permission, resource: resourceOf(permission, route.path, extractResource), actions: [...actions] };
    if (isPublic) entry.public = true;
    const targets = { ...paramTargets(route.path), ...(BODY_TARGETS[key] ?? {}) };
    if (Object.keys(targets).length) entry.targets = targets;
    return entry;
  });
}

export async function loadMastra() {
  const adapter = await import("@mastra/server/server-adapter");
  const require = createRequire(join(ROOT, "package.json"));
  const version = JSON.parse(readFileSync(join(dirname(require.resolve("@mastra/server/package.json")), "package.json"), "utf8")).version;
  return { adapter, version };
}

/** The one-letter methods of src/routes/packed.ts. */
const METHOD_LETTERS = { GET: "G", POST: "P", PUT: "U", DELETE: "D", PATCH: "A", ALL: "L" };

/** As src/routes/packed.ts derives a permission's action from the method when none is written. */
const ACTION_OF_METHOD = { GET: "read", POST: "write", PUT: "write", PATCH: "write", DELETE: "delete" };

/**
 * One line per route, in the compact form src/routes/packed.ts reads (its `unpackRoute` is the
 * inverse; the format is documented there). Only what the method, the path and the permission do
 * not already say is written.
 */
export function packRoutes(entries) {
  let previous = "";
  const lines = entries.map((e) => {
    const list = e.permission === null ? [] : Array.isArray(e.permission) ? e.permission : [e.permission];
    const segment = e.path.split("/")[1] ?? "";
    const fields = [e.method, e.path];
    if (e.permission === null) fields.push("-");
    else if (Array.isArray(e.permission)) fields.push(`[${e.permission.join(",")}`);
    else if (e.permission === `${segment}:${ACTION_OF_METHOD[e.method]}`) {
      // Derived from the method and path: nothing written.
    } else if (e.permission.startsWith(`${segment}:`) && !e.permission.slice(segment.length + 1).includes(":")) fields.push(`~${e.permission.slice(segment.length + 1)}`);
    else fields.push(e.permission);
    if (e.resource !== (list[0]?.split(":")[0] ?? "")) fields.push(`r=${e.resource}`);
    const actions = [...new Set(list.map((p) => p.split(":")[1]))];
    if (e.actions.join(",") !== actions.join(",")) fields.push(`a=${e.actions.join(",")}`);
    if (e.public) fields.push("p");
    if (e.outside) fields.push("o");
    const derived = paramTargets(e.path, { special: false });
    for (const [kind, source] of Object.entries(e.targets ?? {})) if (derived[kind] !== source) fields.push(`${kind}=${source}`);
    for (const kind of Object.keys(derived)) if (!e.targets?.[kind]) throw new Error(`route ${e.method} ${e.path}: its ${kind} parameter names no target`);
    for (const f of fields) if (/[\s`$\\|]/.test(f) || f === "") throw new Error(`route ${e.method} ${e.path}: "${f}" cannot be packed`);
    // The path as the count of characters shared with the previous one, `|`, and the rest.
    let shared = 0;
    while (shared < e.path.length && e.path[shared] === previous[shared]) shared++;
    previous = e.path;
    fields[0] = METHOD_LETTERS[e.method] ?? e.method;
    fields[1] = `${shared}|${e.path.slice(shared)}`;
    return fields.join(" ");
  });
  return lines.join("\n");
}

/** The distinct values `of` gives over the entries and OUTSIDE_ROUTES, sorted, space-separated. */
function vocabulary(entries, of) {
  return [...new Set([...entries, ...OUTSIDE_ROUTES].flatMap(of))].sort().join(" ");
}

export function render(entries, version) {
  return `// GENERATED by scripts/gen-mastra-routes.mjs from @mastra/server ${version}: do not edit.
// Regenerate after upgrading Mastra: node scripts/gen-mastra-routes.mjs
// (test/node/mastra-routes.test.ts compares this table with @mastra/server's own, route by route.)
// The compact form (one route per line) is read by src/routes/packed.ts, where it is documented.

export const MASTRA_SERVER_VERSION = ${JSON.stringify(version)};

/** SERVER_ROUTES of @mastra/server, paths relative to the API prefix, in Mastra's order. */
export const PACKED_MASTRA_ROUTES = \`
${packRoutes(entries)}
\`;

/** What Mastra's server serves outside the API prefix (the health probe, Studio). */
export const PACKED_OUTSIDE_ROUTES = \`
${packRoutes(OUTSIDE_ROUTES)}
\`;

/** Every resource and every action of the routes above: what a selector may name, known without decoding them. */
export const MASTRA_RESOURCES = ${JSON.stringify(vocabulary(entries, (e) => [e.resource]))};
export const MASTRA_ACTIONS = ${JSON.stringify(vocabulary(entries, (e) => e.actions))};
`;
}

export async function generate() {
  const { adapter, version } = await loadMastra();
  return render(buildEntries(adapter.SERVER_ROUTES, adapter), version);
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const text = await generate();
  if (process.argv.includes("--check")) {
    const current = readFileSync(OUTPUT, "utf8");
    if (current !== text) {
      console.error("src/routes/mastra-routes.ts is stale: run node scripts/gen-mastra-routes.mjs");
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT, text);
    console.log(`wrote ${OUTPUT}`);
  }
}
