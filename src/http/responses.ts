import type { ReasonCode } from "../core/errors.js";

export const REALM = "mastra";

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(JSON_HEADERS);
  for (const [k, v] of new Headers(headers)) h.set(k, v);
  return new Response(JSON.stringify(body), { status, headers: h });
}

/**
 * 401 with an RFC 6750 §3 challenge. With no token at all the challenge carries no error code
 * (§3.1: "the resource server SHOULD NOT include an error code"); otherwise `invalid_token`.
 * On a protected resource (an MCP server) it also names the resource's metadata URL (RFC 9728
 * §5.1), where an MCP client learns which authorization server to get a token from.
 */
export function unauthorized(reason: ReasonCode, message: string, tokenPresent: boolean, resourceMetadata?: string): Response {
  let challenge = `Bearer realm="${REALM}"`;
  if (resourceMetadata) challenge += `, resource_metadata="${quoteSafe(resourceMetadata)}"`;
  if (tokenPresent) challenge += `, error="invalid_token", error_description="${quoteSafe(message)}"`;
  return json({ error: "unauthorized", reason, message }, 401, { "www-authenticate": challenge });
}

/** The keys could not be had: an outage, not the caller's fault. */
export function jwksUnavailable(message: string, retryAfterS: number): Response {
  return json({ error: "jwks_unavailable", reason: "jwk-remote-failed-to-load", message }, 503, {
    "retry-after": String(retryAfterS),
  });
}

/**
 * The configuration is wrong: the caller learns which setting to look at, never what is wrong
 * with it (the details, which may describe a secret's shape, go to the `config.invalid` log line).
 */
export function misconfigured(variable: string): Response {
  return json({ error: "misconfigured", variable, message: `the gateway is misconfigured: check ${variable}` }, 500);
}

/** A request that passed authentication and authorisation but has nowhere to go. */
export function noUpstream(): Response {
  return json({ error: "no_upstream", message: "no upstream configured: set MASTRA_URL or bind MASTRA" }, 404);
}

/**
 * An authenticated request the rules refuse: the failed requirement is the reason, the rule is
 * named. A refusal for want of a fresh verification also carries `clerk_error` in the shape
 * `@clerk/shared`'s `reverificationError` builds, which Clerk's front end (`isReverificationHint`,
 * `useReverification`) reads to prompt the user and retry. `about.agent`: the agent the rule is
 * about, when the request reached it by another name (a sub-agent key, a parent that delegates to it).
 */
export function forbidden(reason: string, rule: string | number | null, reverification?: { level: string; afterMinutes: number }, about?: { agent: string }): Response {
  if (!reverification) return json({ error: "forbidden", reason, rule, ...about }, 403);
  const clerk_error = { type: "forbidden", reason: "reverification-error", metadata: { reverification: { level: reverification.level, afterMinutes: reverification.afterMinutes } } };
  return json({ error: "forbidden", reason, rule, ...about, clerk_error }, 403);
}

export function notFound(): Response {
  return json({ error: "not_found", message: "no such route" }, 404);
}

/** Whatever went wrong inside, the caller learns nothing about it but that it did. */
export function internalError(): Response {
  return json({ error: "internal_error", message: "the gateway failed to handle the request" }, 500);
}

function quoteSafe(text: string): string {
  // error_description is a quoted-string limited to %x20-21 / %x23-5B / %x5D-7E (RFC 6750 §3).
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "");
}
