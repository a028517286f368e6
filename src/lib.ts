// The package's public entry (`import … from "mastra-edge-auth"`): the same code the gateway
// runs, exported for use in-process, in workerd and in Node alike. So nothing in this graph may
// import @mastra/core (the providers match its contract structurally) or a `cloudflare:` module
// (Node users could not load it). The Worker entry, src/index.ts, is the separate subpath
// `mastra-edge-auth/worker`: it also exports the Worker's Durable Object classes.

export { createGateway, type Gateway, type GatewayDeps } from "./gateway/app.js";
export type { GatewayEnv } from "./gateway/env.js";

// Mastra auth providers.
export { MastraAuthClerk, type MastraAuthClerkOptions } from "./mastra/clerk.js";
export { MastraAuthGateway, type MastraAuthGatewayOptions, type GatewayUser } from "./mastra/upstream.js";
export type { ClerkUser, MastraUser } from "./mastra/user.js";
export type { OrganizationOptions } from "./mastra/organization.js";
export type { UserLookupOptions } from "./mastra/clerk-users.js";
export type { MastraAuthRequest, MastraPathRule, MastraProviderOptions } from "./mastra/provider.js";
export type { ProviderRuleOptions } from "./mastra/rules.js";
export { mastraRulesMiddleware } from "./mastra/rules-middleware.js";

// Hono middleware and guards.
export {
  clerkAuth,
  getAuth,
  type AuthEnv,
  type AuthVariables,
  type ClerkAuthLibraryOptions,
  type ClerkAuthMiddlewareOptions,
  type PrebuiltVerifierOptions,
} from "./hono/clerk-auth.js";
export { requireAuth, requireOrgRole, requirePermission, requireRule, authorizeRules } from "./hono/guards.js";
export { compileRules, evaluateRules, type AuthRule, type RuleRequirements, type CompiledRule, type Decision } from "./authorize/rules.js";

// Verification, for other frameworks.
export { createVerifier, createLibraryVerifier, type LibraryVerifierOptions, type VerifierDeps, type VariableSource } from "./verify/create.js";
export { ClerkTokenVerifier, type VerifyResult } from "./verify/verifier.js";
export { extractToken, type ExtractedToken } from "./credentials/token.js";
export type { ClerkClaims, Identity, TokenType } from "./identity/identity.js";
export type { TokenClass } from "./credentials/token-class.js";
export { Reason, TokenVerificationError, RetryLaterError, JwksUnavailableError, BackendApiUnavailableError, LookupLimitError, type ReasonCode } from "./core/errors.js";
export type { ClerkAuthOptions, JwksTiming } from "./verify/options.js";
export { ConfigError, EdgeAuthError } from "./core/errors.js";

// The gateway → upstream assertion, for upstreams that are not Mastra.
export {
  ASSERTION_HEADER,
  AssertionError,
  AssertionJwk,
  AssertionKey,
  mintAssertion,
  verifyAssertion,
  type AssertedRequest,
  type AssertionClaims,
  type AssertionFailure,
  type AssertionSigner,
  type AssertionVerifier,
  type VerifyAssertionOptions,
} from "./assertion/assertion.js";
export { ReplayGuard } from "./assertion/replay.js";

export { consoleLogger, silentLogger, type Logger, type LogLevel, type LogFields } from "./core/log.js";
