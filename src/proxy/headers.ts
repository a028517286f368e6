import { readClaim } from "../authorize/claim-path.js";
import { SESSION_COOKIE } from "../extract/token.js";
import type { Identity } from "../verify/identity.js";

/** Hop-by-hop headers (RFC 9110 §7.6.1) never cross the gateway. */
const HOP_BY_HOP = ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection", "proxy-authorization", "proxy-authenticate"];

/**
 * Headers through which a client could claim an identity or a network position. They are only
 * ever set by the gateway. `x-clerk-*` is matched as a prefix; `_` and `-` are the same letter
 * here because some upstream stacks (CGI, nginx with underscores_in_headers) treat them alike.
 */
const SPOOFABLE_PREFIXES = ["x-clerk-"];
const SPOOFABLE_NAMES = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "forwarded", "x-real-ip", "x-gateway-assertion"];

export interface IdentityHeaderMapping {
  /** Lower-case header name. */
  header: string;
  /** Dotted path into the verified claims. */
  claim: string;
}

const canonical = (name: string) => name.toLowerCase().replace(/_/g, "-");

/** True for a header the client must never be able to set on the upstream request. */
export function isReservedHeader(name: string, extra: ReadonlySet<string>): boolean {
  const n = canonical(name);
  return SPOOFABLE_PREFIXES.some((p) => n.startsWith(p)) || SPOOFABLE_NAMES.includes(n) || extra.has(n);
}

export interface UpstreamHeaderOptions {
  identity: Identity | null;
  identityHeaders: readonly IdentityHeaderMapping[];
  /** Canonical names of configured identity headers, stripped like x-clerk-*. */
  reserved: ReadonlySet<string>;
  forwardAuthorization: boolean;
  /** The client's address as the edge saw it (`CF-Connecting-IP`). */
  clientIp: string | null;
  proto: string;
  host: string;
  websocket: boolean;
}

/**
 * The upstream request's headers: first everything a client could spoof is deleted, then
 * hop-by-hop headers, then the gateway's own view (X-Forwarded-*) and the verified identity.
 */
export function upstreamHeaders(incoming: Headers, o: UpstreamHeaderOptions): Headers {
  const headers = new Headers();
  const connectionListed = new Set(
    (incoming.get("connection") ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of incoming) {
    const n = name.toLowerCase();
    if (isReservedHeader(n, o.reserved)) continue;
    if (HOP_BY_HOP.includes(n) || n.startsWith("proxy-") || connectionListed.has(n)) {
      if (!(o.websocket && (n === "upgrade" || n === "connection"))) continue;
    }
    if (n === "host" || n === "cf-connecting-ip" || n === "cf-ray" || n === "cf-visitor" || n === "cf-ipcountry" || n === "cf-worker") continue;
    headers.append(name, value);
  }

  if (!o.forwardAuthorization) {
    headers.delete("authorization");
    const cookie = headers.get("cookie");
    if (cookie) {
      const kept = cookie
        .split(";")
        .map((c) => c.trim())
        .filter((c) => c && !(c.includes("=") && c.slice(0, c.indexOf("=")).trim() === SESSION_COOKIE));
      if (kept.length) headers.set("cookie", kept.join("; "));
      else headers.delete("cookie");
    }
  }

  if (o.clientIp) headers.set("x-forwarded-for", o.clientIp);
  headers.set("x-forwarded-proto", o.proto);
  headers.set("x-forwarded-host", o.host);

  const id = o.identity;
  if (id) {
    setIf(headers, "x-clerk-user-id", id.userId);
    setIf(headers, "x-clerk-session-id", id.sessionId);
    setIf(headers, "x-clerk-org-id", id.orgId);
    setIf(headers, "x-clerk-org-role", id.orgRole);
    if (id.orgPermissions.length) headers.set("x-clerk-org-permissions", id.orgPermissions.join(","));
    for (const { header, claim } of o.identityHeaders) setIf(headers, header, headerValue(readClaim(id.claims, claim)));
  }
  return headers;
}

/** Response headers minus hop-by-hop ones (the runtime frames the body itself). */
export function downstreamHeaders(upstream: Headers): Headers {
  const headers = new Headers(upstream);
  const listed = (upstream.get("connection") ?? "").split(",").map((t) => t.trim().toLowerCase());
  for (const name of [...headers.keys()]) {
    if (HOP_BY_HOP.includes(name) || listed.includes(name)) headers.delete(name);
  }
  return headers;
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
