// Every documented topology keeps users apart, proven with real Mastra memory: the gateway (bundled
// by wrangler, in workerd) in front of the real Mastra demo server whose weatherAgent has a real
// @mastra/memory Memory. Each topology is one stack, all started once for the file:
//
//   clerk:     FORWARD_AUTHORIZATION=true (the default) → Mastra with MastraAuthClerk, which
//              verifies the forwarded Clerk token itself;
//   assertion: FORWARD_AUTHORIZATION=false + GATEWAY_ASSERTION_SECRET → Mastra with
//              MastraAuthGateway (the service-binding / private-upstream setup), which trusts only
//              the gateway's signed, single-use, request-bound assertion;
//   clerk-org: the first again with `resourceScope: "org"` (memory per active organization).
//
// Alice writes a thread; Bob, another signed-in user, tries every memory route Mastra 1.68 has
// (@mastra/server's handlers/memory.js; the paths and bodies are @mastra/client-js's): listing by
// her resource id, her thread id in the path (read, messages, update, delete, clone, working
// memory, transfer), her message ids, and her thread or resource named in a generate body. Mastra
// scopes each to the resource id the provider maps the user to (`mapUserToResourceId`, the user
// id), and each refusal below is Mastra's own 403 (the request reached it), not the gateway's.
// Not covered: /memory/search (needs a vector store; without one Mastra answers 500 to anyone),
// and /memory/observational-memory[/buffer-status], which read the client's `resourceId` as given
// (handlers/memory.js, `const effectiveResourceId = resourceId`): they need an agent with
// observational memory, which this demo has not — see docs/library.md.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../../scripts/dev-issuer.mjs";
import { startMastraServer } from "../../../scripts/mastra-demo/server.mjs";
import { MastraAuthClerk, MastraAuthGateway } from "../../../src/lib.js";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import type { Issuer, Upstream } from "./support/stack.js";

const AGENT = "weatherAgent";
const SECRET = "isolation-test-assertion-secret-0123456789abcdef";
/** The audience both sides are configured with (never the request's Host). */
const AUDIENCE = "https://mastra.internal";

interface Topology {
  name: "clerk" | "assertion" | "clerk-org";
  gateway: RunningGateway;
  upstream: Upstream;
}

let issuer: Issuer;
let keyDir: string;
const topologies: Topology[] = [];
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), "mea-isolation-key-"));
  closers.push(() => rm(keyDir, { recursive: true, force: true }));
  issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "issuer-key.json") });
  closers.push(() => issuer.close());
  const clerk = { CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl, LOG_LEVEL: "warn" };
  // `env: {}`: nothing from this process's environment leaks into the providers' settings.
  const [clerkUpstream, assertionUpstream, orgUpstream] = await Promise.all([
    startMastraServer({ port: 0, memory: true, auth: new MastraAuthClerk({ jwksUri: issuer.jwksUrl, issuer: issuer.issuer, env: {} }) }),
    startMastraServer({ port: 0, memory: true, auth: new MastraAuthGateway({ secret: SECRET, audience: AUDIENCE, env: {} }) }),
    // The first topology again, with memory shared per active organization.
    startMastraServer({ port: 0, memory: true, auth: new MastraAuthClerk({ jwksUri: issuer.jwksUrl, issuer: issuer.issuer, env: {}, resourceScope: "org" }) }),
  ]);
  closers.push(() => clerkUpstream.close(), () => assertionUpstream.close(), () => orgUpstream.close());
  const [clerkGateway, assertionGateway, orgGateway] = await Promise.all([
    startGateway({ vars: { ...clerk, MASTRA_URL: clerkUpstream.url, FORWARD_AUTHORIZATION: "true" } }),
    startGateway({
      vars: { ...clerk, MASTRA_URL: assertionUpstream.url, FORWARD_AUTHORIZATION: "false", GATEWAY_ASSERTION_SECRET: SECRET, GATEWAY_ASSERTION_AUDIENCE: AUDIENCE },
    }),
    startGateway({ vars: { ...clerk, MASTRA_URL: orgUpstream.url } }),
  ]);
  closers.push(() => clerkGateway.close(), () => assertionGateway.close(), () => orgGateway.close());
  topologies.push(
    { name: "clerk", gateway: clerkGateway, upstream: clerkUpstream },
    { name: "assertion", gateway: assertionGateway, upstream: assertionUpstream },
    { name: "clerk-org", gateway: orgGateway, upstream: orgUpstream },
  );
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
}, 20_000);

const ALICE = { sub: "user_alice", email: "alice@example.test", ttlSeconds: 600 } as const;
const BOB = { sub: "user_bob", email: "bob@example.test", ttlSeconds: 600 } as const;

interface Thread {
  id: string;
  resourceId: string;
  title?: string;
}
interface Message {
  id: string;
  threadId: string;
  resourceId?: string;
  content: unknown;
}

type Who = { sub: string; email?: string; ttlSeconds: number; org?: { id: string; slug?: string; role?: string } };

/** One user's view of one topology: requests through the gateway with a fresh token each. */
function as(who: Who, t: () => Topology) {
  const call = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await issuer.mint(who)}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const mark = t().upstream.requests.length;
    const response = await fetch(`${t().gateway.url}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    // Whether Mastra itself got the request (and so made the decision), not the gateway.
    const reached = t().upstream.requests.slice(mark).some((r) => r.method === method && r.path === `/api${path.split("?")[0]}`);
    return { status: response.status, json, text, reached };
  };
  return {
    call,
    generate: (message: string, memory: { thread: string; resource?: string }) => call("POST", `/agents/${AGENT}/generate`, { messages: message, memory }),
    threads: async (resourceId: string) => {
      const r = await call("GET", `/memory/threads?resourceId=${resourceId}&agentId=${AGENT}`);
      return { ...r, threads: ((r.json as { threads?: Thread[] })?.threads ?? []) as Thread[] };
    },
    messages: async (threadId: string) => {
      const r = await call("GET", `/memory/threads/${threadId}/messages?agentId=${AGENT}`);
      return { ...r, messages: ((r.json as { messages?: Message[] })?.messages ?? []) as Message[] };
    },
  };
}

describe.each([{ name: "clerk" as const }, { name: "assertion" as const }])("topology $name", ({ name }) => {
  const t = () => topologies.find((x) => x.name === name)!;
  const alice = as(ALICE, t);
  const bob = as(BOB, t);
  const THREAD = `alice-thread-${name}`;
  let aliceMessageIds: string[] = [];

  /** What Alice's thread holds, read by Alice: the proof that Bob changed nothing. */
  const aliceSees = async () => {
    const thread = await alice.call("GET", `/memory/threads/${THREAD}?agentId=${AGENT}`);
    const { messages } = await alice.messages(THREAD);
    return { status: thread.status, thread: thread.json as Thread, texts: JSON.stringify(messages.map((m) => m.content)), ids: messages.map((m) => m.id).sort() };
  };

  beforeAll(async () => {
    // Alice even names Bob's resource in the body: Mastra uses the authenticated one.
    const said = await alice.generate("What is the weather in Rome?", { thread: THREAD, resource: "user_bob" });
    expect(said.status, said.text).toBe(200);
    const { messages } = await alice.messages(THREAD);
    aliceMessageIds = messages.map((m) => m.id);
    expect(aliceMessageIds.length).toBeGreaterThan(0);
  }, 20_000);

  it("Alice's thread is hers (resource id = her user id), and she can list and read it", { timeout: 10_000 }, async () => {
    const listed = await alice.threads("user_alice");
    expect(listed.status).toBe(200);
    expect(listed.threads.map((x) => [x.id, x.resourceId])).toEqual([[THREAD, "user_alice"]]);
    const seen = await aliceSees();
    expect(seen.status).toBe(200);
    expect(seen.thread).toMatchObject({ id: THREAD, resourceId: "user_alice" });
    expect(seen.texts).toContain("What is the weather in Rome?");
  });

  it("/api/auth/me through the gateway shows the signed-in user, not null", { timeout: 10_000 }, async () => {
    const me = await alice.call("GET", "/auth/me");
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ id: "user_alice" });
    // The Clerk token carries the email, the assertion does not (only ids and org claims travel).
    if (name === "clerk") expect(me.json).toMatchObject({ email: "alice@example.test" });
    expect((await bob.call("GET", "/auth/me")).json).toMatchObject({ id: "user_bob" });
  });

  it("Bob cannot list Alice's threads by naming her resource id: he gets his own (none)", { timeout: 10_000 }, async () => {
    const listed = await bob.threads("user_alice");
    expect([listed.status, listed.reached]).toEqual([200, true]);
    expect(listed.threads).toEqual([]);
    expect(listed.text).not.toContain(THREAD);
    // Nor by leaving the resource id out.
    const all = await bob.call("GET", `/memory/threads?agentId=${AGENT}`);
    expect(all.text).not.toContain(THREAD);
  });

  it("Bob cannot read Alice's thread, its messages or its working memory by its id", { timeout: 10_000 }, async () => {
    for (const path of [`/memory/threads/${THREAD}?agentId=${AGENT}`, `/memory/threads/${THREAD}/messages?agentId=${AGENT}`, `/memory/threads/${THREAD}/messages?agentId=${AGENT}&resourceId=user_alice`, `/memory/threads/${THREAD}/working-memory?agentId=${AGENT}&resourceId=user_alice`]) {
      const r = await bob.call("GET", path);
      expect([r.status, r.reached], `${path}: ${r.text}`).toEqual([403, true]);
      expect(r.text).not.toContain("Rome");
    }
  });

  it("Bob cannot update, delete or clone Alice's thread, nor write its working memory", { timeout: 10_000 }, async () => {
    const before = await aliceSees();
    const attempts = [
      ["PATCH", `/memory/threads/${THREAD}?agentId=${AGENT}`, { title: "owned by bob", resourceId: "user_bob" }],
      ["PATCH", `/memory/threads/${THREAD}?agentId=${AGENT}`, { title: "owned by bob", resourceId: "user_alice" }],
      ["POST", `/memory/threads/${THREAD}/clone?agentId=${AGENT}`, { newThreadId: `bob-clone-${name}` }],
      ["POST", `/memory/threads/${THREAD}/clone?agentId=${AGENT}`, { newThreadId: `bob-clone2-${name}`, resourceId: "user_alice" }],
      ["POST", `/memory/threads/${THREAD}/working-memory?agentId=${AGENT}`, { workingMemory: "bob was here", resourceId: "user_alice" }],
      ["POST", `/memory/threads/${THREAD}/transfer?agentId=${AGENT}`, { resourceId: "user_bob" }],
      ["DELETE", `/memory/threads/${THREAD}?agentId=${AGENT}`, undefined],
    ] as const;
    for (const [method, path, body] of attempts) {
      const r = await bob.call(method, path, body);
      expect([r.status, r.reached], `${method} ${path}: ${r.text}`).toEqual([403, true]);
      expect(r.text).not.toContain("Rome");
    }
    // Nothing moved: Alice's thread is as it was, and no clone exists anywhere Bob can see.
    expect(await aliceSees()).toEqual(before);
    expect((await bob.threads("user_bob")).text).not.toContain("bob-clone");
    expect((await alice.threads("user_alice")).threads.map((x) => x.id)).toEqual([THREAD]);
  });

  it("Bob cannot write messages into Alice's thread, nor delete hers", { timeout: 10_000 }, async () => {
    const before = await aliceSees();
    const message = (resourceId: string) => ({
      id: crypto.randomUUID(),
      threadId: THREAD,
      resourceId,
      role: "user",
      createdAt: new Date().toISOString(),
      content: { format: 2, parts: [{ type: "text", text: "bob wrote this" }] },
    });
    for (const resourceId of ["user_alice", "user_bob"]) {
      const r = await bob.call("POST", `/memory/save-messages?agentId=${AGENT}`, { messages: [message(resourceId)] });
      expect([r.status, r.reached], `save-messages as ${resourceId}: ${r.text}`).toEqual([403, true]);
    }
    const deleted = await bob.call("POST", `/memory/messages/delete?agentId=${AGENT}`, { messageIds: aliceMessageIds });
    expect([deleted.status, deleted.reached], `messages/delete: ${deleted.text}`).toEqual([403, true]);
    const after = await aliceSees();
    expect(after).toEqual(before);
    expect(after.texts).not.toContain("bob wrote this");
  });

  it("Bob cannot reach Alice's thread or resource through memory.thread / memory.resource in a generate body", { timeout: 15_000 }, async () => {
    const before = await aliceSees();
    const intoHerThread = await bob.generate("What is the weather in Oslo?", { thread: THREAD, resource: "user_alice" });
    expect([intoHerThread.status, intoHerThread.reached], intoHerThread.text).toEqual([403, true]);
    expect(intoHerThread.text).not.toContain("Rome");
    const herThreadHisResource = await bob.generate("What is the weather in Oslo?", { thread: THREAD });
    expect([herThreadHisResource.status, herThreadHisResource.reached], herThreadHisResource.text).toEqual([403, true]);
    // A new thread naming her resource is created under his.
    const newThread = `bob-thread-${name}`;
    const his = await bob.generate("What is the weather in Lima?", { thread: newThread, resource: "user_alice" });
    expect(his.status, his.text).toBe(200);
    expect((await bob.threads("user_bob")).threads.map((x) => [x.id, x.resourceId])).toEqual([[newThread, "user_bob"]]);
    expect((await alice.threads("user_alice")).threads.map((x) => x.id)).toEqual([THREAD]);
    expect(await aliceSees()).toEqual(before);
  });

  it("Alice can write, clone and delete her own thread", { timeout: 15_000 }, async () => {
    const renamed = await alice.call("PATCH", `/memory/threads/${THREAD}?agentId=${AGENT}`, { title: "Alice's trip", resourceId: "user_alice" });
    expect(renamed.status, renamed.text).toBe(200);
    const cloned = await alice.call("POST", `/memory/threads/${THREAD}/clone?agentId=${AGENT}`, { newThreadId: `alice-clone-${name}` });
    expect(cloned.status, cloned.text).toBe(200);
    expect((await alice.messages(`alice-clone-${name}`)).text).toContain("What is the weather in Rome?");
    const said = await alice.generate("What is the weather in Paris?", { thread: THREAD });
    expect(said.status, said.text).toBe(200);
    expect((await alice.messages(THREAD)).text).toContain("Paris");
    const removed = await alice.call("DELETE", `/memory/threads/${THREAD}?agentId=${AGENT}`);
    expect(removed.status, removed.text).toBe(200);
    expect((await alice.threads("user_alice")).threads.map((x) => x.id)).toEqual([`alice-clone-${name}`]);
  });
});

describe('resourceScope: "org" (MastraAuthClerk behind FORWARD_AUTHORIZATION): memory shared per active organization', () => {
  const t = () => topologies.find((x) => x.name === "clerk-org")!;
  const acme = { id: "org_acme", slug: "acme", role: "member" };
  const alice = as({ ...ALICE, org: acme }, t);
  const carol = as({ sub: "user_carol", ttlSeconds: 600, org: acme }, t);
  const bob = as({ ...BOB, org: { id: "org_other", slug: "other", role: "admin" } }, t);
  const dave = as({ sub: "user_dave", ttlSeconds: 600 }, t);
  const THREAD = "acme-thread";

  it("a member's thread belongs to the organization: another member reads it, another organization cannot, no organization is refused", { timeout: 15_000 }, async () => {
    const said = await alice.generate("What is the weather in Rome?", { thread: THREAD, resource: "user_alice" });
    expect(said.status, said.text).toBe(200);
    const listed = await carol.threads("org_acme");
    expect(listed.threads.map((x) => [x.id, x.resourceId])).toEqual([[THREAD, "org_acme"]]);
    expect((await carol.messages(THREAD)).text).toContain("What is the weather in Rome?");

    expect((await bob.threads("org_acme")).threads).toEqual([]);
    const bobReads = await bob.messages(THREAD);
    expect([bobReads.status, bobReads.reached]).toEqual([403, true]);
    expect(bobReads.text).not.toContain("Rome");

    // Mastra's 403 from authorizeUser: no active organization, no memory at all.
    for (const r of [await dave.threads("org_acme"), await dave.messages(THREAD), await dave.generate("What is the weather in Oslo?", { thread: "dave-thread" })]) {
      expect([r.status, r.reached, r.json]).toEqual([403, true, { error: "Access denied" }]);
    }
    expect((await carol.threads("org_acme")).threads.map((x) => x.id)).toEqual([THREAD]);
  });
});

describe("only the verified credential travels, end to end (issue #12 §1)", () => {
  const t = () => topologies.find((x) => x.name === "clerk")!;

  /** What Mastra (MastraAuthClerk) thinks of a request, beside what the gateway verified and sent. */
  async function seenBy(headers: Record<string, string>, query = "") {
    const mark = t().upstream.requests.length;
    const response = await fetch(`${t().gateway.url}/api/auth/me${query}`, { headers });
    const me = (await response.json()) as { id?: string } | null;
    const arrived = t().upstream.requests.slice(mark).find((r) => r.path === "/api/auth/me")!;
    return { status: response.status, mastra: me?.id ?? null, gateway: arrived.headers["x-clerk-user-id"] ?? null, arrived };
  }

  it("whoever Mastra authenticates is whoever the gateway verified: no second credential reaches it", { timeout: 15_000 }, async () => {
    const alice = await issuer.mint(ALICE);
    const bob = await issuer.mint(BOB);
    const cookieAlice = `theme=dark; __client_uat=1; __session=${alice}`;
    for (const [headers, query, expected] of [
      // The cookie was verified: another scheme's value in Authorization does not travel.
      [{ cookie: cookieAlice, authorization: `Token ${bob}` }, "", "user_alice"],
      // ?apiKey= (which Mastra reads as a token) never travels.
      [{ cookie: cookieAlice }, `?apiKey=${bob}`, "user_alice"],
      [{ authorization: `Bearer ${alice}` }, `?apiKey=${bob}`, "user_alice"],
      // The header was verified: another session cookie does not travel.
      [{ authorization: `Bearer ${alice}`, cookie: `__client_uat=1; __session=${bob}` }, "", "user_alice"],
      // A bare JWT in Authorization is the credential for both sides (as @clerk/backend reads it).
      [{ authorization: bob, cookie: cookieAlice }, "", "user_bob"],
    ] as const) {
      const seen = await seenBy({ ...headers }, query);
      expect([seen.status, seen.mastra, seen.gateway], JSON.stringify(headers).slice(0, 60) + query.slice(0, 8)).toEqual([200, expected, expected]);
      expect(seen.arrived.query).not.toContain("apiKey");
      const forwarded = `${seen.arrived.headers.authorization ?? ""} ${seen.arrived.headers.cookie ?? ""}`;
      expect(forwarded).not.toContain(expected === "user_alice" ? bob : alice);
    }
  });
});

describe("a captured assertion is useless elsewhere, end to end (issue #12 §3)", () => {
  const t = () => topologies.find((x) => x.name === "assertion")!;
  let sameAudience: Upstream;
  let otherAudience: Upstream;

  beforeAll(async () => {
    // Two more upstreams sharing the secret: one for the same audience (its own replay cache), one for another.
    [sameAudience, otherAudience] = await Promise.all([
      startMastraServer({ port: 0, auth: new MastraAuthGateway({ secret: SECRET, audience: AUDIENCE, env: {} }) }),
      startMastraServer({ port: 0, auth: new MastraAuthGateway({ secret: SECRET, audience: "https://other-mastra.internal", env: {} }) }),
    ]);
    closers.push(() => sameAudience.close(), () => otherAudience.close());
  }, 30_000);

  it("refused a second time, on another route or method, and at an upstream of another audience", { timeout: 15_000 }, async () => {
    const mark = t().upstream.requests.length;
    const through = await fetch(`${t().gateway.url}/api/agents`, { headers: { authorization: `Bearer ${await issuer.mint(ALICE)}` } });
    expect(through.status).toBe(200);
    const captured = t().upstream.requests.slice(mark).find((r) => r.path === "/api/agents")!.headers["x-gateway-assertion"]!;
    expect(captured).toBeTruthy();
    const direct = (upstream: Upstream, method: string, path: string) =>
      fetch(`${upstream.url}${path}`, { method, headers: { "x-gateway-assertion": captured, "content-type": "application/json" }, body: method === "GET" ? undefined : "{}" }).then((r) => r.status);
    // The same request again at the same upstream: the jti was spent.
    expect(await direct(t().upstream, "GET", "/api/agents")).toBe(401);
    // An upstream that never saw it, same audience: only the exact request it was minted for would pass.
    expect(await direct(sameAudience, "GET", "/api/memory/threads?resourceId=user_alice")).toBe(401);
    expect(await direct(sameAudience, "POST", "/api/agents/weatherAgent/generate")).toBe(401);
    expect(await direct(sameAudience, "GET", "/api/agents?x=1")).toBe(401);
    // The limit, stated: the very request it was minted for, at another instance of the same
    // audience within its 30 s, passes once — the replay cache is per process (docs/library.md).
    expect(await direct(sameAudience, "GET", "/api/agents")).toBe(200);
    expect(await direct(sameAudience, "GET", "/api/agents")).toBe(401);
    // Another audience: refused even on the same request.
    expect(await direct(otherAudience, "GET", "/api/agents")).toBe(401);
  });
});
