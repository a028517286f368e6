// The comparison for bench/sections/mastra-worker.mjs: the template's Mastra app served the way
// Mastra's Cloudflare deployer entry does it, a new Mastra and a new server for every request.
// Auth is the same provider, kept per isolate, so the difference is Mastra's construction alone.

import { waitUntil } from "cloudflare:workers";
import { Hono } from "hono";
import { MastraAuthClerk } from "../../src/lib.js";
import type { Env } from "../../examples/mastra-worker/src/mastra.js";

let auth: MastraAuthClerk | null = null;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const [{ buildMastra }, { MastraServer }] = await Promise.all([import("../../examples/mastra-worker/src/mastra.js"), import("@mastra/hono")]);
    auth ??= new MastraAuthClerk({ env: env as never, waitUntil });
    const mastra = buildMastra(env);
    mastra.setServer({ ...mastra.getServer(), auth: auth as never });
    const app = new Hono();
    await new MastraServer({ app: app as never, mastra }).init();
    return app.fetch(request, env, ctx);
  },
};
