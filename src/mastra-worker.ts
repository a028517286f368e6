// `mastra-edge-auth/mastra-worker`: a Worker that *serves* Mastra (agents, workflows, memory) at
// the edge, behind Clerk auth or behind the gateway. Workers only (it imports `cloudflare:workers`).
//
// Why it looks the way it does (docs/mastra-worker.md has the measurements):
// - Mastra is built lazily, once per isolate. Imported at module scope, @mastra/core costs about
//   1 s of start-up CPU — the Workers limit — so neither this module nor the user's entry may
//   import it statically; the user's build function `import()`s it on the first request.
// - A failed build is not cached: the next request builds again.
// - Only this entry reaches @mastra/hono, and only through `import()`; src/lib.ts never does.

import { waitUntil } from "cloudflare:workers";
import type { Mastra } from "@mastra/core/mastra";
import { Hono } from "hono";
import { ConfigError, MastraAuthClerk, MastraAuthGateway, mastraRulesMiddleware, silentLogger, type Logger } from "./lib.js";
import { chosenMode, providerFor, type AuthSelection } from "./mastra-worker/auth.js";
import { BuildOnce } from "./mastra-worker/build-once.js";
import { health, mastraUnavailable, misconfigured } from "./mastra-worker/responses.js";

export type {
  MastraWorkerAuth,
  MastraWorkerAuthMode,
  MastraAuthProviderLike,
  ProviderContext,
  ClerkProviderOptions,
  GatewayProviderOptions,
} from "./mastra-worker/auth.js";
export { BuildOnce } from "./mastra-worker/build-once.js";

/** The bindings a Mastra Worker reads itself; the build function may read any others. */
export interface MastraWorkerEnv {
  /** Workers KV for Clerk's JWKS, shared with the gateway's key store format. Optional. */
  JWKS_CACHE?: KVNamespace;
  /** `"clerk"` (default), `"gateway"` or `"mastra"`: see {@link MastraWorkerAuthMode}. */
  MASTRA_AUTH?: string;
}

/** What `@mastra/hono`'s `MastraServer` takes besides `app` and `mastra`. */
export interface MastraServerOptions {
  /** Route prefix. Default Mastra's (`/api`). */
  prefix?: string;
  openapiPath?: string;
  bodyLimitOptions?: { maxSize: number; onError: (error: unknown) => unknown };
  streamOptions?: { redact?: boolean };
  /** Workers keep no MCP session between requests: pass `{ serverless: true }` to serve MCP. */
  mcpOptions?: { serverless?: boolean };
}

export interface MastraWorkerOptions<Env extends object> extends AuthSelection<Env> {
  /**
   * Builds the Mastra instance from the Worker's env. Called on the first request of an isolate
   * (never per request), again only if it threw. Import `@mastra/*` inside it with `import()`:
   *
   *     mastra: async (env) => (await import("./mastra.js")).buildMastra(env)
   */
  mastra: (env: Env) => Mastra | Promise<Mastra>;
  /** Public liveness route answering `{"status":"ok","mastraBuilds":n}` without building. Default `/healthz`; false: none. */
  healthPath?: string | false;
  /** Passed to `@mastra/hono`'s `MastraServer`. */
  server?: MastraServerOptions;
  /** Registers routes of your own on the Hono app, before Mastra's; Mastra's auth covers the paths it protects (`/api/*` by default). */
  routes?: (app: Hono<{ Bindings: Env }>, env: Env) => void | Promise<void>;
  /** Where build failures are logged. Default: silent. */
  logger?: Logger;
}

/** A module Worker (`export default`) serving Mastra, plus what an operator or a test may ask of it. */
export interface MastraWorker<Env extends object> {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
  /** Builds started in this isolate: 1 after the first request, more only after failed builds. */
  readonly builds: number;
  /** Builds Mastra now if not built (what the first request would do); resolves with the instance. */
  mastra(env: Env): Promise<Mastra>;
}

interface Built<Env extends object> {
  mastra: Mastra;
  app: Hono<{ Bindings: Env }>;
}

/**
 * The Worker: `export default createMastraWorker({ mastra: (env) => … })`.
 *
 * Requests to the health path are answered without building. Any other request waits for the
 * one build of the isolate (concurrent first requests share it), then goes to Mastra's routes on
 * a Hono app, authenticated by the provider chosen with `auth` / `MASTRA_AUTH` (default Clerk).
 * A build that throws answers 503 (500 for a `ConfigError`, naming the setting) and is retried
 * by the next request.
 */
export function createMastraWorker<Env extends object = MastraWorkerEnv>(options: MastraWorkerOptions<Env>): MastraWorker<Env> {
  if (typeof options?.mastra !== "function") throw new ConfigError("mastra", "is required: a function (env) => Mastra");
  const healthPath = options.healthPath === undefined ? "/healthz" : options.healthPath;
  if (healthPath !== false && !healthPath.startsWith("/")) throw new ConfigError("healthPath", `must start with "/", got ${JSON.stringify(healthPath)}`);
  const logger = options.logger ?? silentLogger;

  // The deliberate isolate cache, built with the env of the request that starts the build (a
  // Worker's env does not change within an isolate; a new deployment or secret starts new ones).
  const built = new BuildOnce<Built<Env>, Env>(build);

  async function build(env: Env): Promise<Built<Env>> {
    // Checked before the expensive part: a bad MASTRA_AUTH fails in microseconds.
    chosenMode(options, env);
    const [mastra, { MastraServer }] = await Promise.all([options.mastra(env), import("@mastra/hono")]);
    const server = mastra.getServer();
    const provider = providerFor(options, env, server?.auth, { waitUntil });
    // Mastra's documented way to add auth after construction (Mastra#setServer). The provider's
    // `mapUserToResourceId` was passed in its options: Mastra's base class assigns that own
    // property in its constructor, which would shadow a method override.
    // The installed provider's rules (AUTH_RULES of env by default) also get the middleware that
    // resolves agents in this Mastra and answers the gateway's 403 (docs/library.md), after the
    // instance's own middleware.
    if (provider) {
      const own = server?.middleware === undefined ? [] : Array.isArray(server.middleware) ? server.middleware : [server.middleware];
      const rules = provider instanceof MastraAuthClerk || provider instanceof MastraAuthGateway ? [mastraRulesMiddleware(provider)] : [];
      mastra.setServer({ ...server, auth: provider as never, ...(rules.length ? { middleware: [...own, ...rules] as never } : {}) });
    }
    const app = new Hono<{ Bindings: Env }>();
    await options.routes?.(app, env);
    await new MastraServer({ app: app as never, mastra, ...options.server }).init();
    return { mastra, app };
  }

  return {
    get builds() {
      return built.builds;
    },
    async mastra(env) {
      return (await built.get(env)).mastra;
    },
    async fetch(request, env, ctx) {
      if (healthPath !== false && (request.method === "GET" || request.method === "HEAD") && new URL(request.url).pathname === healthPath) {
        return health(built.builds);
      }
      let app: Hono<{ Bindings: Env }>;
      try {
        ({ app } = await built.get(env));
      } catch (error) {
        if (error instanceof ConfigError) {
          logger.log("error", "mastra.misconfigured", { variable: error.variable, message: error.message });
          return misconfigured(error.message);
        }
        logger.log("error", "mastra.build_failed", { builds: built.builds, message: error instanceof Error ? error.message : String(error) });
        return mastraUnavailable();
      }
      return app.fetch(request, env, ctx);
    },
  };
}
