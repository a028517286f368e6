// The shipped spend guard, read the way wrangler reads it: a RATE_LIMITS entry that names a
// [[ratelimits]] binding must state that binding's own limit and period (the binding cannot tell
// the Worker), and the Durable Object it may use must be bound and migrated.

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { describe, expect, it } from "vitest";
import { mastraRoutes } from "../../src/routes/packed.js";
import { matchLimits, resolveSpendGuard, type SpendGuardEnv } from "../../src/spend-guard/config.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const config = unstable_readConfig({ config: resolve(ROOT, "wrangler.toml") });
const vars = config.vars as Record<string, string>;

describe("wrangler.toml spend guard", () => {
  it("every binding-backed RATE_LIMITS entry states its binding's limit and period", () => {
    const entries = JSON.parse(vars.RATE_LIMITS!) as { id: string; binding?: string; limit: number; period: number }[];
    const withBinding = entries.filter((e) => e.binding);
    expect(withBinding.length).toBeGreaterThan(0);
    for (const e of withBinding) {
      const declared = config.ratelimits.find((r) => r.name === e.binding);
      expect(declared, `[[ratelimits]] ${e.binding}`).toBeDefined();
      expect([e.id, declared!.simple]).toEqual([e.id, { limit: e.limit, period: e.period }]);
    }
  });

  it("binds and migrates the SpendCounter Durable Object as SQLite-backed", () => {
    expect(config.durable_objects.bindings).toContainEqual({ name: "SPEND_COUNTER", class_name: "SpendCounter" });
    expect(config.migrations.some((m) => m.new_sqlite_classes?.includes("SpendCounter"))).toBe(true);
  });

  it("the shipped limit covers every route that runs something, however it is spelled, and nothing else", () => {
    const bindings = Object.fromEntries(config.ratelimits.map((r) => [r.name, { limit: async () => ({ success: true }) }]));
    const { limits } = resolveSpendGuard({ ...vars, ...bindings, SPEND_COUNTER: { idFromName() {} } } as unknown as SpendGuardEnv);
    const limited = (method: string, path: string) => matchLimits(limits, method, path).length > 0;
    // Paths as @mastra/server 1.x serves them under its default /api prefix: every spelling that
    // calls a model or runs a workflow or tool (issue 11's list), written out independently of the table.
    for (const path of [
      "/api/agents/weather/generate",
      "/api/agents/weather/generate/vnext",
      "/api/agents/weather/generate-legacy",
      "/api/agents/weather/stream",
      "/api/agents/weather/stream/vnext",
      "/api/agents/weather/stream-until-idle",
      "/api/agents/weather/streamVNext",
      "/api/agents/weather/network",
      "/api/agents/weather/resume-stream",
      "/api/agents/weather/approve-tool-call",
      "/api/agents/weather/approve-tool-call-generate",
      "/api/agents/weather/decline-tool-call",
      "/api/agents/weather/decline-tool-call-generate",
      "/api/agents/weather/send-message",
      "/api/agents/weather/queue-message",
      "/api/agents/weather/recover",
      "/api/agents/weather/instructions/enhance",
      "/api/agents/weather/voice/speak",
      "/api/agents/weather/listen",
      "/api/agents/weather/tools/get-weather/execute",
      "/api/tools/get-weather/execute",
      "/api/a2a/weather",
      "/api/workflows/weatherWorkflow/start",
      "/api/workflows/weatherWorkflow/start-async",
      "/api/workflows/weatherWorkflow/resume-async",
      "/api/workflows/weatherWorkflow/stream",
      "/api/workflows/weatherWorkflow/time-travel-stream",
      "/api/workflows/weatherWorkflow/restart-async",
      "/api/agent-builder/create-agent/start",
      "/api/schedules/nightly/run",
      "/api/v1/responses",
    ]) {
      expect([path, limited("POST", path)]).toEqual([path, true]);
    }
    for (const [method, path] of [
      ["GET", "/api/agents"],
      ["GET", "/api/agents/weather"],
      ["GET", "/api/agents/weather/generate"],
      ["GET", "/api/.well-known/weather/agent-card.json"],
      ["GET", "/api/workflows/weatherWorkflow/runs"],
      ["POST", "/api/memory/threads"],
      ["POST", "/api/custom/route"],
      ["POST", "/api/auth/credentials/sign-in"],
    ] as const) {
      expect([method, path, limited(method, path)]).toEqual([method, path, false]);
    }
  });

  it("ships PUBLIC_PATHS as exactly the routes Mastra serves without a token, plus GET /health", () => {
    const shipped = vars.PUBLIC_PATHS!.split(",").map((e) => e.trim());
    const mastraPublic = mastraRoutes().filter((r) => r.public).map((r) => `${r.method} /api${r.path}`);
    expect(mastraPublic.length).toBeGreaterThan(0);
    expect(shipped.sort()).toEqual([...mastraPublic, "GET /health"].sort());
  });
});
