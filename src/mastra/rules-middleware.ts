import type { MiddlewareHandler } from "hono";
import { ConfigError } from "../core/errors.js";
import { misconfigured } from "../http/responses.js";
import { parseApiPrefix } from "../routes/table.js";
import type { MastraLike } from "./target-names.js";
import { rulesOf } from "./rules.js";

/** Where Mastra's auth stores the authenticated user (`MASTRA_USER_KEY` of `@mastra/server`'s constants: a reserved key). */
const MASTRA_USER_KEY = "mastra__user";

/** What the middleware reads of the Hono context Mastra's server builds (`@mastra/hono`'s context middleware sets both). */
interface MastraVariables {
  mastra?: MastraLike & { getServer?(): { apiPrefix?: string } | undefined };
  requestContext?: { get?(key: string): unknown };
}

/**
 * A Mastra server middleware that lets the provider's `rules` see what only Mastra knows, and
 * answer as the gateway does. Install it beside the provider:
 *
 * ```ts
 * const auth = new MastraAuthClerk({ rules: [...] });
 * new Mastra({ server: { auth, middleware: [mastraRulesMiddleware(auth)] } });
 * ```
 *
 * - The agent a request names is resolved in the Mastra instance as Mastra resolves it
 *   (`getAgentFromSystem`: id, key, a sub-agent key such as `helper`, a stored agent), and the
 *   rules see all of its names — and those of the agents it can delegate to — so a rule naming
 *   `weatherAgent` refuses `/api/agents/helper/generate` and the parent listing it.
 * - A refusal gets the gateway's JSON (`{ error: "forbidden", reason, rule }`, 400/413 for an
 *   unreadable `/v1/responses` body) instead of Mastra's `403 {"error":"Access denied"}`.
 *
 * The provider still decides, in `authorizeUser`, after Mastra authenticated the request (and
 * only where Mastra authenticates: public routes stay public); without this middleware it decides
 * on the names as the request spells them. Where an adapter authenticates before user middleware
 * runs, the middleware decides itself from the user Mastra stored. A Mastra whose
 * `server.apiPrefix` is not the provider's `apiPrefix` is answered 500 `misconfigured`: the rules
 * would not match its routes.
 */
export function mastraRulesMiddleware(provider: object): MiddlewareHandler {
  const enforcer = rulesOf(provider);
  if (enforcer === undefined) throw new ConfigError("mastraRulesMiddleware", "takes a MastraAuthClerk or MastraAuthGateway of this package");
  let prefixChecked = false;
  return async function mastraAuthRules(c, next) {
    // No rules: nothing to resolve, nothing to answer.
    if (!enforcer) return next();
    const vars = c as unknown as { get(key: keyof MastraVariables): MastraVariables[keyof MastraVariables] };
    const mastra = vars.get("mastra") as MastraVariables["mastra"];
    const requestContext = vars.get("requestContext") as MastraVariables["requestContext"];
    // Mastra's own `server.apiPrefix`, where set (`@mastra/hono` takes its prefix from its own options instead).
    const configured = prefixChecked ? undefined : mastra?.getServer?.()?.apiPrefix;
    if (configured !== undefined) {
      let served: string | null;
      try {
        served = parseApiPrefix(configured, "server.apiPrefix");
      } catch {
        served = null;
      }
      if (served !== enforcer.table.prefix) {
        enforcer.logger.log("error", "config.invalid", { variable: "apiPrefix", message: `Mastra's server.apiPrefix is not the provider's apiPrefix (${enforcer.table.prefix}): the rules would not match its routes` });
        return misconfigured("apiPrefix");
      }
    }
    prefixChecked = true;
    const raw = c.req.raw;
    const scope = { mastra, requestContext };
    // An adapter that authenticated before user middleware: the user is there; decide now. Only
    // under Mastra's reserved key (a body's `requestContext` cannot set it, unlike `user`) and only
    // a user this provider returned.
    const identity = enforcer.identityOf(requestContext?.get?.(MASTRA_USER_KEY));
    if (identity) {
      const refusal = await enforcer.decide(identity, raw, scope);
      if (refusal) return refusal.response();
      return next();
    }
    enforcer.attachScope(raw, scope);
    await next();
    const refusal = enforcer.refusalOf(raw);
    // Mastra answered the provider's `false` with 403 {"error":"Access denied"}: the gateway's answer instead.
    if (refusal && c.res.status === 403) {
      c.res = refusal.response();
      // Hono keeps the old answer's headers (CORS, a refreshed session cookie); its length is not this one's.
      c.res.headers.delete("content-length");
    }
  };
}
