import { createCheckAuthorization } from "@clerk/shared/authorization";

/**
 * Clerk's own `has()`, as @clerk/backend builds it for a session token's claims: the oracle the
 * billing and step-up requirements are compared with (plans over `pla`, features over `fea`,
 * reverification over `fva`). Organization permissions are left out: they are compared elsewhere.
 */
export function clerkHas(claims: Record<string, unknown>, userId = "user_1") {
  return createCheckAuthorization({
    userId,
    orgId: undefined,
    orgRole: undefined,
    orgPermissions: undefined,
    factorVerificationAge: (claims.fva ?? null) as [number, number] | null,
    features: (claims.fea || "") as string,
    plans: (claims.pla || "") as string,
  });
}
