import { silentLogger, type Logger } from "../core/log.js";
import { isDirectoryRead } from "../routes/agent-directory.js";
import { ASSERTION_HEADER, AssertionKey, DIRECTORY_SERVICE, identityFromAssertion, parseAssertionJwks, verifyAssertion, type AssertionClaims, type AssertionVerifier } from "../assertion/assertion.js";
import { parseAccepts, TOKEN_CLASSES, type TokenClass } from "../credentials/token-class.js";
import { classOf } from "../verify/accepts.js";
import { ReplayGuard } from "../assertion/replay.js";
import { checkNumber, checkOptionNames, checkOrigin, processEnv, type VariableSource } from "../core/env.js";
import { AssertionError, ConfigError } from "../core/errors.js";
import { DEFAULT_CLOCK_SKEW_MS } from "../core/limits.js";
import type { Identity } from "../identity/identity.js";
import { createUserDirectory, USER_LOOKUP_OPTION_NAMES, type UserLookupOptions } from "./clerk-users.js";
import { UserHooks } from "./user-hooks.js";
import { ORGANIZATION_OPTION_NAMES, OrganizationPolicy, type OrganizationOptions } from "./organization.js";
import type { MastraUser } from "./user.js";
import { ProviderRules, RULE_OPTION_NAMES, type ProviderRuleOptions } from "./rules.js";
import { PROVIDER_OPTION_NAMES, rawRequest, requestHeader, requestUrl, type MastraAuthRequest, type MastraPathRule, type MastraProviderOptions } from "./provider.js";

/** The user Mastra gets from {@link MastraAuthGateway}: the assertion's claims plus the normalised identity. */
export type GatewayUser = AssertionClaims & { identity: Identity };

export interface MastraAuthGatewayOptions extends MastraProviderOptions<GatewayUser>, OrganizationOptions, UserLookupOptions, ProviderRuleOptions {
  /**
   * The gateway's `GATEWAY_ASSERTION_SECRET` (≥ 32 characters), for HS256 assertions. Several
   * while rotating: any one verifies. Default: `GATEWAY_ASSERTION_SECRET` of `env`, else of
   * `process.env`.
   */
  secret?: string | string[];
  /**
   * The gateway's public keys, for ES256/EdDSA assertions (`GATEWAY_ASSERTION_KEY` at the
   * gateway): a JWK, a JWKS `{ "keys": [...] }` as served at the gateway's
   * `/.well-known/jwks.json`, or its JSON text. List the old and the new key while rotating.
   * Default: `GATEWAY_ASSERTION_PUBLIC_KEYS` of `env`, else of `process.env`.
   */
  publicKeys?: string | object | object[];
  /**
   * Required: the `aud` this upstream accepts — its origin as the gateway addresses it
   * (`MASTRA_URL`'s origin; `https://mastra.internal` over a service binding without
   * `MASTRA_URL`). Never taken from the request: a Host header is the caller's to choose.
   * Default: `GATEWAY_ASSERTION_AUDIENCE` of `env`, else of `process.env`.
   */
  audience?: string | string[];
  /** Tolerance between the gateway's clock and this one. Default 5000 ms. */
  clockSkewMs?: number;
  /**
   * The classes of caller the gateway may vouch for here (`session`, `m2m`, `oauth`, `api_key`,
   * `any`; issue #13). Default `any`: the gateway decided per route (`ACCEPTS`, a rule's
   * `accepts`) which classes reach this server; narrow it to refuse the others here too.
   */
  accepts?: readonly string[] | string;
  /** Accept each assertion (`jti`) once. Default true. */
  rejectReplays?: boolean;
  /** Where `secret` is read from when not given (a Worker's env). */
  env?: VariableSource;
  logger?: Logger;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Used for Clerk's Backend API (`getUser`, with `secretKey`). Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * A Mastra auth provider for the upstream behind the gateway: it accepts only requests that
 * carry a valid `x-gateway-assertion` (so a direct call to an internet-reachable upstream gets
 * 401) and gives Mastra the user the gateway verified, mapped to the memory resource id (`sub`).
 * The bearer token Mastra passes is not used: the gateway already verified it.
 */
export class MastraAuthGateway {
  readonly name: string;
  public?: MastraPathRule[];
  protected?: MastraPathRule[];
  mapUserToResourceId?: (user: GatewayUser) => string | undefined | null;
  readonly #keys: AssertionVerifier[];
  readonly #audience: readonly string[];
  readonly #skewMs: number;
  readonly #accepts: ReadonlySet<TokenClass>;
  readonly #replays: ReplayGuard | null;
  readonly #authorize: MastraProviderOptions<GatewayUser>["authorizeUser"];
  readonly #logger: Logger;
  readonly #now: () => number;
  /** A request already authenticated keeps its user if Mastra asks again (the jti is spent by then). */
  readonly #byRequest = new WeakMap<object, GatewayUser>();
  /** The organization rules and the user-provider hooks, shared with MastraAuthClerk. */
  readonly #hooks: UserHooks;
  /** AUTH_RULES enforced in-process (null: none). */
  readonly #rules: ProviderRules | null;

  constructor(options: MastraAuthGatewayOptions = {}) {
    checkOptionNames(options, OPTION_NAMES, "MastraAuthGateway");
    const env = (options.env ?? processEnv() ?? {}) as Record<string, unknown>;
    const fromEnv = (name: string) => (typeof env[name] === "string" && env[name] !== "" ? (env[name] as string) : undefined);
    const secrets = options.secret ?? fromEnv("GATEWAY_ASSERTION_SECRET");
    const publicKeys = options.publicKeys ?? fromEnv("GATEWAY_ASSERTION_PUBLIC_KEYS");
    this.#keys = [
      ...(secrets === undefined ? [] : Array.isArray(secrets) ? secrets : [secrets]).map((s) => new AssertionKey(s, options.secret === undefined ? "GATEWAY_ASSERTION_SECRET" : "secret")),
      ...(publicKeys === undefined ? [] : parseAssertionJwks(publicKeys, options.publicKeys === undefined ? "GATEWAY_ASSERTION_PUBLIC_KEYS" : "publicKeys")),
    ];
    if (this.#keys.length === 0) {
      throw new ConfigError("GATEWAY_ASSERTION_SECRET", "is required: pass { secret } or { publicKeys }, or set GATEWAY_ASSERTION_SECRET or GATEWAY_ASSERTION_PUBLIC_KEYS");
    }
    const audience = options.audience ?? fromEnv("GATEWAY_ASSERTION_AUDIENCE")?.split(",").map((a) => a.trim()).filter(Boolean);
    const audiences = audience === undefined ? [] : Array.isArray(audience) ? audience : [audience];
    if (audiences.length === 0) {
      throw new ConfigError(
        "audience",
        "is required: the origin the gateway forwards to (MASTRA_URL's origin, or https://mastra.internal over a service binding); pass { audience } or set GATEWAY_ASSERTION_AUDIENCE",
      );
    }
    this.#audience = audiences.map((a) => checkOrigin(String(a), "audience"));
    this.#skewMs = checkNumber(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS, "clockSkewMs", 0, 60_000);
    this.#accepts = options.accepts === undefined ? new Set(TOKEN_CLASSES) : parseAccepts(options.accepts, "accepts");
    this.#replays = options.rejectReplays === false ? null : new ReplayGuard();
    this.#authorize = options.authorizeUser;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.name = options.name ?? "gateway";
    const organizations = OrganizationPolicy.from(options, env);
    if (options.mapUserToResourceId && options.resourceScope !== undefined) throw new ConfigError("resourceScope", "and mapUserToResourceId are both given: pass one");
    this.#hooks = new UserHooks(organizations, createUserDirectory(options, env, { fetch: options.fetch, now: options.now, logger: this.#logger }), this.#logger);
    this.#rules = ProviderRules.attach(this, options, env, this.#logger);
    // An own property, as Mastra's base constructor assigns it: Mastra reads it off the instance.
    this.mapUserToResourceId = options.mapUserToResourceId ?? ((user) => organizations.resourceId(user.identity));
    this.public = options.public;
    this.protected = options.protected;
  }

  async authenticateToken(_token: string, request?: MastraAuthRequest): Promise<GatewayUser | null> {
    const raw = request ? rawRequest(request) : null;
    const known = raw ? this.#byRequest.get(raw) : undefined;
    if (known) return known;

    const assertion = requestHeader(request, ASSERTION_HEADER) ?? "";
    try {
      // The assertion names the method and the path and query it was minted for.
      const url = requestUrl(request);
      if (!raw || !url) throw new AssertionError("assertion-binding", "the request's method and URL are needed to check the assertion");
      const now = this.#now();
      const claims = await verifyAssertion(assertion, this.#keys, { audience: this.#audience, request: { method: raw.method, url }, now, clockSkewMs: this.#skewMs });
      if (this.#replays && !this.#replays.accept(claims.jti, claims.exp + this.#skewMs / 1000, now)) {
        throw new AssertionError("assertion-replayed", "assertion was already used");
      }
      // The gateway's own principal (its agent directory) reads the agent list and agent cards, nothing else.
      if (claims.svc !== undefined && !(claims.svc === DIRECTORY_SERVICE && isDirectoryRead(raw.method, url.pathname))) {
        throw new AssertionError("assertion-scope", "the gateway's service assertion is valid only for reading the agent list");
      }
      const identity = identityFromAssertion(claims);
      if (!this.#accepts.has(classOf(identity))) {
        this.#logger.log("warn", "auth.rejected", { status: 401, reason: "token-type-mismatch", message: `this server does not accept ${identity.tokenType} callers (accepts)` });
        return null;
      }
      const user: GatewayUser = { ...claims, identity };
      if (raw) this.#byRequest.set(raw, user);
      return this.#rules ? this.#rules.vouch(user) : user;
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      this.#logger.log("warn", "auth.rejected", { status: 401, reason: error.reason, message: error.message });
      return null;
    }
  }

  /**
   * The organization rules first (`organizationId`/`organizationSlug`, `resourceScope: "org"`,
   * read from the assertion's org claims; a refusal is logged with its reason), then `rules`
   * (AUTH_RULES, as the gateway enforces them: see {@link mastraRulesMiddleware}), then
   * `options.authorizeUser` when given; by default every request the gateway vouched for is allowed.
   */
  authorizeUser(user: GatewayUser, request: MastraAuthRequest): boolean | Promise<boolean> {
    // The gateway's agent directory, already held to its read routes by authenticateToken: no user rule is about it.
    if (user.svc === DIRECTORY_SERVICE) return true;
    if (!this.#hooks.allows(user.identity)) return false;
    if (!this.#rules) return this.#authorize ? this.#authorize.call(this, user, request) : true;
    return this.#rules.authorize(user.identity, request).then((allowed) => allowed && (this.#authorize ? this.#authorize.call(this, user, request) : true));
  }

  /**
   * The user the gateway vouched for, for `/api/auth/me` and Studio, or null. The assertion is
   * single-use: a request Mastra already authenticated keeps its user; otherwise (a public route
   * such as `/api/auth/me`, which Mastra does not authenticate) this verifies and spends it. A
   * user the organization rules refuse is null. Email, name and avatar come from Clerk's Backend
   * API when `secretKey` is set and the user is cached (a miss is filled in the background).
   */
  async getCurrentUser(request: MastraAuthRequest): Promise<MastraUser | null> {
    const user = await this.authenticateToken("", request);
    return this.#hooks.current(user, (promise) => void promise.catch(() => undefined));
  }

  /** The user from Clerk's Backend API (cached 5 min, 3 s timeout), or null without `secretKey`, for an unknown id, or when Clerk cannot be reached. */
  async getUser(userId: string): Promise<MastraUser | null> {
    return this.#hooks.getUser(userId);
  }

  /** `/user/{id}`, as `@mastra/auth-clerk` answers. */
  getUserProfileUrl(user: MastraUser): string {
    return this.#hooks.profileUrl(user);
  }
}

const OPTION_NAMES: ReadonlySet<string> = new Set([...PROVIDER_OPTION_NAMES, "secret", "publicKeys", "audience", "clockSkewMs", "accepts", "rejectReplays", "env", "logger", "now", "fetch", ...ORGANIZATION_OPTION_NAMES, ...USER_LOOKUP_OPTION_NAMES, ...RULE_OPTION_NAMES]);
