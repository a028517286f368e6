import { readClaim } from "../identity/claim-path.js";
import { removeCredentials, type ExtractedToken } from "../credentials/token.js";
import type { Identity } from "../identity/identity.js";
import { actorId } from "../identity/actor.js";

export interface IdentityHeaderMapping {
  /** Lower-case header name. */
  header: string;
  /** Dotted path into the verified claims. */
  claim: string;
}

export interface UpstreamHeaderOptions {
  identity: Identity | null;
  /** The credential that was verified (null on an anonymous public request): the only one that travels. */
  credential: ExtractedToken | null;
  identityHeaders: readonly IdentityHeaderMapping[];
  /** Canonical names of configured identity headers, stripped like x-clerk-*. */
  reserved: ReadonlySet<string>;
  forwardAuthorization: boolean;
  /** The client's address as the edge saw it (`CF-Connecting-IP`). */
  clientIp: string | null;
  proto: string;
  host: string;
  websocket: boolean;
  /** The request reached the gateway on a configured Studio host: Mastra is told so (`x-mastra-client-type: studio`). */
  studio: boolean;
}

/**
 * Names never copied upstream, one precompiled test: what a client could spoof (`x-clerk-*`,
 * `X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`, `X-Client-IP`,
 * `x-gateway-assertion`, with `_` for `-`), the headers that steer Mastra's own auth path
 * (`x-mastra-dev-playground`, `x-mastra-client-type`: a client must not choose it), hop-by-hop
 * headers (`Proxy-*` included), `Host`, and
 * the edge's own `CF-*` request headers (`CF-Connecting-IP` and `-IPv6` included: an upstream
 * reading them must see the edge's value, which the gateway passes as `X-Forwarded-For`).
 */
const DROP_UPSTREAM =
  /^(?:x[-_]clerk[-_].*|x[-_]forwarded[-_].*|forwarded|x[-_]real[-_]ip|true[-_]client[-_]ip|x[-_]client[-_]ip|x[-_]gateway[-_]assertion|x[-_]mastra[-_](?:dev[-_]playground|client[-_]type)|connection|keep-alive|te|trailer|transfer-encoding|upgrade|proxy-.*|host|cf[-_](?:connecting[-_]ipv6|connecting[-_]ip|ray|visitor|ipcountry|worker))$/;
const HOP_BY_HOP_RESPONSE = /^(?:connection|keep-alive|te|trailer|transfer-encoding|upgrade|proxy-.*)$/;

/**
 * The upstream request's headers: first everything a client could spoof is deleted, then
 * hop-by-hop headers, then the gateway's own view (X-Forwarded-*) and the verified identity.
 * Starts from a native copy and deletes the few names that must go: per-header appends across
 * the JS/runtime boundary were the largest part of forwarding's cost (commit 1086b2b).
 */
export function upstreamHeaders(incoming: Headers, o: UpstreamHeaderOptions): Headers {
  const headers = new Headers(incoming);
  const connection = incoming.get("connection");
  const listed = connection ? new Set(connection.split(",").map((t) => t.trim().toLowerCase())) : null;
  const drop: string[] = [];
  for (const name of incoming.keys()) {
    if (o.websocket && (name === "upgrade" || name === "connection")) continue;
    if (DROP_UPSTREAM.test(name) || listed?.has(name) || (o.reserved.size > 0 && o.reserved.has(name.replace(/_/g, "-")))) drop.push(name);
  }
  for (const name of drop) headers.delete(name);

  // Only the credential that was verified goes upstream (the header won over a different
  // __session cookie, as in @clerk/backend), so the upstream never sees another user's credential
  // next to this user's identity.
  removeCredentials(headers, o.credential, o.forwardAuthorization);

  if (o.studio) headers.set("x-mastra-client-type", "studio");
  if (o.clientIp) headers.set("x-forwarded-for", o.clientIp);
  headers.set("x-forwarded-proto", o.proto);
  headers.set("x-forwarded-host", o.host);

  const id = o.identity;
  if (id) {
    // The credential's class (issue #13): an upstream must not take a machine for a signed-in user.
    headers.set("x-clerk-token-type", id.tokenType);
    setIf(headers, "x-clerk-user-id", id.userId);
    if (id.tokenType !== "session_token") {
      setIf(headers, "x-clerk-machine-id", id.machineId);
      setIf(headers, "x-clerk-client-id", id.clientId);
      setIf(headers, "x-clerk-subject", id.subject);
      setIf(headers, "x-clerk-token-id", id.tokenId);
      if (id.scopes.length) setIf(headers, "x-clerk-scopes", id.scopes.join(" "));
    }
    setIf(headers, "x-clerk-session-id", id.sessionId);
    setIf(headers, "x-clerk-org-id", id.orgId);
    setIf(headers, "x-clerk-org-role", id.orgRole);
    if (id.orgPermissions.length) headers.set("x-clerk-org-permissions", id.orgPermissions.join(","));
    // An impersonated session (Clerk's `act`): the impersonator's user id.
    setIf(headers, "x-clerk-actor-id", actorId(id.claims));
    for (const { header, claim } of o.identityHeaders) setIf(headers, header, headerValue(readClaim(id.claims, claim)));
  }
  return headers;
}

/** Deletes hop-by-hop headers from a response's (mutable) headers; the runtime frames the body itself. */
export function dropHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  const listed = connection ? new Set(connection.split(",").map((t) => t.trim().toLowerCase())) : null;
  const drop: string[] = [];
  for (const name of headers.keys()) if (HOP_BY_HOP_RESPONSE.test(name) || listed?.has(name)) drop.push(name);
  for (const name of drop) headers.delete(name);
}

function headerValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.every((v) => typeof v !== "object") ? value.join(",") : JSON.stringify(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function setIf(headers: Headers, name: string, value: string | null): void {
  // Header values cannot carry control characters; a claim that has them is dropped, not mangled.
  if (value !== null && value !== "" && !/[\x00-\x1f\x7f]/.test(value)) headers.set(name, value);
}
