// A Worker that serves Mastra (agents, workflows, memory) at the edge behind Clerk auth.
//
//   GET  /healthz         public: {"status":"ok","mastraBuilds":n}
//   *    /api/...         Mastra's routes (MastraAuthClerk: a Clerk session token, or behind the
//                         gateway with MASTRA_AUTH = "gateway": the gateway's signed assertion)
//
// Deploy: see wrangler.toml and docs/mastra-worker.md.

import { createMastraWorker, type MastraWorkerOptions } from "mastra-edge-auth/mastra-worker";
import type { BuildOptions, Env } from "./mastra.js";

/** The same Worker with other build options (tests hold the mock model's stream with it). */
export function mastraWorker(build: BuildOptions = {}, options: Omit<MastraWorkerOptions<Env>, "mastra"> = {}) {
  return createMastraWorker<Env>({
    ...options,
    // Lazy: @mastra/core is loaded and the app built on the first request, once per isolate.
    mastra: async (env) => (await import("./mastra.js")).buildMastra(env, build),
  });
}

export default mastraWorker();
