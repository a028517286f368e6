import type { TokenClass } from "../credentials/token-class.js";
import type { Identity } from "../identity/identity.js";

/**
 * What one request accepts (issue #13): the token classes, and the audiences an OAuth access
 * token must name one of. Built by the caller per route (gateway: the deciding rule's `accepts`,
 * else `ACCEPTS`; library faces: their `accepts` option) and checked by the verifiers on every
 * verification, cache hits included.
 */
export interface Acceptance {
  /** The classes, one {@link CLASS_BIT} each: decided once per route, so a verification (a cache hit included) tests one bit. */
  readonly mask: number;
  /** An OAuth token is accepted only when its `aud` holds one of these (exact string match). */
  readonly audiences: readonly string[];
}

/** One bit per token class (an {@link Acceptance}'s `mask`). */
export const CLASS_BIT: Readonly<Record<TokenClass, number>> = Object.freeze({ session: 1, m2m: 2, oauth: 4, api_key: 8 });

/** Whether an acceptance takes a class. */
export function takesClass(acceptance: Acceptance, tokenClass: TokenClass): boolean {
  return (acceptance.mask & CLASS_BIT[tokenClass]) !== 0;
}

function maskOf(classes: ReadonlySet<TokenClass>): number {
  let mask = 0;
  for (const c of classes) mask |= CLASS_BIT[c];
  return mask;
}

/** Today's behaviour and the default: Clerk session tokens only. */
export const SESSION_ONLY: Acceptance = Object.freeze({ mask: CLASS_BIT.session, audiences: Object.freeze([]) as readonly string[] });

/** No class at all (a cookie where the route takes no sessions). */
export const NOTHING: Acceptance = Object.freeze({ mask: 0, audiences: Object.freeze([]) as readonly string[] });

/**
 * The acceptance of one request, from the classes its route accepts:
 * - an OAuth access token must be for this gateway (issue #13): its `aud` names the public
 *   origin the client reached (`origin`, the request URL's), the MCP resource the request is for
 *   (`resource`, an absolute URL), or one of `configuredAudiences` (`CLERK_OAUTH_AUDIENCES`);
 * - on an MCP resource (`resource` set) OAuth access tokens whose audience is exactly that
 *   resource are accepted even when the route's classes leave OAuth out: MCP's authorization
 *   spec makes the server the OAuth protected resource (MCP 2025-06-18 §2.3; RFC 8707 §2), and
 *   the issue says such tokens are "accepted there, and only there unless configured". A route
 *   that does accept `oauth` takes every audience above; one that does not, only the resource.
 */
export function acceptanceFor(classes: ReadonlySet<TokenClass>, configuredAudiences: readonly string[], origin: string, resource: string | null): Acceptance {
  // Built once per route's classes, not per request (the rules' and ACCEPTS' sets live as long as
  // the configuration); where the audiences depend on the request's origin or MCP resource, the
  // last one built for those classes is kept.
  // (A set must not change once passed: parseAccepts' sets never do.)
  const last = built.get(classes);
  if (last && last.configured === configuredAudiences && last.resource === resource && (!last.byOrigin || last.origin === origin)) return last.acceptance;
  const mask = maskOf(classes);
  let acceptance: Acceptance;
  if (mask & CLASS_BIT.oauth) acceptance = { mask, audiences: resource ? [origin, resource, ...configuredAudiences] : [origin, ...configuredAudiences] };
  else if (resource) acceptance = { mask: mask | CLASS_BIT.oauth, audiences: [resource] };
  else acceptance = mask === CLASS_BIT.session ? SESSION_ONLY : { mask, audiences: [] };
  built.set(classes, { acceptance, configured: configuredAudiences, resource, byOrigin: (mask & CLASS_BIT.oauth) !== 0, origin });
  return acceptance;
}

const built = new WeakMap<ReadonlySet<TokenClass>, { acceptance: Acceptance; configured: readonly string[]; resource: string | null; byOrigin: boolean; origin: string }>();

/** `aud` as a list (a string or an array of strings, RFC 7519 §4.1.3); null when it is neither. */
export function audienceList(aud: unknown): readonly string[] | null {
  if (typeof aud === "string") return aud === "" ? null : [aud];
  if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === "string" && a !== "")) return aud as string[];
  return null;
}

/** Whether a token's audiences name one the request accepts. */
export function audienceAccepted(aud: readonly string[] | null, acceptance: Acceptance): boolean {
  if (!aud) return false;
  for (const a of aud) if (acceptance.audiences.includes(a)) return true;
  return false;
}

const CLASS_OF: Record<Identity["tokenType"], TokenClass> = { session_token: "session", m2m_token: "m2m", oauth_token: "oauth", api_key: "api_key" };

/** The class an identity was verified from. */
export function classOf(identity: Identity): TokenClass {
  return CLASS_OF[identity.tokenType];
}

/**
 * An identity verified under one acceptance, checked again under another (the gateway's deciding
 * rule, once a request body named its target): its class, and an OAuth token's audience.
 */
export function identityAccepted(identity: Identity, acceptance: Acceptance): boolean {
  const tokenClass = classOf(identity);
  if (!takesClass(acceptance, tokenClass)) return false;
  return tokenClass !== "oauth" || audienceAccepted(audienceList(identity.claims.aud), acceptance);
}

/**
 * The acceptance of a library face (`clerkAuth`, `MastraAuthClerk`): its `accepts` option for
 * every route, OAuth tokens for the origin the request reached (`url`) or a configured audience.
 */
export function configuredAcceptance(config: { accepts: ReadonlySet<TokenClass>; oauthAudiences: readonly string[] }, url: string | URL | null | undefined): Acceptance {
  if (!config.accepts.has("oauth")) return acceptanceFor(config.accepts, config.oauthAudiences, "", null);
  let origin = "";
  try {
    if (url) origin = new URL(url).origin;
  } catch {
    // No origin to name: only configured audiences can match.
  }
  return origin ? acceptanceFor(config.accepts, config.oauthAudiences, origin, null) : { mask: maskOf(config.accepts), audiences: config.oauthAudiences };
}
