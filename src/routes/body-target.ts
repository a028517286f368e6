import { readCapped } from "../core/read-capped.js";
import type { RouteRequest } from "./selector.js";
import { UNKNOWN_TARGET, type RouteMatch, type RouteTable, type TargetKind } from "./table.js";

/** Why a body naming a target could not be read: the gateway answers `status` with `reason`. */
export interface BodyTargetFailure {
  status: 400 | 413;
  reason: "body-unreadable" | "body-too-large";
  message: string;
}

const targetKinds: readonly TargetKind[] = ["agent", "workflow", "tool", "mcpServer"];

/**
 * The most JSON body the edge reads to find a target (`agent_id` of `/v1/responses`). A larger
 * body on such a route is refused (413) when a rule needs its target: reading it is the only way
 * to know which agent it runs. Default 1 MiB.
 */
export const MAX_TARGET_BODY_BYTES = 1024 * 1024;

/** The body fields a matched route names targets in, or null when it names none there. */
export function bodyTargetFields(match: RouteMatch): [TargetKind, string][] | null {
  let fields: [TargetKind, string][] | null = null;
  for (const kind of targetKinds) {
    const at = match.route.targetAt[kind];
    if (at !== undefined && typeof at === "object") (fields ??= []).push([kind, at.body]);
  }
  return fields;
}

/**
 * Reads the targets a route names in its JSON body into `match.body`, from a clone of the request
 * (the original body is forwarded untouched). A body that is not a JSON object, or over `maxBytes`,
 * is a failure the gateway answers with 400 or 413: a request whose target cannot be read is never
 * let past a rule about that target. A field that is absent or not a string leaves the target
 * unknown, so every rule about that kind applies (`previous_response_id` without `agent_id`).
 */
export async function readBodyTargets(match: RouteMatch, request: Request, maxBytes = MAX_TARGET_BODY_BYTES): Promise<BodyTargetFailure | null> {
  const fields = bodyTargetFields(match);
  if (!fields) return null;
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) return tooLarge(maxBytes);
  if (!request.body) return unreadable("the request has no body");
  let text: string;
  try {
    const read = await readCapped(request.clone().body!, maxBytes);
    if (read === null) return tooLarge(maxBytes);
    text = read;
  } catch {
    return unreadable("the request body could not be read");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return unreadable("the request body is not JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return unreadable("the request body is not a JSON object");
  match.body = {};
  for (const [kind, field] of fields) {
    const value = (body as Record<string, unknown>)[field];
    match.body[kind] = typeof value === "string" && value !== "" ? value : UNKNOWN_TARGET;
  }
  return null;
}

function tooLarge(maxBytes: number): BodyTargetFailure {
  return { status: 413, reason: "body-too-large", message: `the body names the route's target and must be read to authorize it: at most ${maxBytes} bytes` };
}

function unreadable(message: string): BodyTargetFailure {
  return { status: 400, reason: "body-unreadable", message: `${message}; this route's target (agent_id) is read from a JSON body to authorize it` };
}

/**
 * Classifies the request (once, into `request.classified`) and, when its route names a target in
 * the JSON body, reads it. Null when there is nothing to read or it was read.
 */
export async function readRequestTargets(table: RouteTable, request: RouteRequest, raw: Request, maxBytes = MAX_TARGET_BODY_BYTES): Promise<BodyTargetFailure | null> {
  const match = (request.classified ??= table.classify(request.method, request.path)).match;
  return match ? readBodyTargets(match, raw, maxBytes) : null;
}
