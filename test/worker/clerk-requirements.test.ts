// Clerk's billing and step-up requirements through the gateway in workerd: require.plans and
// require.features over the token's pla/fea, require.reverification over fva (refused with the 403
// Clerk's front end reads as a reverification prompt), require.notImpersonated over act, and the
// actor forwarded upstream as x-clerk-actor-id. Tokens are minted as Clerk shapes them.

import { type createCheckAuthorization, validateReverificationConfig } from "@clerk/shared/authorization";
import { clerkHas } from "../support/clerk-has.js";
import { isReverificationHint } from "@clerk/shared/authorization-errors";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { body, Clock, expectMisconfigured, FakeOrigin, harness, mint, newKey, uniqueJwksEnv, type MintOptions, type SigningKey } from "./helpers.js";

let key: SigningKey;
beforeAll(async () => {
  key = await newKey();
});

const RULES = [
  { id: "pro-only", path: "/api/pro/*", require: { plans: ["u:pro", "o:team"] } },
  { id: "exports", path: "/api/export/*", require: { features: ["o:export"] } },
  { id: "step-up", path: "/api/danger/*", require: { reverification: "strict" } },
  { id: "mfa", path: "/api/vault/*", require: { reverification: "strict_mfa" } },
  { id: "recent", path: "/api/recent/*", require: { reverification: 30 } },
  { id: "no-impersonation", path: "/api/own/*", require: { notImpersonated: true } },
];

function setup(extra: GatewayEnv = {}) {
  const clock = new Clock();
  const origin = new FakeOrigin(key);
  const seen: Headers[] = [];
  const upstream = {
    async fetch(input: RequestInfo, init?: RequestInit) {
      seen.push(new Request(input, init).headers);
      return Response.json({ ok: true });
    },
  } as unknown as Fetcher;
  const env = uniqueJwksEnv({ MASTRA: upstream, AUTH_RULES: JSON.stringify(RULES), ...extra });
  const h = harness(env, { fetch: origin.fetch, now: clock.now, kv: null });
  const token = (options: MintOptions = {}) => mint(key, { now: clock.seconds, ttlSeconds: 3600, ...options });
  const get = async (path: string, options: MintOptions = {}, headers: Record<string, string> = {}) =>
    h.request(path, { headers: { authorization: `Bearer ${await token(options)}`, ...headers } });
  return { ...h, seen, get };
}

describe("require.plans and require.features: Clerk's has() over pla and fea", () => {
  it.each<[string, MintOptions, number, string?]>([
    ["/api/pro/x", { claims: { pla: "u:pro" } }, 200],
    ["/api/pro/x", { claims: { pla: "u:free_user,o:team" } }, 200],
    ["/api/pro/x", { claims: { pla: "o:pro" } }, 403, "plan-not-allowed"],
    ["/api/pro/x", { claims: { pla: "u:free_user" } }, 403, "plan-not-allowed"],
    ["/api/pro/x", {}, 403, "plan-not-allowed"],
    // An unreadable claim (an element without a scope) holds nothing, as in Clerk.
    ["/api/pro/x", { claims: { pla: "u:pro,pro" } }, 403, "plan-not-allowed"],
    // A v1 token carries the same claims: Clerk reads pla/fea whatever the version.
    ["/api/pro/x", { version: 1, claims: { pla: "u:pro" } }, 200],
    ["/api/export/x", { org: { id: "org_1", role: "member" }, claims: { fea: "o:export,u:export" } }, 200],
    ["/api/export/x", { org: { id: "org_1", role: "member" }, claims: { fea: "ou:export" } }, 200],
    ["/api/export/x", { claims: { fea: "u:export" } }, 403, "feature-missing:o:export"],
  ])("%s with %j → %i %s", async (path, options, status, reason) => {
    const s = setup();
    const response = await s.get(path, options);
    const json = await body(response);
    expect([response.status, json]).toEqual([status, status === 200 ? { ok: true } : { error: "forbidden", reason, rule: path.startsWith("/api/pro") ? "pro-only" : "exports" }]);
  });

  it("v2 org permissions packed in fea still decode beside the billing features", async () => {
    const s = setup({
      AUTH_RULES: JSON.stringify([{ id: "both", path: "/api/both/*", require: { features: ["o:agents"], orgPermissions: ["org:agents:run"] } }]),
    });
    const ok = await s.get("/api/both/x", { org: { id: "org_1", role: "member", permissions: ["org:agents:run"] } });
    expect(ok.status).toBe(200);
    const missing = await s.get("/api/both/x", { org: { id: "org_1", role: "member", permissions: ["org:other:run"] } });
    expect(await body(missing)).toEqual({ error: "forbidden", reason: "org-permission-missing", rule: "both" });
    // The org feature the permission encoding put in fea is a feature has() sees.
    expect((await s.get("/api/both/x", { org: { id: "org_1", role: "member", permissions: ["org:agents:run", "org:other:run"] } })).status).toBe(200);
  });
});

describe("require.reverification: Clerk's step-up over fva", () => {
  it.each<[string, [number, number] | null, number]>([
    ["/api/danger/x", [0, -1], 200], // no second factor: a fresh first factor passes, as in Clerk
    ["/api/danger/x", [30, 2], 200],
    ["/api/danger/x", [2, 30], 403],
    ["/api/danger/x", [-1, -1], 403],
    ["/api/vault/x", [2, 2], 200],
    ["/api/vault/x", [-1, 2], 403], // multi_factor with only a second factor fails
    ["/api/vault/x", [20, 2], 403],
    ["/api/recent/x", [29, -1], 200],
    ["/api/recent/x", [30, -1], 403],
  ])("%s with fva %j → %i", async (path, fva, status) => {
    const s = setup();
    const response = await s.get(path, { fva });
    expect(response.status).toBe(status);
    if (status === 200) return;
    const json = await body(response);
    const expected = { "/api/danger/x": ["step-up", "second_factor", 10], "/api/vault/x": ["mfa", "multi_factor", 10], "/api/recent/x": ["recent", "second_factor", 30] }[path]!;
    expect(json).toEqual({
      error: "forbidden",
      reason: "reverification-required",
      rule: expected[0],
      clerk_error: { type: "forbidden", reason: "reverification-error", metadata: { reverification: { level: expected[1], afterMinutes: expected[2] } } },
    });
    // What Clerk's front end does with it (useReverification): recognise the hint, read the level.
    expect(isReverificationHint(json)).toBe(true);
    const config = validateReverificationConfig((json.clerk_error as { metadata: { reverification: never } }).metadata.reverification);
    expect(config && config().level).toBe(expected[1]);
  });

  it("a token without fva is refused with the hint", async () => {
    const s = setup();
    const response = await s.get("/api/danger/x", { claims: { fva: undefined } });
    expect(response.status).toBe(403);
    expect(isReverificationHint(await body(response))).toBe(true);
  });
});

describe("require.notImpersonated and x-clerk-actor-id", () => {
  it("refuses a session carrying act, serves the user's own", async () => {
    const s = setup();
    const impersonated = await s.get("/api/own/x", { claims: { act: { sub: "user_support", iss: "https://dashboard.clerk.com" } } });
    expect([impersonated.status, await body(impersonated)]).toEqual([403, { error: "forbidden", reason: "impersonated", rule: "no-impersonation" }]);
    expect(s.seen).toHaveLength(0);
    expect((await s.get("/api/own/x")).status).toBe(200);
  });

  it("forwards the actor of an impersonated session, and never a client's", async () => {
    const s = setup();
    const forged = { "x-clerk-actor-id": "user_forged", "X_Clerk_Actor_Id": "user_forged2" };
    expect((await s.get("/api/agents", { sub: "user_alice", claims: { act: { sub: "user_support" } } }, forged)).status).toBe(200);
    expect((await s.get("/api/agents", { sub: "user_alice" }, forged)).status).toBe(200);
    expect((await s.get("/api/agents", { sub: "user_alice", claims: { act: { sub: 42 } } }, forged)).status).toBe(200);
    const [withActor, own, odd] = s.seen;
    expect(withActor!.get("x-clerk-user-id")).toBe("user_alice");
    expect(withActor!.get("x-clerk-actor-id")).toBe("user_support");
    expect(withActor!.get("x_clerk_actor_id")).toBeNull();
    expect(own!.get("x-clerk-actor-id")).toBeNull();
    expect(own!.get("x_clerk_actor_id")).toBeNull();
    expect(odd!.get("x-clerk-actor-id")).toBeNull();
  });
});

describe("misconfiguration is the 500 naming the rule", () => {
  it.each<[Record<string, unknown>, RegExp]>([
    [{ reverification: "sometimes" }, /rule "bad".*reverification "sometimes"/],
    [{ reverification: -10 }, /rule "bad".*positive/],
    [{ plans: [] }, /rule "bad".*plans must be a non-empty array/],
    [{ features: ["team:x"] }, /rule "bad".*unknown scope/],
    [{ notImpersonated: "yes" }, /rule "bad".*notImpersonated/],
  ])("%j", async (require, detail) => {
    const s = setup({ AUTH_RULES: JSON.stringify([{ id: "bad", path: "/api/x", require }]) });
    await expectMisconfigured(await s.get("/api/agents"), s.logger, "AUTH_RULES", detail);
  });
});

describe("differential: the gateway's answer is Clerk's has() on the same token", () => {
  const CLAIMS: Record<string, unknown>[] = [
    {},
    { pla: "u:pro", fea: "o:export", fva: [0, 0] },
    { pla: "o:team", fea: "u:export", fva: [11, 3] },
    { pla: "ou:pro", fea: "uo:export", fva: [3, 11] },
    { pla: "u:pro,bad", fea: "o:export,bad", fva: [-1, 3] },
    { pla: "", fea: "", fva: [-1, -1] },
    { pla: "x:pro", fea: "x:export", fva: [0, -1] },
  ];
  const ASKED: [string, Parameters<ReturnType<typeof createCheckAuthorization>>[0][]][] = [
    ["/api/pro/x", [{ plan: "u:pro" }, { plan: "o:team" }]],
    ["/api/export/x", [{ feature: "o:export" }]],
    ["/api/danger/x", [{ reverification: "strict" }]],
    ["/api/vault/x", [{ reverification: "strict_mfa" }]],
    ["/api/recent/x", [{ reverification: { level: "second_factor", afterMinutes: 30 } }]],
  ];

  it("for each token and rule", async () => {
    const s = setup();
    for (const claims of CLAIMS) {
      const has = clerkHas(claims, "user_dev");
      for (const [path, asked] of ASKED) {
        // claims are merged last: an undefined fva is absent from the token.
        const response = await s.get(path, { claims: { fva: undefined, ...claims } });
        expect([claims, path, response.status]).toEqual([claims, path, asked.some((p) => has(p)) ? 200 : 403]);
      }
    }
  });
});
