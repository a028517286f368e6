import { silentLogger, type Logger } from "../core/log.js";
import { ASSERTION_HEADER, AssertionKey, verifyAssertion, type AssertionClaims } from "../assertion/assertion.js";
import { ReplayGuard } from "../assertion/replay.js";
import { checkNumber, checkOptionNames, checkOrigin, processEnv, type VariableSource } from "../core/env.js";
import { AssertionError, ConfigError } from "../core/errors.js";
import { DEFAULT_CLOCK_SKEW_MS } from "../core/limits.js";
import { toIdentity, type Identity } from "../identity/identity.js";
import { PROVIDER_OPTION_NAMES, rawRequest, requestHeader, requestUrl, type MastraAuthRequest, type MastraPathRule, type MastraProviderOptions } from "./provider.js";

/** The user Mastra gets from {@link MastraAuthGateway}: the assertion's claims plus the normalised identity. */
export type GatewayUser = AssertionClaims & { identity: Identity };

export interface MastraAuthGatewayOptions extends MastraProviderOptions<GatewayUser> {
  /**
   * The gateway's `GATEWAY_ASSERTION_SECRET` (≥ 32 characters). Several while rotating: any one
   * verifies. Default: `GATEWAY_ASSERTION_SECRET` of `env`, else of `process.env`.
   */
  secret?: string | string[];
  /**
   * The `aud` this upstream accepts: its origin as the gateway addresses it (`MASTRA_URL`'s
   * origin; `https://mastra.internal` over a service binding without `MASTRA_URL`). Default: the
   * origin of the request as this server sees it — set it explicitly behind a proxy that
   * changes the scheme or host.
   */
  audience?: string | string[];
  /** Tolerance between the gateway's clock and this one. Default 5000 ms. */
  clockSkewMs?: number;
  /** Accept each assertion (`jti`) once. Default true. */
  rejectReplays?: boolean;
  /** Where `secret` is read from when not given (a Worker's env). */
  env?: VariableSource;
  logger?: Logger;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
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
  readonly #keys: AssertionKey[];
  readonly #audience: readonly string[] | null;
  readonly #skewMs: number;
  readonly #replays: ReplayGuard | null;
  readonly #authorize: MastraProviderOptions<GatewayUser>["authorizeUser"];
  readonly #logger: Logger;
  readonly #now: () => number;
  /** A request already authenticated keeps its user if Mastra asks again (the jti is spent by then). */
  readonly #byRequest = new WeakMap<object, GatewayUser>();

  constructor(options: MastraAuthGatewayOptions = {}) {
    checkOptionNames(options, OPTION_NAMES, "MastraAuthGateway");
    const fromEnv = ((options.env ?? processEnv()) as { GATEWAY_ASSERTION_SECRET?: unknown } | undefined)?.GATEWAY_ASSERTION_SECRET;
    const secrets = options.secret ?? (typeof fromEnv === "string" && fromEnv !== "" ? fromEnv : undefined);
    const list = secrets === undefined ? [] : Array.isArray(secrets) ? secrets : [secrets];
    if (list.length === 0) throw new ConfigError("GATEWAY_ASSERTION_SECRET", "is required: pass { secret } or set GATEWAY_ASSERTION_SECRET");
    this.#keys = list.map((s) => new AssertionKey(s));
    this.#audience = options.audience === undefined ? null : (Array.isArray(options.audience) ? options.audience : [options.audience]).map((a) => checkOrigin(String(a), "audience"));
    this.#skewMs = checkNumber(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS, "clockSkewMs", 0, 60_000);
    this.#replays = options.rejectReplays === false ? null : new ReplayGuard();
    this.#authorize = options.authorizeUser;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.name = options.name ?? "gateway";
    this.mapUserToResourceId = options.mapUserToResourceId ?? ((user) => user.sub);
    this.public = options.public;
    this.protected = options.protected;
  }

  async authenticateToken(_token: string, request?: MastraAuthRequest): Promise<GatewayUser | null> {
    const raw = request ? rawRequest(request) : null;
    const known = raw ? this.#byRequest.get(raw) : undefined;
    if (known) return known;

    const assertion = requestHeader(request, ASSERTION_HEADER) ?? "";
    const audience = this.#audience ?? originOf(request);
    try {
      if (!audience) throw new AssertionError("assertion-audience", "no audience configured and the request has no URL");
      const now = this.#now();
      const claims = await verifyAssertion(assertion, this.#keys, { audience, now, clockSkewMs: this.#skewMs });
      if (this.#replays && !this.#replays.accept(claims.jti, claims.exp + this.#skewMs / 1000, now)) {
        throw new AssertionError("assertion-replayed", "assertion was already used");
      }
      const user: GatewayUser = { ...claims, identity: toIdentity(claims) };
      if (raw) this.#byRequest.set(raw, user);
      return user;
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      this.#logger.log("warn", "auth.rejected", { status: 401, reason: error.reason, message: error.message });
      return null;
    }
  }

  /** `options.authorizeUser` when given; by default every request the gateway vouched for is allowed. */
  authorizeUser(user: GatewayUser, request: MastraAuthRequest): boolean | Promise<boolean> {
    return this.#authorize ? this.#authorize.call(this, user, request) : true;
  }
}

function originOf(request: MastraAuthRequest | undefined): string[] | null {
  const url = requestUrl(request);
  return url ? [url.origin] : null;
}

const OPTION_NAMES: ReadonlySet<string> = new Set([...PROVIDER_OPTION_NAMES, "secret", "audience", "clockSkewMs", "rejectReplays", "env", "logger", "now"]);
