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

/**
 * One identity for both Clerk token versions (v1: `org_id`/`org_role`/`org_permissions`; v2:
 * `o: {id, slg, rol, per, fpm}` + `fea`). Absent values are null, never undefined, so the JSON
 * of `/auth/me` always has the same keys.
 */
export interface Identity {
  userId: string;
  sessionId: string | null;
  orgId: string | null;
  orgSlug: string | null;
  /** Always `org:<role>`, like `@clerk/backend`'s `orgRole`. */
  orgRole: string | null;
  /** `org:<feature>:<permission>` strings. */
  orgPermissions: string[];
  claims: ClerkClaims;
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
    userId: claims.sub,
    sessionId: str(claims.sid),
    orgId: str(orgId),
    orgSlug: str(orgSlug),
    orgRole: str(orgRole),
    orgPermissions: Array.isArray(orgPermissions) ? orgPermissions.filter((p): p is string => typeof p === "string") : [],
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
