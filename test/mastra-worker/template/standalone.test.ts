// The template Worker (examples/mastra-worker) as deployed standalone, reached through SELF:
// real Mastra (agent, memory in D1, workflow) behind MastraAuthClerk, in workerd. Only the outside
// world is stood in for: Clerk's JWKS (test/mastra-worker/pool.mjs) and the LLM (the template's
// own offline mock model). Mastra is built once for this file, by its first requests.

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { generateSigningKey, mintClerkToken } from "../../../scripts/lib/clerk-token.mjs";
import { describeWeather, lookupWeather } from "../../../examples/mastra-worker/src/model.js";
import { bearer, jwksFetches, post, sseRecords, streamedText, testEnv, tokenFor } from "../helpers.js";

const BASE = "https://mastra-worker.test";
const generate = (init: RequestInit) => SELF.fetch(`${BASE}/api/agents/weatherAgent/generate`, init);
const health = async () => (await (await SELF.fetch(`${BASE}/healthz`)).json()) as { status: string; mastraBuilds: number };

describe("template Mastra Worker, standalone (MastraAuthClerk)", () => {
  it("answers /healthz without building Mastra", async () => {
    const response = await SELF.fetch(`${BASE}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ status: "ok", mastraBuilds: 0 });
  });

  it("builds Mastra once for concurrent first requests, and verifies Clerk tokens against one JWKS fetch", async () => {
    const fetchesBefore = await jwksFetches();
    const token = await tokenFor("user_first");
    const cities = ["Lisbon", "Porto", "Faro"];
    const responses = await Promise.all(cities.map((city) => generate(post({ messages: `What is the weather in ${city}?`, memory: { thread: `first-${city}` } }, bearer(token)))));
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ text: string }>));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(bodies.map((b) => b.text)).toEqual(cities.map((city) => describeWeather(lookupWeather(city))));
    expect(await health()).toEqual({ status: "ok", mastraBuilds: 1 });
    expect((await jwksFetches()) - fetchesBefore).toBeLessThanOrEqual(1);
    // The first requests load Mastra's modules through vitest's transform: tens of seconds on a
    // busy machine (a deployed Worker imports its bundle in about a second).
  }, 240_000);

  it("answers 401 without a token, with a token of another key, and with an expired token", async () => {
    const body = { messages: "What is the weather in Oslo?", memory: { thread: "rejected" } };
    const stranger = await generateSigningKey({ kid: "ins_stranger" });
    const foreign = await mintClerkToken(stranger, { issuer: testEnv.CLERK_ISSUER, sub: "user_x", kid: "ins_stranger" });
    const expired = await tokenFor("user_x", { ttlSeconds: -120 });
    for (const headers of [{}, bearer(foreign), bearer(expired), bearer("not-a-jwt")]) {
      const response = await generate(post(body, headers));
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: "Invalid or expired token" });
    }
  });

  it("streams an agent answer as server-sent events: tool call, tool result, text", async () => {
    const response = await SELF.fetch(`${BASE}/api/agents/weatherAgent/stream`, post({ messages: "What is the weather in Oslo?", memory: { thread: "stream-thread" } }, bearer(await tokenFor("user_stream"))));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const text = await response.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    const records = sseRecords(text) as { type: string }[];
    const types = records.map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(["tool-call", "tool-result", "text-delta", "finish"]));
    expect(types.indexOf("tool-result")).toBeLessThan(types.indexOf("text-delta"));
    expect(streamedText(records)).toBe(describeWeather(lookupWeather("Oslo")));
  });

  it("runs a workflow to completion (snapshots in D1)", async () => {
    const auth = bearer(await tokenFor("user_workflow"));
    const created = await SELF.fetch(`${BASE}/api/workflows/weatherWorkflow/create-run`, post({}, auth));
    expect(created.status).toBe(200);
    const { runId } = (await created.json()) as { runId: string };
    const started = await SELF.fetch(`${BASE}/api/workflows/weatherWorkflow/start-async?runId=${runId}`, post({ inputData: { location: "Cairo" } }, auth));
    expect(started.status).toBe(200);
    const result = (await started.json()) as { status: string; result: { summary: string } };
    expect(result.status).toBe("success");
    expect(result.result).toEqual({ summary: describeWeather(lookupWeather("Cairo")) });
    // The run was persisted: Mastra reads it back from storage.
    const stored = await SELF.fetch(`${BASE}/api/workflows/weatherWorkflow/runs/${runId}`, { headers: auth });
    expect(stored.status).toBe(200);
  });

  it("keeps each user's memory to that user (resource id = Clerk user id, in D1)", async () => {
    const alice = bearer(await tokenFor("user_alice"));
    const bob = bearer(await tokenFor("user_bob"));
    // Alice even claims Bob's resource id in the body: Mastra uses the authenticated one.
    const said = await generate(post({ messages: "What is the weather in Rome?", memory: { thread: "alice-thread", resource: "user_bob" } }, alice));
    expect(said.status).toBe(200);

    const aliceThreads = await SELF.fetch(`${BASE}/api/memory/threads?agentId=weatherAgent&resourceId=user_alice`, { headers: alice });
    expect(aliceThreads.status).toBe(200);
    const listed = (await aliceThreads.json()) as { threads: { id: string; resourceId: string }[] };
    expect(listed.threads.map((t) => [t.id, t.resourceId])).toContainEqual(["alice-thread", "user_alice"]);
    const aliceMessages = await SELF.fetch(`${BASE}/api/memory/threads/alice-thread/messages?agentId=weatherAgent`, { headers: alice });
    expect(aliceMessages.status).toBe(200);
    expect(JSON.stringify(await aliceMessages.json())).toContain("What is the weather in Rome?");

    // Bob sees none of it: not by listing Alice's resource, not by asking for her thread.
    const bobListing = await SELF.fetch(`${BASE}/api/memory/threads?agentId=weatherAgent&resourceId=user_alice`, { headers: bob });
    expect(bobListing.status).toBe(200);
    expect(((await bobListing.json()) as { threads: unknown[] }).threads).toEqual([]);
    const bobReading = await SELF.fetch(`${BASE}/api/memory/threads/alice-thread/messages?agentId=weatherAgent`, { headers: bob });
    expect(bobReading.status).toBe(403);
    expect(JSON.stringify(await bobReading.json())).not.toContain("Rome");
  });

  it("built Mastra once for the whole file", async () => {
    expect(await health()).toEqual({ status: "ok", mastraBuilds: 1 });
  });
});
