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

/**
 * The user as Mastra's user-provider hooks show it (`IUserProvider`/`EEUser` in `@mastra/core`):
 * what `/api/auth/me` answers and Studio displays. The same shape `@mastra/auth-clerk` returns.
 */
export interface MastraUser {
  id: string;
  email?: string;
  name?: string;
  avatarUrl?: string;
  /** Clerk's `public_metadata` (from the Backend API), or a `metadata` object claim of the token. */
  metadata?: Record<string, unknown>;
}

/**
 * The user from verified claims alone: `sub`, and `email`/`name`/`picture` where the session
 * token carries them (Clerk's default token does not: add them as custom session claims, or give
 * the provider a `secretKey` so the Backend API fills them in).
 */
export function userFromClaims(claims: ClerkClaims): MastraUser {
  const user: MastraUser = { id: claims.sub };
  if (text(claims.email)) user.email = claims.email;
  if (text(claims.name)) user.name = claims.name;
  if (text(claims.picture)) user.avatarUrl = claims.picture;
  const metadata = claims.metadata;
  if (metadata && typeof metadata === "object" && !Array.isArray(metadata)) user.metadata = metadata as Record<string, unknown>;
  return user;
}

/**
 * The user from Clerk's Backend API `GET /v1/users/{id}` JSON (the fields `@clerk/backend`'s
 * `User.fromJSON` reads): the primary email address (else the first, as `@mastra/auth-clerk`
 * takes `emailAddresses[0]`), `first_name last_name`, `image_url`, `public_metadata`.
 */
export function userFromBackendApi(json: unknown): MastraUser | null {
  if (!json || typeof json !== "object") return null;
  const data = json as Record<string, unknown>;
  if (!text(data.id)) return null;
  const user: MastraUser = { id: data.id };
  const emails = Array.isArray(data.email_addresses) ? (data.email_addresses as Array<Record<string, unknown> | null>) : [];
  const primary = emails.find((e) => e && e.id === data.primary_email_address_id) ?? emails[0];
  if (primary && text(primary.email_address)) user.email = primary.email_address;
  const name = [data.first_name, data.last_name].filter(text).join(" ");
  if (name) user.name = name;
  if (text(data.image_url)) user.avatarUrl = data.image_url;
  const metadata = data.public_metadata;
  if (metadata && typeof metadata === "object" && !Array.isArray(metadata)) user.metadata = metadata as Record<string, unknown>;
  return user;
}

function text(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}
