// The edge stack in one workerd: the gateway (src/index.ts, bundled as a second Worker) verifies
// the Clerk token and calls the template Mastra Worker over its MASTRA service binding; the
// Mastra Worker runs with MASTRA_AUTH = "gateway" (MastraAuthGateway), so it accepts only the
// gateway's signed assertion. Set up in test/mastra-worker/pool.mjs.

import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { describeWeather, lookupWeather } from "../../../examples/mastra-worker/src/model.js";
import { bearer, post, sseRecords, streamedText, testEnv, tokenFor } from "../helpers.js";

const GATEWAY = "https://gateway.test";
const viaGateway = (path: string, init: RequestInit = {}) => testEnv.GATEWAY!.fetch(`${GATEWAY}${path}`, init);

describe("gateway → Mastra Worker over a service binding (MastraAuthGateway)", () => {
  // Under vitest-pool-workers the Worker's modules load through vitest's module runner, which
  // serves only requests a test made itself: a first build started by the gateway's call would
  // wait forever on its `import()`. So this file's first request goes to the Mastra Worker
  // directly (a deployed Worker has no such limit; the bench and `npm run dev:edge` run bundles).
  beforeAll(async () => {
    const first = await SELF.fetch("https://mastra.internal/api/agents");
    expect(first.status).toBe(401);
  }, 240_000);

  it("serves an agent call the gateway authenticated", async () => {
    const response = await viaGateway("/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Vienna?", memory: { thread: "gw-1" } }, bearer(await tokenFor("user_gw"))));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Vienna")));
  });

  it("streams through the gateway", async () => {
    const response = await viaGateway("/api/agents/weatherAgent/stream", post({ messages: "What is the weather in Graz?", memory: { thread: "gw-2" } }, bearer(await tokenFor("user_gw"))));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(streamedText(sseRecords(await response.text()))).toBe(describeWeather(lookupWeather("Graz")));
  });

  it("the gateway answers 401 itself for a missing or bad token", async () => {
    const missing = await viaGateway("/api/agents/weatherAgent/generate", post({ messages: "hi" }));
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: "unauthorized" });
    const bad = await viaGateway("/api/agents/weatherAgent/generate", post({ messages: "hi" }, bearer("not-a-jwt")));
    expect(bad.status).toBe(401);
  });

  it("the Mastra Worker refuses a direct call, even with a valid Clerk token or a forged assertion", async () => {
    const token = await tokenFor("user_direct");
    const direct = await SELF.fetch("https://mastra.internal/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Linz?", memory: { thread: "x" } }, bearer(token)));
    expect(direct.status).toBe(401);
    const forged = await SELF.fetch(
      "https://mastra.internal/api/agents/weatherAgent/generate",
      post({ messages: "What is the weather in Linz?", memory: { thread: "x" } }, { ...bearer(token), "x-gateway-assertion": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl" }),
    );
    expect(forged.status).toBe(401);
  });

  it("keeps memory per user: the resource id is the user the gateway vouched for", async () => {
    const alice = bearer(await tokenFor("user_gw_alice"));
    const bob = bearer(await tokenFor("user_gw_bob"));
    const said = await viaGateway("/api/agents/weatherAgent/generate", post({ messages: "What is the weather in Bern?", memory: { thread: "gw-alice" } }, alice));
    expect(said.status).toBe(200);
    const mine = await viaGateway("/api/memory/threads/gw-alice/messages?agentId=weatherAgent", { headers: alice });
    expect(mine.status).toBe(200);
    expect(JSON.stringify(await mine.json())).toContain("Bern");
    const theirs = await viaGateway("/api/memory/threads/gw-alice/messages?agentId=weatherAgent", { headers: bob });
    expect(theirs.status).toBe(403);
  });

  it("the Mastra Worker built Mastra once", async () => {
    const health = await SELF.fetch("https://mastra.internal/healthz");
    expect(await health.json()).toEqual({ status: "ok", mastraBuilds: 1 });
  });
});
