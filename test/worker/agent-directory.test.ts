// Issue 11 §3, the gateway half: the upstream's agent directory. A rule naming weatherAgent also
// holds on the spellings only Mastra knows — a parent's sub-agent key (`helper`), a stored agent,
// a parent that delegates to it — learnt from the upstream's own agent list, cached like the JWKS
// (isolate memory → KV → upstream), never on the hot path, and said so when it cannot be had.

import { env as workerEnv } from "cloudflare:workers";
import { decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ASSERTION_HEADER, AssertionKey, MastraAuthGateway, mintAssertion, verifyAssertion } from "../../src/lib.js";
import { mintServiceAssertion, DIRECTORY_SERVICE } from "../../src/assertion/assertion.js";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { AgentDirectory, agentCardId, isDirectoryRead, parseAgentList, type AgentListing } from "../../src/routes/agent-directory.js";
import { toIdentity } from "../../src/identity/identity.js";
import { body, Clock, countingKv, expectMisconfigured, FakeOrigin, harness, mint, newKey, TEST_METRICS_TOKEN, uniqueJwksEnv, type SigningKey } from "./helpers.js";

const ADMINS_ONLY = { id: "admins-only", agents: ["weatherAgent", "weather-agent"], require: { orgRoles: ["admin"] } };
const SECRET = "directory-test-secret-0123456789-abcdef";
const UPSTREAM = "https://mastra.internal";

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

const LISTING: AgentListing = {
  agents: [
    { id: "weather-agent", subAgents: [] },
    { id: "travel-agent", subAgents: [["helper", "weather-agent"]] },
    { id: "trip-planner", subAgents: [["travel", "travel-agent"]] },
    { id: "other-agent", subAgents: [["helper", "other-helper"]] },
    { id: "stored-bot", subAgents: [] },
  ],
  aliases: [["weatherAgent", "weather-agent"]],
};

describe("the agent directory (model)", () => {
  const dir = new AgentDirectory(LISTING, 0);
  const rule = new Set(["weatherAgent", "weather-agent"]);

  it.each([
    // spelling, covered by a rule on weatherAgent (parents covered), why
    ["weather-agent", true, null],
    ["weatherAgent", true, null],
    // `helper` is weatherAgent under travel-agent, and other-helper under other-agent: ambiguous, so covered.
    ["helper", true, { agent: "weather-agent", how: "alias", path: [] }],
    ["travel-agent", true, { agent: "weather-agent", how: "delegates", path: ["helper"] }],
    ["travel", true, { agent: "weather-agent", how: "delegates", path: ["helper"] }],
    ["trip-planner", true, { agent: "weather-agent", how: "delegates", path: ["travel", "helper"] }],
    ["other-agent", false, null],
    ["other-helper", false, null],
    ["stored-bot", false, null],
    ["never-heard-of", false, null],
  ] as const)("%s → covered %s", (spelling, covered, why) => {
    expect(dir.covers(rule, spelling)).toBe(covered);
    expect(dir.explain(rule, spelling)).toEqual(why);
  });

  it("without parent coverage, only the agent's own spellings", () => {
    const own = new AgentDirectory(LISTING, 0, false);
    expect([...own.coveredBy(rule)].sort()).toEqual(["helper", "weather-agent", "weatherAgent"]);
  });

  it("a rule naming only the id, or only a sub-agent key, covers the agent's other spellings", () => {
    expect([...dir.coveredBy(new Set(["weather-agent"]))].sort()).toEqual(["helper", "travel", "travel-agent", "trip-planner", "weather-agent", "weatherAgent"]);
    // `helper` may mean other-helper too: a rule about `helper` covers both agents (fail closed).
    expect(dir.covers(new Set(["helper"]), "other-helper")).toBe(true);
    expect(dir.covers(new Set(["helper"]), "other-agent")).toBe(true);
  });

  it("a name learnt later (a registry key from its agent card) is covered from then on", () => {
    const d = new AgentDirectory(LISTING, 0);
    const names = new Set(["weather-agent"]);
    expect(d.covers(names, "travelAgent")).toBe(false);
    expect(d.learn("travelAgent", "travel-agent")).toBe(true);
    expect(d.covers(names, "travelAgent")).toBe(true);
    expect(d.learn("travelAgent", "travel-agent")).toBe(false);
    expect(d.learn("x", "y", 1)).toBe(false);
  });

  it("a cycle of sub-agents ends", () => {
    const d = new AgentDirectory({ agents: [{ id: "a", subAgents: [["b", "b"]] }, { id: "b", subAgents: [["a", "a"]] }], aliases: [] }, 0);
    expect([...d.coveredBy(new Set(["a"]))].sort()).toEqual(["a", "b"]);
  });

  it("reads Mastra's GET /agents answer, and refuses one out of shape or over a bound (never a cut list)", () => {
    const answer = {
      "travel-agent": { id: "travel-agent", name: "Travel Agent", agents: { helper: { id: "weather-agent", name: "Weather Agent" } }, tools: {} },
      "weather-agent": { id: "weather-agent", name: "Weather Agent", agents: {} },
      "stored-bot": { id: "stored-bot", name: "Stored", source: "stored" },
    };
    expect(parseAgentList(answer)).toEqual([
      { id: "travel-agent", subAgents: [["helper", "weather-agent"]] },
      { id: "weather-agent", subAgents: [] },
      { id: "stored-bot", subAgents: [] },
    ]);
    const bounds = { maxAgents: 2, maxSubAgents: 1, maxNameLength: 12 };
    expect(parseAgentList(answer, bounds)).toMatch(/more than 2/);
    expect(parseAgentList({ a: { id: "a", agents: { x: { id: "x" }, y: { id: "y" } } } }, bounds)).toMatch(/more than 1/);
    expect(parseAgentList({ a: { id: "a-very-long-agent-id" } }, bounds)).toMatch(/no usable id/);
    expect(parseAgentList([])).toMatch(/not a JSON object/);
    expect(parseAgentList({ a: "x" })).toMatch(/not an object/);
    expect(parseAgentList({ a: { id: "a", agents: { helper: {} } } })).toMatch(/no usable key or id/);
    expect(agentCardId({ name: "weather-agent", url: "/a2a/weatherAgent" })).toBe("weather-agent");
    expect(agentCardId({ name: 3 })).toBeNull();
  });

  it("the directory's read routes, as an upstream checks them", () => {
    expect(isDirectoryRead("GET", "/api/agents")).toBe(true);
    expect(isDirectoryRead("GET", "/custom/agents")).toBe(true);
    expect(isDirectoryRead("GET", "/api/.well-known/weatherAgent/agent-card.json")).toBe(true);
    expect(isDirectoryRead("POST", "/api/agents")).toBe(false);
    expect(isDirectoryRead("GET", "/api/agents/weatherAgent")).toBe(false);
    expect(isDirectoryRead("GET", "/api/memory/threads")).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the gateway in workerd, against a Mastra stand-in behind a service binding
// ---------------------------------------------------------------------------------------------

type Mode = { kind: "serve" } | { kind: "status"; status: number } | { kind: "hang" } | { kind: "body"; body: string };

/**
 * Mastra as the gateway sees it: weatherAgent (id weather-agent), travelAgent (travel-agent, with
 * weatherAgent as sub-agent `helper`), otherAgent (other-agent), a stored agent; GET /agents and
 * agent cards answered as @mastra/server answers them (cards resolve like getAgentFromSystem).
 */
class FakeMastra {
  mode: Mode = { kind: "serve" };
  /** While set, the agent list is answered only once it resolves (a slow upstream). */
  gate: Promise<void> | null = null;
  /** Agent cards answered 500 (a card the upstream fails to serve). */
  failCards = new Set<string>();
  /** The directory's reads (GET /api/agents and cards), with their assertion header. */
  reads: { path: string; assertion: string | null }[] = [];
  /** Everything else: users' requests the gateway forwarded. */
  forwarded: string[] = [];
  readonly keys: Record<string, string> = { weatherAgent: "weather-agent", travelAgent: "travel-agent", otherAgent: "other-agent" };
  readonly subs: Record<string, Record<string, string>> = { "travel-agent": { helper: "weather-agent" } };
  readonly stored = ["stored-bot"];

  get fetcher(): Fetcher {
    return { fetch: (input: RequestInfo, init?: RequestInit) => this.fetch(new Request(input, init)) } as unknown as Fetcher;
  }

  resolve(name: string): string | null {
    const ids = [...Object.values(this.keys), ...this.stored];
    if (ids.includes(name)) return name;
    if (this.keys[name]) return this.keys[name]!;
    for (const subs of Object.values(this.subs)) if (subs[name]) return subs[name]!;
    return null;
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const card = /^\/api\/\.well-known\/([^/]+)\/agent-card\.json$/.exec(url.pathname);
    const directoryRead = request.method === "GET" && (url.pathname === "/api/agents" || card) && !request.headers.has("authorization");
    if (!directoryRead) {
      this.forwarded.push(`${request.method} ${url.pathname}`);
      return Response.json({ ok: true });
    }
    this.reads.push({ path: url.pathname + url.search, assertion: request.headers.get(ASSERTION_HEADER) });
    const mode = this.mode;
    if (mode.kind === "status") return new Response("no", { status: mode.status });
    if (mode.kind === "body") return new Response(mode.body, { headers: { "content-type": "application/json" } });
    if (mode.kind === "hang") return new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
    if (!card && this.gate) await this.gate;
    if (card && this.failCards.has(decodeURIComponent(card[1]!))) return new Response("boom", { status: 500 });
    if (card) {
      const id = this.resolve(decodeURIComponent(card[1]!));
      return id ? Response.json({ name: id, url: `/a2a/${card[1]}` }) : Response.json({ error: "not found" }, { status: 404 });
    }
    const list: Record<string, unknown> = {};
    for (const id of Object.values(this.keys)) {
      list[id] = { id, name: id, agents: Object.fromEntries(Object.entries(this.subs[id] ?? {}).map(([k, v]) => [k, { id: v, name: v }])), tools: {} };
    }
    for (const id of this.stored) list[id] = { id, name: id, source: "stored" };
    return Response.json(list);
  }
}

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

const unique = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

function setup(extra: GatewayEnv = {}, options: { kv?: KVNamespace | null; clock?: Clock; mastra?: FakeMastra } = {}) {
  const clock = options.clock ?? new Clock();
  const origin = new FakeOrigin(key);
  const mastra = options.mastra ?? new FakeMastra();
  const env = uniqueJwksEnv({ MASTRA: mastra.fetcher, AUTH_RULES: JSON.stringify([ADMINS_ONLY]), SPEND_COUNTER: (workerEnv as unknown as GatewayEnv).SPEND_COUNTER, ...extra });
  const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: options.kv === undefined ? null : options.kv });
  const token = (role: string | null, sub = unique("user")) => mint(key, { now: clock.seconds, ttlSeconds: 3600, sub, ...(role ? { org: { id: "org_acme", role } } : {}) });
  const send = (method: string, path: string, bearer: string, payload?: unknown) =>
    h.request(path, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(payload !== undefined ? { "content-type": "application/json" } : {}) },
      ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
    });
  const metrics = async () => (await h.request("/metrics", { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })).text();
  const health = async () => body(await h.health());
  return { ...h, clock, mastra, token, send, metrics, health };
}

const ask = { messages: [{ role: "user", content: "Weather in Oslo?" }] };
const a2aSend = { jsonrpc: "2.0", id: 1, method: "message/send", params: {} };

/** weatherAgent under every name only the upstream knows, and the agents that can run it. */
const LEARNT_SPELLINGS: [string, string, unknown, string][] = [
  ["POST", "/api/agents/helper/generate", ask, "alias"],
  ["POST", "/api/agents/helper/stream", ask, "alias"],
  ["POST", "/api/agents/helper/stream/vnext", ask, "alias"],
  ["POST", "/api/a2a/helper", a2aSend, "alias"],
  ["GET", "/api/.well-known/helper/agent-card.json", undefined, "alias"],
  ["POST", "/api/v1/responses", { agent_id: "helper", input: "hi" }, "alias"],
  // The parent can run weatherAgent as its sub-agent: by its id, and by its registry key (asked of its card).
  ["POST", "/api/agents/travel-agent/generate", ask, "delegates:helper"],
  ["POST", "/api/agents/travelAgent/network", ask, "delegates:helper"],
  ["POST", "/api/a2a/travelAgent", a2aSend, "delegates:helper"],
];

describe("a rule about an agent holds on the spellings only Mastra knows", () => {
  it("refuses a member on every learnt spelling before the upstream is reached, saying which agent the rule is about", async () => {
    const s = setup();
    const member = await s.token("member");
    for (const [method, path, payload, via] of LEARNT_SPELLINGS) {
      const response = await s.send(method, path, member, payload);
      expect([method, path, response.status, await body(response)]).toEqual([method, path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only", agent: "weather-agent" }]);
      expect(s.logger.events("auth.forbidden").at(-1)).toMatchObject({ rule: "admins-only", agent: "weather-agent", agentVia: via, path });
    }
    expect(s.mastra.forwarded).toEqual([]);
    // One agent list, then one card per name the listing lacked: the rule's `weatherAgent` at load, `travelAgent` when first seen.
    expect(s.mastra.reads.map((r) => r.path)).toEqual(["/api/agents?partial=true", "/api/.well-known/weatherAgent/agent-card.json", "/api/.well-known/travelAgent/agent-card.json"]);
  });

  it("serves an admin on them, and a member on the other agents", async () => {
    const s = setup();
    const admin = await s.token("admin");
    const member = await s.token("member");
    for (const [method, path, payload] of LEARNT_SPELLINGS) expect([path, (await s.send(method, path, admin, payload)).status]).toEqual([path, 200]);
    for (const path of ["/api/agents/otherAgent/generate", "/api/agents/other-agent/stream", "/api/a2a/stored-bot", "/api/agents/never-heard-of/generate"]) {
      expect([path, (await s.send("POST", path, member, ask)).status]).toEqual([path, 200]);
    }
    expect(s.mastra.forwarded).toHaveLength(LEARNT_SPELLINGS.length + 4);
  });

  it("a name whose card cannot be read may be any agent: every agent rule holds on it until it can be asked (fail closed)", async () => {
    const s = setup();
    s.mastra.failCards.add("travelAgent");
    s.mastra.failCards.add("otherAgent");
    const member = await s.token("member");
    for (const path of ["/api/agents/travelAgent/generate", "/api/agents/otherAgent/generate"]) {
      const response = await s.send("POST", path, member, ask);
      expect([path, response.status, await body(response)]).toEqual([path, 403, { error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" }]);
    }
    expect(s.logger.events("agents.lookup_failed")).toHaveLength(2);
    expect((await s.send("POST", "/api/agents/otherAgent/generate", await s.token("admin"), ask)).status).toBe(200);
    // Not asked again within the cooldown; asked once it has passed, and then decided by what the card says.
    const cards = s.mastra.reads.length;
    expect((await s.send("POST", "/api/agents/otherAgent/stream", member, ask)).status).toBe(403);
    expect(s.mastra.reads.length).toBe(cards);
    s.mastra.failCards.clear();
    s.clock.advance(31);
    expect((await s.send("POST", "/api/agents/otherAgent/generate", await s.token("member"), ask)).status).toBe(200);
    expect((await s.send("POST", "/api/agents/travelAgent/generate", await s.token("member"), ask)).status).toBe(403);
  });

  it("AGENT_RULES_COVER_PARENTS=false: the parent is served, the sub-agent key still refused", async () => {
    const s = setup({ AGENT_RULES_COVER_PARENTS: "false" });
    const member = await s.token("member");
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(403);
    expect((await s.send("POST", "/api/agents/travel-agent/generate", member, ask)).status).toBe(200);
    expect((await s.send("POST", "/api/agents/travelAgent/generate", member, ask)).status).toBe(200);
  });

  it("a spend-guard entry naming weatherAgent counts its sub-agent spelling too", async () => {
    const s = setup({ AUTH_RULES: "", QUOTAS: JSON.stringify([{ id: "weather", key: "user", limit: 2, agents: ["weatherAgent"] }]) });
    const member = await s.token("member");
    expect((await s.send("POST", "/api/agents/weatherAgent/generate", member, ask)).status).toBe(200);
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(200);
    const third = await s.send("POST", "/api/a2a/helper", member, a2aSend);
    expect(third.status).toBe(429);
    expect((await s.send("POST", "/api/agents/otherAgent/generate", member, ask)).status).toBe(200);
  });

  it("AGENT_DIRECTORY=off: nothing is fetched and only the names the rule lists match", async () => {
    const s = setup({ AGENT_DIRECTORY: "off" });
    const member = await s.token("member");
    expect((await s.send("POST", "/api/agents/weatherAgent/generate", member, ask)).status).toBe(403);
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(200);
    expect(s.mastra.reads).toEqual([]);
    expect(s.gateway.agentDirectory).toBeNull();
  });

  it("no rule or limit names an agent: no directory at all", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([{ resources: ["memory"], require: { orgRoles: ["admin"] } }]) });
    expect(s.gateway.agentDirectory).toBeNull();
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(200);
    expect(s.mastra.reads).toEqual([]);
  });

  it.each([
    ["AGENT_DIRECTORY", "maybe", /must be on or off/],
    ["AGENT_DIRECTORY_TTL_S", "5", /between 10 and 86400/],
    ["AGENT_DIRECTORY_TIMEOUT_MS", "abc", /non-negative integer/],
    ["AGENT_RULES_COVER_PARENTS", "sometimes", /true or false/],
  ])("%s=%s is misconfigured", async (variable, value, detail) => {
    const s = setup({ [variable]: value });
    await expectMisconfigured(await s.send("GET", "/api/agents", await s.token("member")), s.logger, variable, detail);
  });
});

describe("cached like the JWKS, never on the hot path", () => {
  it("fresh in memory: a request naming an agent costs no KV read and no fetch", async () => {
    const { kv, counts } = countingKv();
    const s = setup({ MASTRA_URL: `https://${unique("mastra")}.internal` }, { kv });
    const member = await s.token("member");
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(403);
    // otherAgent is a registry key the list does not show: asked of its card once, then known.
    expect((await s.send("POST", "/api/agents/otherAgent/generate", member, ask)).status).toBe(200);
    const reads = s.mastra.reads.length;
    const kvReads = counts.reads;
    const directory = s.gateway.agentDirectory!;
    const before = { ...directory.counters };
    for (let i = 0; i < 25; i++) {
      expect((await s.send("POST", i % 2 ? "/api/agents/helper/stream" : "/api/a2a/travel-agent", member, ask)).status).toBe(403);
      expect((await s.send("POST", "/api/agents/otherAgent/generate", member, ask)).status).toBe(200);
    }
    expect(s.mastra.reads.length).toBe(reads);
    expect(counts.reads).toBe(kvReads);
    expect(directory.counters).toEqual(before);
  });

  it("a cold isolate under a burst loads the list once: the others wait for that load, not their own", async () => {
    const s = setup();
    let release!: () => void;
    s.mastra.gate = new Promise<void>((resolve) => (release = resolve));
    const member = await s.token("member");
    const burst = Array.from({ length: 12 }, (_, i) => s.send("POST", i % 2 ? "/api/agents/helper/generate" : "/api/a2a/helper", member, ask));
    // Released once the first read has arrived (an event, not a sleep).
    await vi.waitFor(() => expect(s.mastra.reads.length).toBe(1));
    release();
    const statuses = await Promise.all(burst.map(async (r) => (await r).status));
    expect(statuses).toEqual(Array(12).fill(403));
    expect(s.mastra.reads.filter((r) => r.path === "/api/agents?partial=true")).toHaveLength(1);
  });

  it("a request naming no agent never waits for the directory, even on a cold isolate", async () => {
    const s = setup();
    s.mastra.mode = { kind: "hang" };
    const member = await s.token("member");
    expect((await s.send("GET", "/api/workflows", member)).status).toBe(200);
    expect((await s.send("GET", "/api/memory/threads", member)).status).toBe(200);
    expect(s.mastra.reads).toEqual([]);
  });

  it("a new isolate takes another's copy from KV (no upstream read); past the TTL one background refresh", async () => {
    const { kv, counts } = countingKv();
    const clock = new Clock();
    const mastra = new FakeMastra();
    // Its own upstream name: the KV key is the upstream's, so no other test's copy is there.
    const env = { AGENT_DIRECTORY_TTL_S: "60", MASTRA_URL: `https://${unique("mastra")}.internal` };
    const first = setup(env, { kv, clock, mastra });
    expect((await first.send("POST", "/api/agents/helper/generate", await first.token("member"), ask)).status).toBe(403);
    expect(mastra.reads).toHaveLength(2);
    expect(counts.writes).toBeGreaterThanOrEqual(1);
    // Its own key prefix, naming the upstream: never confused with a JWKS entry or another upstream's directory.
    const stored = await kv.list({ prefix: `agents:v1:${env.MASTRA_URL}/api:` });
    expect(stored.keys).toHaveLength(1);

    // Same KV namespace and upstream, another isolate: the same key, so the copy is adopted.
    const second = setup(env, { kv, clock, mastra });
    expect((await second.send("POST", "/api/agents/helper/generate", await second.token("member"), ask)).status).toBe(403);
    expect(mastra.reads).toHaveLength(2);
    expect(second.gateway.agentDirectory!.status()).toMatchObject({ state: "fresh", loadedFrom: "kv", agents: 4 });

    clock.advance(61);
    mastra.subs["other-agent"] = { weatherHelper: "weather-agent" };
    mastra.keys.newAgent = "other-agent";
    // Stale: this request is decided with what is held, and one refresh runs in waitUntil.
    expect((await second.send("POST", "/api/agents/weatherHelper/generate", await second.token("member"), ask)).status).toBe(403);
    const afterRefresh = mastra.reads.filter((r) => r.path === "/api/agents?partial=true").length;
    expect(afterRefresh).toBe(2);
    expect(second.gateway.agentDirectory!.status()).toMatchObject({ state: "fresh", loadedFrom: "upstream" });
    // Learnt by the refresh: other-agent now delegates to weatherAgent.
    expect(await body(await second.send("POST", "/api/agents/other-agent/generate", await second.token("member"), ask))).toMatchObject({ agent: "weather-agent" });
    expect(mastra.reads.filter((r) => r.path === "/api/agents?partial=true")).toHaveLength(2);
  });
});

describe("without an agent list, the gateway falls back to what the rules name and says so", () => {
  it.each([
    ["a 500", { kind: "status", status: 500 } as Mode, "upstream-error"],
    ["a 401 (the upstream does not accept the gateway's credential)", { kind: "status", status: 401 } as Mode, "refused"],
    ["a body that is not a list", { kind: "body", body: '["not", "a", "list"]' } as Mode, "invalid"],
    ["no answer in time", { kind: "hang" } as Mode, "timeout"],
  ])("%s", async (_label, mode, reason) => {
    const s = setup({ AGENT_DIRECTORY_TIMEOUT_MS: "200" });
    s.mastra.mode = mode;
    const member = await s.token("member");
    // The rule's own names still hold; the learnt spelling passes (the fallback), counted and logged.
    expect((await s.send("POST", "/api/agents/weatherAgent/generate", member, ask)).status).toBe(403);
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(200);
    const logged = s.logger.events("agents.directory_unavailable");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "warn", reason, fallback: "rule-names-only" });
    // The cooldown: the next requests are decided at once, without asking again.
    const reads = s.mastra.reads.length;
    expect((await s.send("POST", "/api/agents/helper/stream", member, ask)).status).toBe(200);
    expect(s.mastra.reads.length).toBe(reads);
    expect(await s.metrics()).toMatch(/jwt_authn_agent_directory_fallback_total 3\n/);
    expect(await s.metrics()).toMatch(/jwt_authn_agent_directory_fetch_failed_total 1\n/);
    const health = await s.health();
    expect(health).toMatchObject({ status: "degraded", agents: { state: "empty", failing: true, reason, agents: 0 } });

    // Once the upstream answers again (after the cooldown), the learnt spellings hold.
    s.mastra.mode = { kind: "serve" };
    s.clock.advance(31);
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(403);
    expect(await s.health()).toMatchObject({ status: "ok", agents: { state: "fresh", failing: false, reason: null } });
  });

  it("a list over the bounds is refused whole", async () => {
    const s = setup();
    const huge: Record<string, unknown> = {};
    for (let i = 0; i < 1001; i++) huge[`agent-${i}`] = { id: `agent-${i}` };
    s.mastra.mode = { kind: "body", body: JSON.stringify(huge) };
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(200);
    expect(s.logger.events("agents.directory_unavailable")[0]).toMatchObject({ reason: "too-large" });
  });

  it("a stale directory is still used while the upstream fails", async () => {
    const s = setup({ AGENT_DIRECTORY_TTL_S: "60" });
    const member = await s.token("member");
    expect((await s.send("POST", "/api/agents/helper/generate", member, ask)).status).toBe(403);
    s.mastra.mode = { kind: "status", status: 503 };
    s.clock.advance(120);
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(403);
    expect(s.logger.events("agents.directory_unavailable")[0]).toMatchObject({ reason: "upstream-error", fallback: "stale-directory" });
    expect(await s.health()).toMatchObject({ status: "degraded", agents: { state: "stale", failing: true, reason: "upstream-error" } });
  });

  it("names the rules list that the upstream does not know are reported", async () => {
    const s = setup({ AUTH_RULES: JSON.stringify([{ id: "typo", agents: ["weatherAgnet"], require: { orgRoles: ["admin"] } }]) });
    expect((await s.send("POST", "/api/agents/otherAgent/generate", await s.token("member"), ask)).status).toBe(200);
    expect(s.logger.events("agents.names_unresolved")[0]).toMatchObject({ names: ["weatherAgnet"] });
    expect(await s.health()).toMatchObject({ agents: { unresolved: ["weatherAgnet"] } });
  });
});

describe("fetched with the gateway's own credential", () => {
  it("with GATEWAY_ASSERTION_SECRET the reads carry a service assertion bound to each one, which MastraAuthGateway accepts only there", async () => {
    const s = setup({ GATEWAY_ASSERTION_SECRET: SECRET });
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(403);
    expect(s.gateway.agentDirectory!.status().credential).toBe("assertion");
    const keys = [new AssertionKey(SECRET)];
    for (const read of s.mastra.reads) {
      const claims = await verifyAssertion(read.assertion!, keys, { audience: UPSTREAM, request: { method: "GET", url: `${UPSTREAM}${read.path}` }, now: s.clock.now() });
      expect(claims).toMatchObject({ sub: "gateway:agent-directory", svc: DIRECTORY_SERVICE, htm: "GET", htu: read.path, aud: UPSTREAM });
    }

    const auth = new MastraAuthGateway({ secret: SECRET, audience: UPSTREAM, organizationId: "org_acme", authorizeUser: () => false });
    const at = (path: string, method = "GET") => new Request(`${UPSTREAM}${path}`, { method });
    const service = (path: string, method = "GET") => mintServiceAssertion(new AssertionKey(SECRET), DIRECTORY_SERVICE, UPSTREAM, { method, url: `${UPSTREAM}${path}` });
    for (const path of ["/api/agents?partial=true", "/api/.well-known/weatherAgent/agent-card.json"]) {
      const request = at(path);
      request.headers.set(ASSERTION_HEADER, await service(path));
      const user = await auth.authenticateToken("", request);
      expect(user).toMatchObject({ sub: "gateway:agent-directory", svc: DIRECTORY_SERVICE });
      // Neither the organization rule nor the app's authorizeUser is about the gateway's own read.
      expect(await auth.authorizeUser(user!, request)).toBe(true);
    }
    for (const [method, path] of [["POST", "/api/agents/weatherAgent/generate"], ["GET", "/api/memory/threads"], ["GET", "/api/agents/weatherAgent"]] as const) {
      const request = at(path, method);
      request.headers.set(ASSERTION_HEADER, await service(path, method));
      expect([path, await auth.authenticateToken("", request)]).toEqual([path, null]);
    }
    // A user's assertion never carries svc: the user's own rules still apply on the list route.
    const userRequest = at("/api/agents");
    userRequest.headers.set(ASSERTION_HEADER, await mintAssertion(new AssertionKey(SECRET), toIdentity({ sub: "user_1", iss: "https://clerk.test.example", iat: 0, nbf: 0, exp: 0 }), UPSTREAM, { method: "GET", url: `${UPSTREAM}/api/agents` }));
    const user = await auth.authenticateToken("", userRequest);
    expect(user?.svc).toBeUndefined();
    expect(await auth.authorizeUser(user!, userRequest)).toBe(false);
  });

  it("with GATEWAY_ASSERTION_KEY (ES256) the upstream verifies the directory's reads with the published public key only", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const s = setup({ GATEWAY_ASSERTION_KEY: JSON.stringify({ ...(await exportJWK(privateKey)), kid: "dir-1" }) });
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(403);
    const published = (await (await s.request("/.well-known/jwks.json")).json()) as { keys: object[] };
    const auth = new MastraAuthGateway({ publicKeys: published, audience: UPSTREAM, now: s.clock.now });
    expect(s.mastra.reads.length).toBeGreaterThan(0);
    for (const read of s.mastra.reads) {
      expect(decodeProtectedHeader(read.assertion!)).toMatchObject({ alg: "ES256", kid: "dir-1" });
      const request = new Request(`${UPSTREAM}${read.path}`, { headers: { [ASSERTION_HEADER]: read.assertion! } });
      expect(await auth.authenticateToken("", request)).toMatchObject({ sub: "gateway:agent-directory", svc: DIRECTORY_SERVICE });
    }
  });

  it("without one, the reads carry no credential at all (never a user's)", async () => {
    const s = setup();
    expect((await s.send("POST", "/api/agents/helper/generate", await s.token("member"), ask)).status).toBe(403);
    expect(s.mastra.reads.every((r) => r.assertion === null)).toBe(true);
    expect(s.gateway.agentDirectory!.status().credential).toBe("none");
  });
});
