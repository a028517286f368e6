import type { ClerkClaims, Identity } from "../identity/identity.js";

/**
 * The user Mastra gets from {@link MastraAuthClerk}: the verified claims, as `@mastra/auth-clerk`
 * returns them (`sub`, `email?`, `email_verified?`, `name?`, `picture?`, …), plus `identity`, the
 * normalised view of both Clerk token versions (`userId`, `orgId`, `orgRole`, `orgPermissions`, …).
 * A claim that happens to be named `identity` is shadowed by it.
 */
export type ClerkUser = ClerkClaims & { identity: Identity };

export function toClerkUser(identity: Identity): ClerkUser {
  // A fresh object per request: Mastra keys per-request state by the user object.
  return { ...identity.claims, identity };
}
