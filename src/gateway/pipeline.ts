import { PathError, Reason } from "../core/errors.js";
import type { Logger, LogFields } from "../core/log.js";
import { isPublic } from "../authorize/public-paths.js";
import { acceptedAnywhere, decideRule, findRule, type CompiledRule } from "../authorize/rules.js";
import type { TokenClass } from "../credentials/token-class.js";
import { acceptanceFor, identityAccepted, type Acceptance } from "../verify/accepts.js";
import { bearerOf } from "../credentials/token.js";
import { isPreflight, preflightResponse, withCors } from "../http/cors.js";
import { insufficientScopeChallenge, METADATA_PATH, metadataUrl, protectedResourceMetadata } from "../http/resource-metadata.js";
import { forbidden, internalError, json, noUpstream, notFound, REALM, unauthorized } from "../http/responses.js";
import type { IoContext, KeyResolver } from "../keys/types.js";
import { timingSafeEqual, type GatewayStats } from "../metrics/stats.js";
import { normalizePath } from "../paths/normalize.js";
import { readRequestTargets } from "../routes/body-target.js";
import { mcpTransportOf, metadataResourcePath } from "../routes/mcp-resource.js";
import { selectedAgents, type RouteRequest } from "../routes/selector.js";
import { targetOf } from "../routes/table.js";
import type { AgentDirectoryStore } from "../proxy/agent-directory-store.js";
import { forward } from "../proxy/forward.js";
import { checkSpend } from "../spend-guard/decide.js";
import { authenticate, MISSING_CREDENTIAL, rejectionResponse, type Authenticated, type Rejected } from "../verify/authenticate.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";
import type { RequestPolicy } from "./config.js";

/** No class of its own: on an MCP resource, acceptanceFor adds OAuth tokens for exactly that resource. */
const MCP_RESOURCE_ONLY: ReadonlySet<TokenClass> = new Set();

/** What the pipeline is built from, once per configuration. */
export interface PipelineParts {
  verifier: ClerkTokenVerifier;
  keys: KeyResolver;
  policy: RequestPolicy;
  stats: GatewayStats;
  logger: Logger;
  now: () => number;
  /** The upstream's agent directory: present when rules or limits name agents (policy.agentDirectory). */
  directory?: AgentDirectoryStore | null;
}

/**
 * What the pipeline knows of one request, filled in step by step: each step reads what the steps
 * before it found, and none reaches for anything else (no side channel keyed by the Request).
 */
interface RequestState {
  readonly request: Request;
  readonly method: string;
  readonly url: URL;
  /** The normalised path: matched by every rule and forwarded. */
  readonly path: string;
  /** A PUBLIC_PATHS path: no credential needed (a valid one is still verified and forwarded). */
  readonly open: boolean;
  readonly io: IoContext;
  /** Set by the authenticate step on a protected path. */
  auth: Authenticated | null;
}

/**
 * The gateway's request path as one linear pipeline:
 * preflight → normalise → the gateway's own routes → authenticate → authorise (AUTH_RULES) →
 * spend guard → serve (`/auth/me`) or forward — then CORS on whatever came out, so every answer
 * (401, 403, 429, 5xx included) is readable by the browser. Every rejection is answered, logged
 * and counted in the step that decides it.
 */
export function createPipeline(parts: PipelineParts): (request: Request, ctx?: ExecutionContext) => Promise<Response> {
  const { verifier, keys, policy, stats, logger, now } = parts;
  const directory = parts.directory ?? null;
  const ruleAgentNames = new Set(policy.agentDirectory?.names ?? []);
  const { cors, publicPaths, rules, proxy, metricsToken, spendGuard, routes, unknownRoutes, readsBodyTargets, mcpServers } = policy;
  const { accepts: defaultAccepts, oauthAudiences } = verifier.config;
  // Before a request body names its target the deciding rule is not known: every class some rule
  // accepts may be verified, and the deciding rule's own classes are checked once it is known.
  const acceptedBeforeBody = acceptedAnywhere(rules, defaultAccepts);
  // Without rules about request bodies or the agent directory, the rule the path selects is the deciding one.
  const ruleKnownEarly = !readsBodyTargets && !directory;
  const guardSpend = spendGuard.limits.length > 0;
  // The public halves of the assertion keys (GATEWAY_ASSERTION_KEY), for upstreams to verify with.
  const published = proxy?.assertion?.published.length ? JSON.stringify({ keys: proxy.assertion.published.map((k) => k.publicJwk()) }) : null;

  const reject = (response: Response, level: "warn" | "error", event: string, reason: string, state: { method: string; path: string }, fields: LogFields = {}) => {
    logger.log(level, event, { status: response.status, reason, method: state.method, path: state.path, ...fields });
    stats.deny(reason, state.method, state.path);
    return response;
  };

  const rejectAuthentication = (state: RequestState, rejected: Rejected, resourceMetadata?: string) =>
    reject(rejectionResponse(rejected, resourceMetadata), rejected.status === 500 ? "error" : "warn", "auth.rejected", rejected.reason, state, {
      kid: rejected.kid,
      source: rejected.source,
      variable: rejected.variable,
      message: rejected.message,
    });

  /** `/metrics`: its own bearer secret, not a Clerk session (operators' scrapers have no Clerk user). */
  const hasMetricsToken = (request: Request) => metricsToken !== null && timingSafeEqual(bearerOf(request.headers.get("authorization")) ?? "", metricsToken);

  const serveMetrics = (state: RequestState): Response => {
    if (!hasMetricsToken(state.request)) {
      const presented = state.request.headers.has("authorization");
      return reject(unauthorized("token-invalid", "metrics need Authorization: Bearer <METRICS_TOKEN>", presented), "warn", "auth.rejected", "metrics-token-invalid", state);
    }
    return new Response(stats.render(keys.counters, verifier.counters, verifier.cache.stats(), directory?.counters), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" },
    });
  };

  /**
   * `/healthz`: public, status only, from what the isolate holds (no I/O: a probe must not become
   * a way to make the gateway fetch) — `ok` (fresh keys, or none needed yet), `degraded` (keys
   * served past their TTL), `unavailable` (503: past the stale bound, or the last load failed
   * with nothing usable held). The details (source, kids, ages; the verified-token cache's size)
   * only for the METRICS_TOKEN bearer.
   */
  const serveHealth = (state: RequestState): Response => {
    const detail = keys.status();
    let status =
      detail.state === "fresh" ? "ok" : detail.state === "stale" ? "degraded" : detail.state === "empty" && !detail.failing ? "ok" : "unavailable";
    // An agent directory that cannot be refreshed (rules then match a stale copy, or only the names they list): degraded, not down.
    const agents = directory?.status();
    if (status === "ok" && agents?.failing) status = "degraded";
    const body = hasMetricsToken(state.request) ? { status, keys: detail, tokenCache: verifier.cache.stats(), ...(agents ? { agents } : {}) } : { status };
    return json(body, status === "unavailable" ? 503 : 200);
  };

  /**
   * `/.well-known/oauth-protected-resource[/<resource path>]` (RFC 9728 §3): public, for the
   * origin the client used. The origin's own document describes the gateway; the path-suffixed
   * one an MCP server's transport. Anything else under the well-known path is 404 here, never
   * forwarded: the gateway owns what it says about its resources.
   */
  const serveResourceMetadata = (state: RequestState): Response => {
    const resourcePath = metadataResourcePath(state.path, routes, mcpServers);
    if (resourcePath === null) return reject(notFound(), "warn", "auth.rejected", "resource-metadata-not-found", state);
    const body = protectedResourceMetadata(state.url.origin, resourcePath, verifier.config.issuer);
    return json(body, 200, { "cache-control": "public, max-age=300" });
  };

  /**
   * Gives the rules and limits the upstream's agent directory when the request names an agent:
   * with it fresh in memory, a Map lookup; otherwise what the store answers (a cold isolate waits
   * for a KV read and one bounded upstream read; after a failure, nothing, at once). A request
   * naming no agent never waits. A spelling the directory does not know is asked of its agent card;
   * one that cannot be asked about counts as possibly any agent.
   */
  const useAgentDirectory = async (route: RouteRequest, io: IoContext): Promise<void> => {
    const match = (route.classified ??= policy.routes.classify(route.method, route.path)).match;
    const target = match ? targetOf(match, "agent") : null;
    if (typeof target !== "string") return;
    const agents = directory!.peek() ?? (await directory!.get(io));
    if (!agents) {
      stats.agentDirectoryFallback();
      return;
    }
    if (!agents.knows(target) && !ruleAgentNames.has(target) && (await directory!.lookup(agents, target)) === "undecided") {
      // Could be any agent: every rule about an agent holds (fail closed), as for a target the edge cannot name.
      route.undecidedAgent = target;
    }
    route.agents = agents;
  };

  /** Which agent a refusing rule is about and how the request's agent reaches it, when the directory (not the rule's own names) matched. */
  const explainCoverage = (label: string | number, route: RouteRequest) => {
    const rule = rules.find((r) => r.label === label);
    const names = rule ? selectedAgents(rule.selector) : null;
    const match = route.classified?.match;
    const target = match ? targetOf(match, "agent") : null;
    return names && typeof target === "string" ? route.agents!.explain(names, target) : null;
  };

  const handle = async (state: RequestState): Promise<Response> => {
    const { method, path } = state;
    /** The request as rules and limits see it: classified against the route table on first need, once. */
    const route: RouteRequest = { method, path };
    if (metricsToken !== null && method === "GET" && path === "/metrics") return serveMetrics(state);
    if ((method === "GET" || method === "HEAD") && path === "/healthz") return serveHealth(state);
    if (published !== null && (method === "GET" || method === "HEAD") && path === "/.well-known/jwks.json") {
      return new Response(published, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=300" } });
    }
    if ((method === "GET" || method === "HEAD") && path.startsWith(METADATA_PATH)) return serveResourceMetadata(state);
    // An MCP server's transport (the substring test keeps every other request off the route table).
    const mcp = path.includes("/mcp/") ? mcpTransportOf((route.classified ??= routes.classify(method, path)).match) : null;
    if (mcp && mcpServers && !mcpServers.has(mcp.serverId)) {
      const message = "this MCP server is not served by the gateway (MCP_SERVERS)";
      return reject(json({ error: "not_found", reason: "mcp-server-not-listed", message }, 404), "warn", "auth.rejected", "mcp-server-not-listed", state);
    }

    // The classes the route accepts (its rule's `accepts`, else ACCEPTS) and, on an MCP resource,
    // OAuth tokens for that resource (verify/accepts.ts acceptanceFor: issue #13's default). An MCP
    // transport is an OAuth protected resource and nothing else unless a rule says otherwise: ACCEPTS
    // does not reach it, so a session token is refused there ("unless configured", issue #13).
    const routeDefault = mcp ? MCP_RESOURCE_ONLY : defaultAccepts;
    let rule: CompiledRule | undefined = ruleKnownEarly ? findRule(rules, method, path, route) : undefined;
    const resource = mcp ? state.url.origin + mcp.resourcePath : null;
    const acceptanceOf = (classes: ReadonlySet<TokenClass>): Acceptance => acceptanceFor(classes, oauthAudiences, state.url.origin, resource);
    const accepts = acceptanceOf(ruleKnownEarly ? (rule?.accepts ?? routeDefault) : acceptedBeforeBody);
    const result = await authenticate(state.request.headers, verifier, state.io, accepts);
    if (state.open) {
      // A public path never answers 401: a valid credential is forwarded with its identity (so
      // Mastra's own `/auth/me` knows the user), anything else passes as anonymous — and, since
      // nothing was verified, no credential travels.
      // (Its body is not read: with rules about body targets, the rule its path alone selects decides the class.)
      if (result.ok && (ruleKnownEarly || identityAccepted(result.identity, acceptanceOf(findRule(rules, method, path, route)?.accepts ?? routeDefault)))) state.auth = result;
      else if (!result.ok && !result.anonymous) logger.log("debug", "auth.public_anonymous", { reason: result.reason, method, path });
    } else {
      if (!result.ok) {
        // On an MCP transport the challenge names the resource's metadata (RFC 9728 §5.1): the MCP client's way in.
        const resourceMetadata = mcp ? metadataUrl(state.url.origin, mcp.resourcePath) : undefined;
        return rejectAuthentication(state, result.anonymous ? MISSING_CREDENTIAL : result, resourceMetadata);
      }
      state.auth = result;
      // Rules about agents hold on routes that name the agent in their JSON body (/v1/responses):
      // that body is read (bounded) before the rules, and a body that cannot be read is refused.
      if (readsBodyTargets) {
        const failure = await readRequestTargets(routes, route, state.request);
        if (failure) {
          const error = failure.status === 413 ? "payload_too_large" : "bad_request";
          return reject(json({ error, reason: failure.reason, message: failure.message }, failure.status), "warn", "auth.rejected", failure.reason, state, { user: result.identity.userId });
        }
      }
      if (directory) await useAgentDirectory(route, state.io);
      if (!ruleKnownEarly) {
        rule = findRule(rules, method, path, route);
        if (!identityAccepted(result.identity, acceptanceOf(rule?.accepts ?? routeDefault))) {
          const rejected: Rejected = { ok: false, anonymous: false, status: 401, reason: Reason.TokenTypeMismatch, message: "this route does not accept this class of token", source: result.credential.source, tokenPresent: true };
          return rejectAuthentication(state, rejected, mcp ? metadataUrl(state.url.origin, mcp.resourcePath) : undefined);
        }
      }
      const decision = decideRule(rule, result.identity);
      if (!decision.allowed) {
        const coverage = route.agents ? explainCoverage(decision.rule, route) : null;
        const refusal = forbidden(decision.reason, decision.rule, decision.reverification, coverage ? { agent: coverage.agent } : undefined);
        // A token short of a scope on an MCP transport: the challenge lets the MCP client step up (RFC 6750 §3.1).
        if (mcp && rule && decision.reason.startsWith("scope-missing:")) {
          refusal.headers.set("www-authenticate", insufficientScopeChallenge(REALM, rule.require.scopes, metadataUrl(state.url.origin, mcp.resourcePath)));
        }
        return reject(refusal, "warn", "auth.forbidden", decision.reason, state, {
          rule: String(decision.rule),
          user: result.identity.userId,
          ...(coverage ? { agent: coverage.agent, agentVia: coverage.how === "alias" ? "alias" : `delegates:${coverage.path.join("/")}` } : {}),
        });
      }
      // UNKNOWN_ROUTES=deny: a route under the prefix that Mastra does not serve passes only when a rule named it.
      if (unknownRoutes === "deny" && decision.rule === null) {
        const classified = (route.classified ??= routes.classify(method, path));
        if (classified.underPrefix && !classified.match) {
          return reject(forbidden("unknown-route", null), "warn", "auth.forbidden", "unknown-route", state, { user: result.identity.userId });
        }
      }
    }
    const identity = state.auth?.identity ?? null;

    // After authentication and AUTH_RULES, so a 401 or 403 never spends a budget.
    let limitHeaders: Record<string, string> | null = null;
    if (guardSpend) {
      // A public path is counted only under `ip` limits, whoever the caller is: a public route
      // listed in a per-user limit must not let anyone drain a user's budget with a token.
      const spender = state.open ? null : identity;
      const spend = await checkSpend(spendGuard, { method, path, identity: spender, headers: state.request.headers, route }, now(), state.io);
      if (spend.outcome === "denied") {
        const { event, fields } = spend.log;
        return reject(spend.response, spend.response.status === 429 ? "warn" : "error", event, String(fields.reason), state, fields);
      }
      if (spend.outcome === "allowed") limitHeaders = spend.headers;
    }

    if (identity) stats.allow(method, path);
    else stats.publicRequest();
    let response: Response;
    if (method === "GET" && path === "/auth/me") response = identity ? json(identity) : notFound();
    else if (!proxy) response = noUpstream();
    else response = await forward({ request: state.request, path, identity, credential: state.auth?.credential ?? null, url: state.url }, proxy, logger, stats);
    return limitHeaders ? withHeaders(response, limitHeaders) : response;
  };

  return async (request, ctx) => {
    const origin = request.headers.get("origin");
    const method = request.method;
    let response: Response;
    let path = "";
    try {
      if (isPreflight(request)) {
        stats.preflight();
        logger.log("debug", "cors.preflight", { origin: origin ?? undefined, path: safePath(request) });
        return preflightResponse(cors, request);
      }
      const url = new URL(request.url);
      try {
        path = normalizePath(url.pathname);
      } catch (error) {
        if (!(error instanceof PathError)) throw error;
        response = reject(json({ error: error.code, reason: error.reason, message: error.message }, 400), "warn", "auth.rejected", error.reason, { method, path: "" }, { message: error.message });
        return withCors(response, cors, origin);
      }
      // The gateway's own routes (/metrics, /healthz, /.well-known/jwks.json, /.well-known/oauth-protected-resource…) are answered before this matters.
      const open = isPublic(publicPaths, method, path);
      const io: IoContext = ctx ? { waitUntil: (p) => ctx.waitUntil(p) } : {};
      response = await handle({ request, method, url, path, open, io, auth: null });
    } catch (error) {
      logger.log("error", "gateway.unhandled", { name: (error as Error)?.name, path });
      response = internalError();
    }
    return withCors(response, cors, origin);
  };
}

/** Adds headers to an answer; one from fetch has immutable headers, so it is copied (the body stream kept). */
function withHeaders(response: Response, headers: Record<string, string>): Response {
  try {
    for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
    return response;
  } catch {
    const out = new Response(response.body, response);
    for (const [name, value] of Object.entries(headers)) out.headers.set(name, value);
    return out;
  }
}

/** The request's raw path, for a log line; "" when the URL cannot be parsed. */
export function safePath(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    return "";
  }
}
