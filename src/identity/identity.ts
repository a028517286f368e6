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
 * Clerk v2 packs permissions: `fea` lists features by scope (`o:` for the org), `o.per` the
 * permission names, and `o.fpm` one integer per org feature whose bit i (least significant first)
 * grants permission i. This follows `@clerk/shared`'s jwtPayloadParser so both sides agree.
 */
function v2Permissions(fea: unknown, per: unknown, fpm: unknown): string[] {
  if (typeof fea !== "string" || typeof per !== "string" || typeof fpm !== "string" || !per || !fpm) return [];
  const features = fea
    .split(",")
    .map((f) => f.trim())
    .filter((f) => f.split(":")[0]!.includes("o"))
    .map((f) => f.split(":")[1] ?? "");
  const permissions = per.split(",").map((p) => p.trim());
  const masks = fpm.split(",").map((m) => Number.parseInt(m.trim(), 10));
  const out: string[] = [];
  for (let f = 0; f < features.length && f < masks.length; f++) {
    const mask = masks[f]!;
    if (!Number.isSafeInteger(mask) || mask <= 0) continue;
    for (let p = 0; p < permissions.length && p < 53; p++) {
      if (Math.floor(mask / 2 ** p) % 2 === 1) out.push(`org:${features[f]}:${permissions[p]}`);
    }
  }
  return out;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
