// A Worker that serves its own Hono routes behind Clerk authentication, with the same verifier,
// key cache and rule engine as the mastra-edge-auth gateway, in-process (no gateway hop).
//
//   GET  /                 public
//   GET  /feed             anyone; personalised when a valid token is sent
//   GET  /api/me           any signed-in user: the normalised identity
//   GET  /api/admin        org role admin
//   POST /api/agents/run   org permission org:agents:run
//   GET  /api/reports      a verified email (an AUTH_RULES-style rule)

import { Hono } from "hono";
import {
  clerkAuth,
  getAuth,
  requireAuth,
  requireOrgRole,
  requirePermission,
  requireRule,
  type AuthEnv,
} from "mastra-edge-auth";

export interface Env {
  /** Workers KV for the JWKS cache (optional, recommended). */
  JWKS_CACHE?: KVNamespace;
  CLERK_PUBLISHABLE_KEY?: string;
  CLERK_JWKS_URI?: string;
  CLERK_ISSUER?: string;
  CLERK_AUTHORIZED_PARTIES?: string;
}

type AppEnv = AuthEnv & { Bindings: Env };

export function createApp(env: Env): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/", (c) => c.json({ hello: "world" }));

  // Built once per env: options are validated here (a bad one throws ConfigError naming it), and
  // the JWKS is cached in memory and in env.JWKS_CACHE. allowAnonymous: no token → c.var.auth is
  // null; an invalid token is still answered 401 by the middleware.
  app.use("*", clerkAuth({ env, allowAnonymous: true }));

  app.get("/feed", (c) => {
    const auth = getAuth(c);
    return c.json({ feed: auth ? `for ${auth.userId}` : "for everyone" });
  });

  app.use("/api/*", requireAuth());
  app.get("/api/me", (c) => c.json(c.var.auth));
  app.get("/api/admin", requireOrgRole("admin"), (c) => c.json({ admin: c.var.auth?.orgId }));
  app.post("/api/agents/run", requirePermission("org:agents:run"), (c) => c.json({ started: true, by: c.var.auth?.userId }));
  app.get("/api/reports", requireRule({ id: "verified-email", require: { emailVerified: true } }), (c) => c.json({ reports: [] }));

  return app;
}

// One app per env object: Workers pass the same env to every request of an isolate.
const apps = new WeakMap<Env, Hono<AppEnv>>();

export default {
  fetch(request, env, ctx) {
    let app = apps.get(env);
    if (!app) {
      app = createApp(env);
      apps.set(env, app);
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
