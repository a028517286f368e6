import { checkOptionNames, processEnv } from "../core/env.js";
import { ConfigError, RetryLaterError, TokenVerificationError } from "../core/errors.js";
import { silentLogger, type Logger } from "../core/log.js";
import { bearerOf, cookieToken as sessionCookieToken } from "../credentials/token.js";
import { cookieLookupOf, verifyCredential } from "../verify/authenticate.js";
import { configuredAcceptance } from "../verify/accepts.js";
import type { IoContext } from "../keys/types.js";
import { createLibraryVerifier, LIBRARY_VERIFIER_OPTION_NAMES, type LibraryVerifierOptions } from "../verify/create.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";
import { PROVIDER_OPTION_NAMES, requestHeader, requestUrl, type MastraAuthRequest, type MastraPathRule, type MastraProviderOptions } from "./provider.js";
import { createUserDirectory } from "./clerk-users.js";
import { UserHooks } from "./user-hooks.js";
import { ORGANIZATION_OPTION_NAMES, OrganizationPolicy, type OrganizationOptions } from "./organization.js";
import { ProviderRules, RULE_OPTION_NAMES, type ProviderRuleOptions } from "./rules.js";
import { toClerkUser, type ClerkUser, type MastraUser } from "./user.js";

/**
 * `@mastra/auth-clerk`'s options (`publishableKey`, `secretKey`, `jwksUri`, `name`,
 * `authorizeUser`, `organizationId`, `organizationSlug`) plus the edge ones (`jwtKey`, `issuer`,
 * `authorizedParties`, `clockSkewMs`, `kv`, `resourceScope`, …) and Mastra's provider options
 * (`public`, `protected`, `mapUserToResourceId`). `secretKey` also lets `getUser` ask Clerk's
 * Backend API for a user's profile.
 *
 * Every Clerk option left undefined is read from the matching `CLERK_*` variable of `env` (pass
 * the Worker's env), else of `process.env` where the runtime has one (Node).
 */
export interface MastraAuthClerkOptions extends LibraryVerifierOptions, MastraProviderOptions<ClerkUser>, OrganizationOptions, ProviderRuleOptions {
  /**
   * Keeps background work (a stale JWKS refresh, the KV write after a fetch) alive past the
   * response. In a Worker pass `waitUntil` from `cloudflare:workers`; without it a KV write is
   * awaited inline and a background refresh may be cut short (the next request retries it).
   */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * Clerk authentication for a Mastra server, verified in-process with Web Crypto: a drop-in for
 * `@mastra/auth-clerk`'s `MastraAuthClerk` that runs in Workers (no Node APIs, no Clerk SDK) and
 * keeps Clerk's JWKS in isolate memory and, given `kv`, in Workers KV.
 *
 * Structurally a `MastraAuthProvider` (`@mastra/core/server`): Mastra calls
 * {@link authenticateToken} (null → 401 `Invalid or expired token`) then {@link authorizeUser}
 * (false → 403 `Access denied`). Construction validates the options and throws `ConfigError`.
 * It is also Mastra's `IUserProvider` ({@link getCurrentUser}, {@link getUser},
 * {@link getUserProfileUrl}), so `/api/auth/me` and Studio show the signed-in user.
 */
export class MastraAuthClerk {
  /** Provider name. Default `"clerk"`. */
  readonly name: string;
  public?: MastraPathRule[];
  protected?: MastraPathRule[];
  /**
   * Default: the Clerk user id (`sub`), so Mastra memory threads are per user; with
   * `resourceScope: "org"`, the active organization id.
   */
  mapUserToResourceId?: (user: ClerkUser) => string | undefined | null;
  /** The verifier this provider uses (config, key store with counters, verified-token cache). */
  readonly verifier: ClerkTokenVerifier;
  readonly #authorize: MastraProviderOptions<ClerkUser>["authorizeUser"];
  readonly #logger: Logger;
  readonly #io: IoContext;
  /** The organization rules and the user-provider hooks, shared with MastraAuthGateway. */
  readonly #hooks: UserHooks;
  /** AUTH_RULES enforced in-process (null: none). */
  readonly #rules: ProviderRules | null;

  constructor(options: MastraAuthClerkOptions = {}) {
    checkOptionNames(options, OPTION_NAMES, "MastraAuthClerk");
    const { name, authorizeUser, mapUserToResourceId, public: publicPaths, protected: protectedPaths, waitUntil, organizationId, organizationSlug, resourceScope, rules, rolePermissions, apiPrefix, unknownRoutes, coverParents, ...verifierOptions } = options;
    this.verifier = createLibraryVerifier(verifierOptions, "MastraAuthClerk");
    const source = options.env ?? processEnv();
    const organizations = OrganizationPolicy.from({ organizationId, organizationSlug, resourceScope }, source);
    if (mapUserToResourceId && resourceScope !== undefined) throw new ConfigError("resourceScope", "and mapUserToResourceId are both given: pass one");
    this.#logger = options.logger ?? silentLogger;
    const users = createUserDirectory({ secretKey: options.secretKey, apiUrl: options.apiUrl }, source, { fetch: options.fetch, now: options.now, logger: this.#logger });
    this.#hooks = new UserHooks(organizations, users, this.#logger);
    this.#rules = ProviderRules.attach(this, { rules, rolePermissions, apiPrefix, unknownRoutes, coverParents }, (source ?? {}) as Record<string, unknown>, this.#logger);
    this.#io = waitUntil ? { waitUntil } : {};
    this.name = name ?? "clerk";
    this.#authorize = authorizeUser;
    // An own property, as Mastra's base constructor assigns it: Mastra reads it off the instance.
    this.mapUserToResourceId = mapUserToResourceId ?? ((user) => organizations.resourceId(user.identity));
    this.public = publicPaths;
    this.protected = protectedPaths;
  }

  /**
   * The verified user, or null for a missing or invalid token. `token` is what Mastra took from
   * `Authorization: Bearer` (or `?apiKey=`); with none, the `__session` cookie is used, as Clerk does
   * on same-site apps. Keys that cannot be loaded throw: Mastra still answers 401, but logs it.
   */
  async authenticateToken(token: string, request?: MastraAuthRequest): Promise<ClerkUser | null> {
    // Mastra passes the raw Authorization value (or `?apiKey=`): a Bearer credential is parsed
    // as the gateway parses it; anything else is taken as the bare token.
    const raw = (token ?? "").trim();
    const bearer = /^bearer[ \t]/i.test(raw);
    let candidate = bearer ? (bearerOf(raw) ?? "") : raw;
    // A malformed Bearer value is refused, not replaced by the cookie (as the gateway refuses it).
    if (bearer && !candidate) return null;
    try {
      let cookie = false;
      if (!candidate) {
        candidate = (await this.#cookieToken(request)) ?? "";
        cookie = candidate !== "";
      }
      if (!candidate) return null;
      // A machine token (issue #13) only in the Authorization header, and only of the classes `accepts` names.
      const credential = { token: candidate, source: cookie ? ("cookie" as const) : ("header" as const) };
      const url = request ? requestUrl(request) : null;
      const { identity } = await verifyCredential(this.verifier, credential, request ? (requestHeader(request, "cf-connecting-ip") ?? null) : null, this.#io, configuredAcceptance(this.verifier.config, url));
      const user = toClerkUser(identity);
      return this.#rules ? this.#rules.vouch(user) : user;
    } catch (error) {
      if (error instanceof TokenVerificationError) {
        this.#logger.log("warn", "auth.rejected", { status: 401, reason: error.reason, kid: error.kid?.slice(0, 64), message: error.message });
        return null;
      }
      if (error instanceof RetryLaterError) {
        // auth.jwks_unavailable, auth.backend_api_unavailable, auth.too_many_requests
        this.#logger.log(error.status === 429 ? "warn" : "error", `auth.${error.code}`, { status: error.status, reason: error.reason, message: error.message });
      }
      throw error;
    }
  }

  /**
   * The organization rules first (`organizationId`/`organizationSlug`, `resourceScope: "org"`;
   * a refusal is logged with its reason), then `rules` (AUTH_RULES, as the gateway enforces them:
   * see {@link mastraRulesMiddleware}), then `options.authorizeUser` when given; by default every
   * authenticated user is allowed.
   */
  authorizeUser(user: ClerkUser, request: MastraAuthRequest): boolean | Promise<boolean> {
    if (!this.#hooks.allows(user.identity)) return false;
    if (!this.#rules) return this.#authorize ? this.#authorize.call(this, user, request) : true;
    return this.#rules.authorize(user.identity, request).then((allowed) => allowed && (this.#authorize ? this.#authorize.call(this, user, request) : true));
  }

  /**
   * The signed-in user for `/api/auth/me` and Studio, or null: the token is looked up as
   * {@link authenticateToken} does (`Authorization`, else the `__session` cookie) and verified;
   * a user the organization rules refuse is null too. The user comes from the verified claims,
   * with email, name and avatar filled from Clerk's Backend API when `secretKey` is set and the
   * user is cached (on a miss the cache is filled in the background: this never waits for Clerk).
   */
  async getCurrentUser(request: MastraAuthRequest): Promise<MastraUser | null> {
    let user: ClerkUser | null;
    try {
      user = await this.authenticateToken(requestHeader(request, "authorization") ?? "", request);
    } catch (error) {
      // Nothing can be decided now (keys, Clerk's Backend API, a lookup bound; logged by
      // authenticateToken): nobody is signed in, as far as we can tell — not a 500 from /auth/me.
      if (error instanceof RetryLaterError) return null;
      throw error;
    }
    return this.#hooks.current(user, (promise) => this.#background(promise));
  }

  /** The user from Clerk's Backend API (cached 5 min, 3 s timeout), or null without `secretKey`, for an unknown id, or when Clerk cannot be reached. */
  async getUser(userId: string): Promise<MastraUser | null> {
    return this.#hooks.getUser(userId);
  }

  /** `/user/{id}`, as `@mastra/auth-clerk` answers. */
  getUserProfileUrl(user: MastraUser): string {
    return this.#hooks.profileUrl(user);
  }

  /**
   * The session cookie, picked and checked as the gateway does it (suffixed names, `__client_uat`):
   * only the cookie — the Authorization header was Mastra's to read, and it found no Bearer token.
   */
  async #cookieToken(request: MastraAuthRequest | undefined): Promise<string | null> {
    const cookie = requestHeader(request, "cookie");
    return cookie ? sessionCookieToken(cookie, await cookieLookupOf(this.verifier.config)) : null;
  }

  #background(promise: Promise<unknown>): void {
    const settled = promise.catch(() => undefined);
    this.#io.waitUntil?.(settled);
  }
}


const OPTION_NAMES: ReadonlySet<string> = new Set([...LIBRARY_VERIFIER_OPTION_NAMES, ...PROVIDER_OPTION_NAMES, ...ORGANIZATION_OPTION_NAMES, ...RULE_OPTION_NAMES, "waitUntil"]);
