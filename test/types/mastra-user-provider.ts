// The user-provider hooks against the real @mastra/core interfaces: Mastra's /api/auth/me,
// /api/auth/capabilities and author enrichment duck-type IUserProvider (getCurrentUser + getUser),
// and Studio reads EEUser's fields. Nothing here runs: a wrong assignment fails `tsc`.
import type { IUserProvider, User } from "@mastra/core/auth";
import type { EEUser } from "@mastra/core/auth/ee";
import { MastraAuthClerk, MastraAuthGateway } from "mastra-edge-auth";

const clerk = new MastraAuthClerk({ organizationId: "org_1", resourceScope: "org", secretKey: "sk_test_x" });
const gateway = new MastraAuthGateway({ secret: "x".repeat(32), audience: "https://mastra.internal", organizationSlug: "acme", apiUrl: "https://api.clerk.com" });

export const clerkUsers: IUserProvider<EEUser> = clerk;
export const gatewayUsers: IUserProvider<EEUser> = gateway;
export const plainUsers: IUserProvider<User> = clerk;

declare const request: Request;
export const me: Promise<EEUser | null> = clerk.getCurrentUser(request);
export const profile: string = gateway.getUserProfileUrl({ id: "user_1" });

// @ts-expect-error resourceScope is "user" or "org"
new MastraAuthClerk({ resourceScope: "tenant" });
// @ts-expect-error organizationId is a string
new MastraAuthGateway({ secret: "x".repeat(32), audience: "https://mastra.internal", organizationId: 1 });
