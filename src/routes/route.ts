/**
 * Where a route names one of its targets: a path parameter (`:agentId`), a field of its JSON body
 * (`body.agent_id`, read at the edge within a bound), or `?` — Mastra finds it from stored state
 * (a response or conversation id), so the edge cannot tell which it is and every rule about that
 * kind of target applies.
 */
export type TargetSource = `:${string}` | `body.${string}` | "?";

/** The kinds of target a rule can name. `mcpServer` is recorded, not (yet) a selector. */
export interface RouteTargets {
  agent?: TargetSource;
  workflow?: TargetSource;
  tool?: TargetSource;
  mcpServer?: TargetSource;
}

/** One route Mastra serves, as scripts/gen-mastra-routes.mjs writes it. */
export interface MastraRoute {
  /** An HTTP method, or `ALL` (MCP transports answer every method). */
  method: string;
  /** Hono syntax (`/agents/:agentId/generate`), relative to the API prefix unless `outside`. */
  path: string;
  /**
   * Mastra's own permission for the route, exactly as `@mastra/server`'s `getEffectivePermission`
   * gives it: its `requiresPermission`, else derived (`resource:action`); an array is any-of;
   * null for public routes and `ALL` routes.
   */
  permission: string | string[] | null;
  /** The permission's resource (`agents`, `stored-agents`, `a2a`…). */
  resource: string;
  /**
   * The permission's actions, plus `execute` where the route runs an agent, workflow, tool or
   * scorer under a `write` permission (A2A, network: see ALSO_EXECUTES in the generator).
   */
  actions: string[];
  /** Mastra serves it without authentication (`requiresAuth: false`). */
  public?: true;
  /** Served outside the API prefix (`GET /health`, Studio). */
  outside?: true;
  targets?: RouteTargets;
}
