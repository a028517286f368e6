import { nonEmpty, stringsOf, type VariableSource } from "../core/env.js";
import { ConfigError } from "../core/errors.js";
import { principalId, type Identity } from "../identity/identity.js";

/** Organization options of both providers. */
export interface OrganizationOptions {
  /**
   * Only sessions whose *active* organization is this one are let in (`org_id` of a v1 token,
   * `o.id` of a v2 token; the gateway's assertion carries the same). Default
   * `CLERK_ORGANIZATION_ID`. Read from the token alone, with no Backend API call: a member whose
   * active organization is another one (or none) is refused. One of this or `organizationSlug`.
   */
  organizationId?: string;
  /** The same restriction by slug (`org_slug`, `o.slg`). Default `CLERK_ORGANIZATION_SLUG`. */
  organizationSlug?: string;
  /**
   * Whose memory a request uses: `"user"` (default) maps Mastra's resource id to the user id;
   * `"org"` to the active organization id, so an organization's members share threads, and a
   * session with no active organization is refused. Default `MASTRA_RESOURCE_SCOPE`.
   */
  resourceScope?: "user" | "org";
}

export const ORGANIZATION_OPTION_NAMES: readonly string[] = ["organizationId", "organizationSlug", "resourceScope"];

/** Why {@link OrganizationPolicy.refusal} refuses an identity (logged as `reason`). */
export type OrganizationRefusal = "organization-required" | "organization-mismatch";

/** The organization rules of one provider, validated once at construction. */
export class OrganizationPolicy {
  private constructor(
    readonly organizationId: string | null,
    readonly organizationSlug: string | null,
    readonly resourceScope: "user" | "org",
  ) {}

  /** Options win over the variables of `source` (a Worker env or `process.env`). Throws {@link ConfigError}. */
  static from(options: OrganizationOptions, source: VariableSource | undefined): OrganizationPolicy {
    const env = source ? stringsOf(source) : {};
    const id = setting(options.organizationId, env.CLERK_ORGANIZATION_ID, "organizationId", "CLERK_ORGANIZATION_ID");
    const slug = setting(options.organizationSlug, env.CLERK_ORGANIZATION_SLUG, "organizationSlug", "CLERK_ORGANIZATION_SLUG");
    if (id && slug) {
      // Two selectors could name two organizations and let both in: exactly one, as @mastra/auth-clerk requires.
      throw new ConfigError("CLERK_ORGANIZATION_ID", "and CLERK_ORGANIZATION_SLUG are both set (organizationId/organizationSlug): configure only one");
    }
    const scope = options.resourceScope ?? (nonEmpty(env.MASTRA_RESOURCE_SCOPE) ? env.MASTRA_RESOURCE_SCOPE.trim().toLowerCase() : "user");
    if (scope !== "user" && scope !== "org") throw new ConfigError("MASTRA_RESOURCE_SCOPE", `must be "user" or "org" (resourceScope), got "${String(scope).slice(0, 32)}"`);
    return new OrganizationPolicy(id, slug, scope);
  }

  /** Null when the identity may pass; else the reason it may not. */
  refusal(identity: Identity): OrganizationRefusal | null {
    if (this.organizationId !== null || this.organizationSlug !== null) {
      if (!identity.orgId) return "organization-required";
      if (this.organizationId !== null && identity.orgId !== this.organizationId) return "organization-mismatch";
      if (this.organizationSlug !== null && identity.orgSlug !== this.organizationSlug) return "organization-mismatch";
    }
    if (this.resourceScope === "org" && !identity.orgId) return "organization-required";
    return null;
  }

  /**
   * The memory resource id. With `resourceScope: "org"` a user with no active organization gets
   * their own user id, never null: Mastra maps before it authorizes and answers 500 for a null;
   * `authorizeUser` then refuses the request (403), so that id is never used.
   */
  resourceId(identity: Identity): string {
    return this.resourceScope === "org" ? (identity.orgId ?? principalId(identity)) : principalId(identity);
  }
}

function setting(option: unknown, variable: string | undefined, name: string, variableName: string): string | null {
  if (option !== undefined) {
    if (typeof option !== "string" || !nonEmpty(option) || /\s/.test(option.trim())) throw new ConfigError(name, "must be a non-empty string without spaces");
    return option.trim();
  }
  if (!nonEmpty(variable)) return null;
  if (/\s/.test(variable.trim())) throw new ConfigError(variableName, "must not contain spaces");
  return variable.trim();
}
