// The Mastra app this Worker serves: one agent with memory, one workflow, stored in D1.
// Imported only with `import()` from src/index.ts: @mastra/core at module scope would cost ~1 s of
// start-up CPU, the Workers limit.

import { D1Store } from "@mastra/cloudflare-d1";
import { Agent } from "@mastra/core/agent";
import { ConsoleLogger, type LogLevel } from "@mastra/core/logger";
import { Mastra } from "@mastra/core/mastra";
import { createTool } from "@mastra/core/tools";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { Memory } from "@mastra/memory";
import { z } from "zod";
import { describeWeather, lookupWeather, weatherModel, type WeatherModelOptions } from "./model.js";

export interface Env {
  /** Mastra's storage: threads, messages, workflow snapshots. */
  DB: D1Database;
  JWKS_CACHE?: KVNamespace;
  LOG_LEVEL?: string;
}

export interface BuildOptions {
  /** Test hook: options of the mock model (see src/model.ts). */
  model?: WeatherModelOptions;
}

const weatherTool = createTool({
  id: "get-weather",
  description: "Get the current weather for a location",
  inputSchema: z.object({ location: z.string() }),
  outputSchema: z.object({ location: z.string(), temperatureC: z.number(), conditions: z.string() }),
  execute: async ({ location }) => lookupWeather(location),
});

const weatherShape = z.object({ location: z.string(), temperatureC: z.number(), conditions: z.string() });

const weatherWorkflow = createWorkflow({
  id: "weather-workflow",
  inputSchema: z.object({ location: z.string() }),
  outputSchema: z.object({ summary: z.string() }),
})
  .then(
    createStep({
      id: "fetch-weather",
      inputSchema: z.object({ location: z.string() }),
      outputSchema: weatherShape,
      execute: async ({ inputData }) => lookupWeather(inputData.location),
    }),
  )
  .then(
    createStep({
      id: "summarize",
      inputSchema: weatherShape,
      outputSchema: z.object({ summary: z.string() }),
      execute: async ({ inputData }) => ({ summary: describeWeather(inputData) }),
    }),
  )
  .commit();

export function buildMastra(env: Env, options: BuildOptions = {}): Mastra {
  if (!env.DB) throw new Error("the DB binding (D1) is missing: see [[d1_databases]] in wrangler.toml");
  const weatherAgent = new Agent({
    id: "weather-agent",
    name: "Weather Agent",
    instructions: "You answer weather questions using the weather tool.",
    // A real model instead of the offline mock: replace the next line with
    //   model: "openai/gpt-4o-mini",   // and `npx wrangler secret put OPENAI_API_KEY`
    // (Mastra's model router reads the key from process.env, which nodejs_compat fills from
    // the Worker's secrets), and drop the weatherModel import above.
    model: weatherModel(options.model) as never,
    tools: { weatherTool },
    // Threads and messages in D1, per user: the auth provider maps each user to its resource id,
    // so a call names only its thread (`memory: { thread }`); Mastra requires one with memory.
    memory: new Memory({ options: { lastMessages: 10 } }),
  });
  return new Mastra({
    agents: { weatherAgent },
    workflows: { weatherWorkflow },
    storage: new D1Store({ id: "mastra-d1", binding: env.DB }),
    logger: new ConsoleLogger({ name: "mastra-worker", level: (env.LOG_LEVEL ?? "warn") as LogLevel }),
  });
}
