// Structural compatibility with @mastra/core's auth provider contract. Nothing here runs: a
// wrong assignment fails `tsc`, and every @ts-expect-error must still be an error.
import { Mastra } from "@mastra/core/mastra";
import type { IMastraAuthProvider, MastraAuthProvider, MastraAuthProviderOptions, MastraAuthRequest } from "@mastra/core/server";
import { MastraAuthClerk, MastraAuthGateway, mastraRulesMiddleware, type ClerkUser, type GatewayUser, type MastraAuthClerkOptions, type MastraAuthGatewayOptions } from "mastra-edge-auth";

const clerk = new MastraAuthClerk();
const gateway = new MastraAuthGateway({ secret: "x".repeat(32), audience: "https://mastra.internal" });

// What Mastra accepts for `server.auth` (and `CompositeAuth`): the provider interface.
export const asProvider: IMastraAuthProvider<ClerkUser> = clerk;
export const asUnknownProvider: IMastraAuthProvider = clerk;
export const gatewayAsProvider: IMastraAuthProvider<GatewayUser> = gateway;
export const gatewayAsUnknownProvider: IMastraAuthProvider = gateway;

// The abstract class's public surface, member by member. (The class itself has protected members
// and MastraBase internals, so only subclasses are assignable to it: that is why Mastra types
// `server.auth` with the interface above.)
type PublicSurface<T> = Pick<MastraAuthProvider<T>, "authenticateToken" | "authorizeUser" | "mapUserToResourceId" | "public" | "protected" | "name">;
export const clerkSurface: PublicSurface<ClerkUser> = clerk;
export const gatewaySurface: PublicSurface<GatewayUser> = gateway;

// Mastra's own provider options are accepted as ours.
declare const mastraOptions: MastraAuthProviderOptions<ClerkUser>;
export const clerkOptions: MastraAuthClerkOptions = mastraOptions;
declare const mastraGatewayOptions: MastraAuthProviderOptions<GatewayUser>;
export const gatewayOptions: MastraAuthGatewayOptions = { secret: "x".repeat(32), ...mastraGatewayOptions };

// The seeds' examples compile as written.
export const mastra = new Mastra({ server: { auth: new MastraAuthClerk() } });
export const explicit = new MastraAuthClerk({
  secretKey: "sk_test_x",
  publishableKey: "pk_test_x",
  jwksUri: "https://your-app.clerk.accounts.dev/.well-known/jwks.json",
  name: "clerk-auth",
});
export const custom = new MastraAuthClerk({
  authorizeUser: async (user) => user.sub.startsWith("user_") && user.email_verified === true,
});
export const withGateway = new Mastra({ server: { auth: gateway } });

// The rules option and the middleware, installed as docs/library.md shows (Mastra's `server.middleware`).
const ruled = new MastraAuthClerk({
  rules: [{ id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } }],
  rolePermissions: { "org:admin": ["*"], _default: [] },
  apiPrefix: "/api",
  unknownRoutes: "deny",
});
export const withRules = new Mastra({ server: { auth: ruled, middleware: [mastraRulesMiddleware(ruled)] } });
export const withRulesAtPath = new Mastra({ server: { auth: gateway, middleware: [{ path: "/api/*", handler: mastraRulesMiddleware(gateway) }] } });
export const rulesAsJson = new MastraAuthGateway({ secret: "x".repeat(32), audience: "https://mastra.internal", rules: "[]" });
// @ts-expect-error unknownRoutes is allow or deny
new MastraAuthClerk({ unknownRoutes: "block" });
// @ts-expect-error a rule's requirements are typed
new MastraAuthClerk({ rules: [{ path: "/api/*", require: { orgRoles: "admin" } }] });

// The user type: the seed's ClerkUser claims plus the normalised identity.
declare const user: ClerkUser;
export const sub: string = user.sub;
export const email: string | undefined = user.email;
export const verified: boolean | undefined = user.email_verified;
export const role: string | null = user.identity.orgRole;
declare const request: MastraAuthRequest;
export const authenticated: Promise<ClerkUser | null> = clerk.authenticateToken("t", request);

// @ts-expect-error authorizeUser must answer a boolean
new MastraAuthClerk({ authorizeUser: () => "yes" });
// @ts-expect-error the user's sub is a string, not a number
export const wrongSub: number = user.sub;
// @ts-expect-error the user types are checked, not erased: a GatewayUser's aud is a string
export const mixed: IMastraAuthProvider<ClerkUser & { aud: number }> = gateway;
