import { compileRules, decideRule, findRule, rulesSelectTargets, type AuthRule, type CompiledRule } from "../authorize/rules.js";
import { classOf } from "../verify/accepts.js";
import { parseRolePermissions } from "../authorize/permissions.js";
import { parseUnknownRoutes, type UnknownRoutes } from "../authorize/unknown-routes.js";
import { boolVar } from "../core/env.js";
import { ConfigError, PathError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { forbidden, json, unauthorized } from "../http/responses.js";
import { principalId, type Identity } from "../identity/identity.js";
import { normalizePath } from "../paths/normalize.js";
import { readRequestTargets } from "../routes/body-target.js";
import type { RouteRequest } from "../routes/selector.js";
import { parseApiPrefix, routeTable, targetOf, type RouteTable, type TargetKind } from "../routes/table.js";
import { agentNames, workflowNames, type MastraLike } from "./target-names.js";
import { rawRequest, type MastraAuthRequest } from "./provider.js";

/**
 * The gateway's authorization, in-process (issue #11 §3's second line): both providers take the
 * same `AUTH_RULES` and enforce them with the same compiled rules, so an upstream reached without
 * the gateway (or a gateway misconfigured) still refuses what the rules refuse.
 */
export interface ProviderRuleOptions {
  /**
   * `AUTH_RULES`, as the gateway takes it: an array of rules or its JSON text. Default:
   * `AUTH_RULES` of `env`, else of `process.env`; none means every authenticated user is allowed.
   * Validated at construction: a bad rule throws a `ConfigError` naming it.
   */
  rules?: readonly AuthRule[] | string;
  /** `ROLE_PERMISSIONS` (Clerk role or permission → Mastra permission patterns, with `_default`), for `require.permissions`. Default: `ROLE_PERMISSIONS` of `env`. */
  rolePermissions?: Record<string, readonly string[]> | string;
  /** Mastra's `server.apiPrefix`, where the route table is mounted. Default: `MASTRA_API_PREFIX` of `env`, else `/api`. */
  apiPrefix?: string;
  /** Requests under the prefix that are none of Mastra's routes (custom API routes): `allow` (default) or `deny`. Default: `UNKNOWN_ROUTES` of `env`. */
  unknownRoutes?: UnknownRoutes;
  /**
   * A rule about an agent also holds on every agent that can delegate to it as a sub-agent (with
   * {@link mastraRulesMiddleware}, which knows the sub-agents). Default: `AGENT_RULES_COVER_PARENTS`
   * of `env`, else true — as the gateway.
   */
  coverParents?: boolean;
}

export const RULE_OPTION_NAMES: readonly string[] = ["rules", "rolePermissions", "apiPrefix", "unknownRoutes", "coverParents"];

/** What the Mastra instance gives for one request, through {@link mastraRulesMiddleware}. */
export interface MastraRequestScope {
  mastra: MastraLike | undefined;
  requestContext: unknown;
}

/** A refused request: the gateway's answer, built on demand (a Response is single-use). */
export interface Refusal {
  status: number;
  reason: string;
  response(): Response;
}

interface RequestState {
  scope: MastraRequestScope | null;
  refusal: Refusal | null;
}

/** The enforcer behind each provider that has rules, for {@link mastraRulesMiddleware}. */
const enforcers = new WeakMap<object, ProviderRules>();

/** The rules a provider enforces: undefined for an object that is not one of this package's providers, null when it has none. */
export function rulesOf(provider: object): ProviderRules | null | undefined {
  return enforcers.has(provider) ? (enforcers.get(provider) ?? null) : undefined;
}

export class ProviderRules {
  readonly rules: readonly CompiledRule[];
  readonly table: RouteTable;
  readonly unknownRoutes: UnknownRoutes;
  /** Some rule names agents, workflows or tools: `/v1/responses` bodies are read. */
  readonly selectsTargets: boolean;
  /** Whether some rule names agents, or workflows: only those are resolved in the Mastra instance. */
  readonly #resolves: { agent: boolean; workflow: boolean };
  /** A rule about an agent holds on the agents that can delegate to it. */
  readonly coverParents: boolean;
  readonly logger: Logger;
  /** Per request: what the middleware attached, and the refusal it turns into the gateway's 403. */
  readonly #requests = new WeakMap<Request, RequestState>();
  /** The users this provider's authenticateToken returned: the only ones the middleware takes from a request context. */
  readonly #issued = new WeakSet<object>();

  private constructor(rules: CompiledRule[], table: RouteTable, unknownRoutes: UnknownRoutes, coverParents: boolean, logger: Logger) {
    this.rules = rules;
    this.coverParents = coverParents;
    this.table = table;
    this.unknownRoutes = unknownRoutes;
    this.selectsTargets = rulesSelectTargets(rules);
    const kinds = new Set<TargetKind>(rules.flatMap((r) => r.selector.targets.map(([kind]) => kind)));
    this.#resolves = { agent: kinds.has("agent"), workflow: kinds.has("workflow") };
    this.logger = logger;
  }

  /**
   * Validates the rule options once (each option, else its variable of `env`), and registers the
   * enforcer for `provider`. Null, and nothing to do per request, when there are no rules and
   * unknown routes are allowed.
   */
  static attach(provider: object, options: ProviderRuleOptions, env: Record<string, unknown>, logger: Logger): ProviderRules | null {
    const fromEnv = (name: string) => (typeof env[name] === "string" ? (env[name] as string) : undefined);
    const pick = <T>(option: T | undefined, optionName: string, variable: string): [T | string | undefined, string] =>
      option !== undefined ? [option, optionName] : [fromEnv(variable), variable];

    const [prefix, prefixName] = pick(options.apiPrefix, "apiPrefix", "MASTRA_API_PREFIX");
    if (prefix !== undefined && typeof prefix !== "string") throw new ConfigError(prefixName, "must be a path like /api");
    const table = routeTable(parseApiPrefix(prefix, prefixName));

    const [roles, rolesName] = pick(options.rolePermissions, "rolePermissions", "ROLE_PERMISSIONS");
    if (roles !== undefined && (roles === null || typeof roles !== "object" || Array.isArray(roles)) && typeof roles !== "string") {
      throw new ConfigError(rolesName, "must be an object of role → permissions");
    }
    const rolePermissions = parseRolePermissions(roles as string | Record<string, unknown> | undefined, table, rolesName);

    const [rules, rulesName] = pick(options.rules, "rules", "AUTH_RULES");
    const compiled = compileRules(rules as string | readonly AuthRule[] | undefined, rulesName, { table, rolePermissions });

    const [unknown, unknownName] = pick(options.unknownRoutes, "unknownRoutes", "UNKNOWN_ROUTES");
    if (unknown !== undefined && typeof unknown !== "string") throw new ConfigError(unknownName, 'must be "allow" or "deny"');
    const unknownRoutes = parseUnknownRoutes(unknown, unknownName);

    let coverParents: boolean;
    if (options.coverParents !== undefined) {
      if (typeof options.coverParents !== "boolean") throw new ConfigError("coverParents", "must be true or false");
      coverParents = options.coverParents;
    } else coverParents = boolVar(fromEnv("AGENT_RULES_COVER_PARENTS"), "AGENT_RULES_COVER_PARENTS") ?? true;

    const enforcer = compiled.length === 0 && unknownRoutes === "allow" ? null : new ProviderRules(compiled, table, unknownRoutes, coverParents, logger);
    enforcers.set(provider, enforcer as ProviderRules);
    return enforcer;
  }

  /** Records a user the provider authenticated (and returns it). */
  vouch<T extends object>(user: T): T {
    this.#issued.add(user);
    return user;
  }

  /**
   * The identity of a user this provider authenticated, or null for anything else — a request
   * context can carry values a client chose (Mastra merges a body's `requestContext` into it).
   */
  identityOf(user: unknown): Identity | null {
    if (!user || typeof user !== "object" || !this.#issued.has(user)) return null;
    return (user as { identity?: Identity }).identity ?? null;
  }

  /** The middleware's part, before Mastra authenticates: the Mastra instance that resolves this request's agent. */
  attachScope(raw: Request, scope: MastraRequestScope): void {
    this.#requests.set(raw, { scope, refusal: null });
  }

  /** The refusal {@link authorize} recorded for this request, if any: the middleware answers it instead of Mastra's 403. */
  refusalOf(raw: Request): Refusal | null {
    return this.#requests.get(raw)?.refusal ?? null;
  }

  /**
   * The provider's `authorizeUser` step: true when the rules allow the request. A refusal is logged
   * and recorded for the middleware (Mastra itself can only answer `403 Access denied` to false).
   */
  async authorize(identity: Identity, request: MastraAuthRequest): Promise<boolean> {
    const raw = rawRequest(request);
    const state = raw ? this.#requests.get(raw) : undefined;
    const refusal = raw ? await this.decide(identity, raw, state?.scope ?? null) : this.#unreadable();
    if (!refusal) return true;
    if (raw) this.#requests.set(raw, { scope: state?.scope ?? null, refusal });
    return false;
  }

  /**
   * Decides one request as the gateway does: the path normalised, a `/v1/responses` body read for
   * its `agent_id` (bounded, from a clone: Mastra still reads the body), then the rules — with
   * every name of the agent the request names when the Mastra instance is known — then
   * `unknownRoutes`. Null when allowed.
   */
  async decide(identity: Identity, raw: Request, scope: MastraRequestScope | null): Promise<Refusal | null> {
    const method = raw.method;
    let path: string;
    try {
      path = normalizePath(new URL(raw.url).pathname);
    } catch (error) {
      if (!(error instanceof PathError) && !(error instanceof TypeError)) throw error;
      const e = error instanceof PathError ? error : new PathError("the request URL cannot be parsed");
      return this.#refuse(400, e.reason, () => json({ error: e.code, reason: e.reason, message: e.message }, 400), { method, user: principalId(identity) });
    }
    const route: RouteRequest = { method, path };
    const log = { method, path, user: principalId(identity) };
    if (this.selectsTargets) {
      const failure = await readRequestTargets(this.table, route, raw);
      if (failure) {
        const error = failure.status === 413 ? "payload_too_large" : "bad_request";
        return this.#refuse(failure.status, failure.reason, () => json({ error, reason: failure.reason, message: failure.message }, failure.status), log);
      }
      // Every name Mastra knows the request's agent (or workflow) by, where the middleware gave us Mastra.
      const match = (route.classified ??= this.table.classify(method, path)).match;
      const mastra = scope?.mastra;
      if (match && mastra) {
        const agent = this.#resolves.agent ? targetOf(match, "agent") : null;
        const workflow = this.#resolves.workflow ? targetOf(match, "workflow") : null;
        const agents = typeof agent === "string" ? await agentNames(mastra, agent, scope.requestContext, this.coverParents) : undefined;
        const workflows = typeof workflow === "string" ? await workflowNames(mastra, workflow, scope.requestContext) : undefined;
        route.aliases = (kind, name) => (kind === "agent" && name === agent ? agents : kind === "workflow" && name === workflow ? workflows : undefined);
      }
    }
    const rule = findRule(this.rules, method, path, route);
    // A rule's `accepts` (issue #13) holds here too: the provider's own `accepts` says which classes
    // it authenticates at all (as ACCEPTS does at the gateway), a rule which its routes take.
    if (rule?.accepts && !rule.accepts.has(classOf(identity))) {
      const message = "this route does not accept this class of token";
      return this.#refuse(401, "token-type-mismatch", () => unauthorized("token-type-mismatch", message, true), { ...log, rule: String(rule.label) });
    }
    const decision = decideRule(rule, identity);
    if (!decision.allowed) {
      const { reason, rule, reverification } = decision;
      return this.#refuse(403, reason, () => forbidden(reason, rule, reverification), { ...log, rule: String(rule) });
    }
    if (this.unknownRoutes === "deny" && decision.rule === null) {
      const classified = (route.classified ??= this.table.classify(method, path));
      if (classified.underPrefix && !classified.match) return this.#refuse(403, "unknown-route", () => forbidden("unknown-route", null), log);
    }
    return null;
  }

  #unreadable(): Refusal {
    // A request shape without a URL cannot be matched against the rules: refused, never let by.
    return this.#refuse(403, "request-unreadable", () => forbidden("request-unreadable", null), {});
  }

  #refuse(status: number, reason: string, response: () => Response, fields: Record<string, string | undefined>): Refusal {
    this.logger.log("warn", status === 403 ? "auth.forbidden" : "auth.rejected", { status, reason, ...fields });
    return { status, reason, response };
  }
}
