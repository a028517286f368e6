import type { Logger } from "../core/log.js";
import type { ClerkClaims, Identity } from "../identity/identity.js";
import type { ClerkUserDirectory } from "./clerk-users.js";
import type { OrganizationPolicy } from "./organization.js";
import { userFromClaims, type MastraUser } from "./user.js";

/** A verified user as both providers hand it to Mastra: the claims plus the normalised identity. */
type VerifiedUser = ClerkClaims & { identity: Identity };

/**
 * What `MastraAuthClerk` and `MastraAuthGateway` do alike once a request is authenticated: the
 * organization rules (`organizationId`/`organizationSlug`, `resourceScope: "org"`) before the
 * user's own `authorizeUser`, and Mastra's user-provider hooks (`getCurrentUser`, `getUser`,
 * `getUserProfileUrl`) from the verified claims, filled from Clerk's Backend API when a secret
 * key allows. The providers differ only in how they authenticate.
 */
export class UserHooks {
  constructor(
    readonly organizations: OrganizationPolicy,
    private readonly users: ClerkUserDirectory | null,
    private readonly logger: Logger,
  ) {}

  /** The organization rules: false (logged with its reason) refuses the request before `authorizeUser`. */
  allows(identity: Identity): boolean {
    const refusal = this.organizations.refusal(identity);
    if (!refusal) return true;
    this.logger.log("warn", "auth.forbidden", { status: 403, reason: refusal, org: identity.orgId });
    return false;
  }

  /** The user Mastra shows (`/api/auth/me`, Studio), or null; never waits for the Backend API. */
  current(user: VerifiedUser | null, background: (promise: Promise<unknown>) => void): MastraUser | null {
    if (!user || this.organizations.refusal(user.identity)) return null;
    return this.users ? this.users.profile(user, background) : userFromClaims(user);
  }

  /** The user from Clerk's Backend API (cached 5 min, 3 s timeout), or null without `secretKey`, for an unknown id, or when Clerk cannot be reached. */
  async getUser(userId: string): Promise<MastraUser | null> {
    return this.users ? this.users.get(userId) : null;
  }

  /** `/user/{id}`, as `@mastra/auth-clerk` answers. */
  profileUrl(user: MastraUser): string {
    return `/user/${encodeURIComponent(user.id)}`;
  }
}
