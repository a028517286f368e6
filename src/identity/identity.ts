/** Verified claims of a Clerk session token, as Clerk documents them (`ClerkUser` in the seeds). */
export interface ClerkClaims {
  sub: string;
  iss: string;
  exp: number;
  iat: number;
  nbf: number;
  sid?: string;
  azp?: string;
  v?: number;
  sts?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
  [claim: string]: unknown;
}

/** The class of credential an identity was verified from: `@clerk/backend`'s `TokenType` names. */
export type TokenType = "session_token" | "m2m_token" | "oauth_token" | "api_key";

/**
 * One identity for both Clerk session token versions (v1: `org_id`/`org_role`/`org_permissions`;
 * v2: `o: {id, slg, rol, per, fpm}` + `fea`) and for machine credentials (issue #13), whose
 * fields follow `@clerk/backend`'s machine auth objects (`authenticatedMachineObject`). Absent
 * values are null, never undefined, so the JSON of `/auth/me` always has the same keys.
 */
export interface Identity {
  tokenType: TokenType;
  /**
   * The user: a session's user, the user an OAuth token acts for, the user an API key belongs
   * to; null for an M2M token and an organization's API key.
   */
  userId: string | null;
  sessionId: string | null;
  orgId: string | null;
  orgSlug: string | null;
  /** Always `org:<role>`, like `@clerk/backend`'s `orgRole`. */
  orgRole: string | null;
  /** `org:<feature>:<permission>` strings. */
  orgPermissions: string[];
  /**
   * Machine credentials only (null/[] for a session): the credential's subject as Clerk gives it
   * (`mch_…`, `user_…`, `org_…`), the machine (`mch_…` of an M2M token), the OAuth client, the
   * credential's own id (`jti`, the API key's or token's id), an API key's name, and the scopes.
   */
  subject: string | null;
  machineId: string | null;
  clientId: string | null;
  tokenId: string | null;
  name: string | null;
  scopes: string[];
  claims: ClerkClaims;
}

/**
 * Whom a request is on behalf of, for what keys a caller (assertion `sub`, memory resource ids):
 * the user when there is one, else the machine (`mch_…`) or the organization an API key belongs to.
 */
export function principalId(identity: Identity): string {
  return identity.userId ?? identity.subject ?? identity.claims.sub;
}

/** What a machine credential's verification yields, before it becomes an {@link Identity}. */
export interface MachineFacts {
  tokenType: Exclude<TokenType, "session_token">;
  subject: string;
  tokenId: string | null;
  clientId?: string | null;
  name?: string | null;
  scopes: string[];
  /** The JWT's claims, or the claims Clerk keeps on an opaque token (`claims`), as a read-only bag for rules. */
  claims: Record<string, unknown>;
}

/**
 * A machine's identity, as `@clerk/backend`'s `authenticatedMachineObject` reads it: an M2M
 * token is its machine (`machineId`, no user); an OAuth token acts for its `sub` (a user) through
 * its client; an API key belongs to the user or the organization its subject names.
 */
export function machineIdentity(facts: MachineFacts): Identity {
  const { tokenType, subject } = facts;
  const userId = tokenType === "oauth_token" ? subject : tokenType === "api_key" && subject.startsWith("user_") ? subject : null;
  const orgId = tokenType === "api_key" && subject.startsWith("org_") ? subject : null;
  return {
    tokenType,
    userId,
    sessionId: null,
    orgId,
    orgSlug: null,
    orgRole: null,
    orgPermissions: [],
    subject,
    machineId: tokenType === "m2m_token" ? subject : null,
    clientId: facts.clientId ?? null,
    tokenId: facts.tokenId,
    name: facts.name ?? null,
    scopes: facts.scopes,
    claims: facts.claims as ClerkClaims,
  };
}

export function toIdentity(claims: ClerkClaims): Identity {
  let orgId: unknown, orgSlug: unknown, orgRole: unknown, orgPermissions: unknown;
  if (claims.v === 2) {
    const o = claims.o;
    if (o && typeof o === "object") {
      const org = o as Record<string, unknown>;
      orgId = org.id;
      orgSlug = org.slg;
      if (typeof org.rol === "string" && org.rol) orgRole = `org:${org.rol}`;
      orgPermissions = v2Permissions(claims.fea, org.per, org.fpm);
    }
  } else {
    orgId = claims.org_id;
    orgSlug = claims.org_slug;
    orgRole = claims.org_role;
    orgPermissions = claims.org_permissions;
  }
  return {
    tokenType: "session_token",
    userId: claims.sub,
    sessionId: str(claims.sid),
    orgId: str(orgId),
    orgSlug: str(orgSlug),
    orgRole: str(orgRole),
    orgPermissions: Array.isArray(orgPermissions) ? orgPermissions.filter((p): p is string => typeof p === "string") : [],
    subject: null,
    machineId: null,
    clientId: null,
    tokenId: null,
    name: null,
    scopes: [],
    claims,
  };
}

/**
 * Clerk v2 packs permissions: `fea` lists features by scope (`o:` for the org, `u:` for the user,
 * `ou:`/`uo:` for both), `o.per` the permission names, and `o.fpm` one decimal number per org
 * feature whose bit i (least significant first) grants permission i. This follows `@clerk/shared`'s
 * `jwtPayloadParser` (`splitByScope`, `decimalToBinaryBits`) rule for rule, so both sides grant
 * the same permissions (test/worker/identity.test.ts compares them). Where Clerk's parser throws
 * (a `fea` element without a colon) no permission is granted.
 */
function v2Permissions(fea: unknown, per: unknown, fpm: unknown): string[] {
  if (typeof per !== "string" || typeof fpm !== "string" || !per || !fpm) return [];
  const features = orgFeatures(fea);
  if (!features) return [];
  const permissions = per.split(",").map((p) => p.trim());
  const masks = fpm.split(",").map((m) => m.trim());
  const out: string[] = [];
  for (let f = 0; f < features.length && f < masks.length; f++) {
    // Decimal digits only, any length (BigInt: a mask may be wider than 53 bits).
    if (!/^\d+$/.test(masks[f]!)) continue;
    let mask = BigInt(masks[f]!);
    for (let p = 0; p < permissions.length && mask > 0n; p++, mask >>= 1n) {
      if ((mask & 1n) === 1n) out.push(`org:${features[f]}:${permissions[p]}`);
    }
  }
  return out;
}

/** The organization's features of a `fea` claim (`@clerk/shared`'s `splitByScope`); null when it is malformed. */
function orgFeatures(fea: unknown): string[] | null {
  if (typeof fea !== "string" || fea === "") return [];
  const org: string[] = [];
  for (const raw of fea.split(",")) {
    const part = raw.trim();
    const colon = part.indexOf(":");
    if (colon === -1) return null;
    const scope = part.slice(0, colon);
    if (scope === "o" || scope === "ou" || scope === "uo") org.push(part.slice(colon + 1));
  }
  return org;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
