// The comparison for start-up CPU in bench/sections/mastra-worker.mjs: the template Worker with
// Mastra imported at module scope (what a Worker gets without the lazy import()).

import { createMastraWorker } from "../../src/mastra-worker.js";
import { buildMastra, type Env } from "../../examples/mastra-worker/src/mastra.js";

export default createMastraWorker<Env>({ mastra: (env) => buildMastra(env) });
