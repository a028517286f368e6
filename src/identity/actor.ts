/**
 * The actor of an impersonated Clerk session: Clerk puts the impersonator in the session token's
 * `act` claim (`{ sub: "user_…", … }`, `actor` on `@clerk/backend`'s auth object).
 */

/** A session carries an actor (`act`): someone is impersonating the user. Any `act` value counts. */
export function isImpersonated(claims: Record<string, unknown>): boolean {
  return claims.act !== undefined && claims.act !== null;
}

/** The impersonator's user id (`act.sub`), or null. */
export function actorId(claims: Record<string, unknown>): string | null {
  const act = claims.act;
  if (!act || typeof act !== "object" || Array.isArray(act)) return null;
  const sub = (act as Record<string, unknown>).sub;
  return typeof sub === "string" && sub !== "" ? sub : null;
}
