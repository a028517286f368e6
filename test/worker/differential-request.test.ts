// Where the session token is found, differentially: the same requests go through this project's
// gateway and through @clerk/backend's own authenticateRequest (networkless, with the PEM key), and
// both must pick the same user or refuse alike — the Authorization header (Bearer, scheme-less),
// the __session cookie and Clerk's per-instance suffixed __session_<suffix>, and the __client_uat
// rule (a cookie token counts only beside a __client_uat no later than its iat). Issue #12 §6.
//
// Clerk answers a refused browser request with a handshake redirect, an API request with
// signed-out: both count as "refused" here; the reason codes are compared where Clerk gives one.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { cookieSuffix } from "../../src/credentials/clerk-cookies.js";
import { checkProperty, describeBudget, type RunBudget, timeoutFor } from "../support/fast-check.js";
import { pemOf } from "../support/jws.js";
import { body, Clock, harness, type Harness, mint, newKey, type SigningKey } from "./helpers.js";

type AuthenticateRequest = ReturnType<typeof import("@clerk/backend").createClerkClient>["authenticateRequest"];

const clock = new Clock();
const FAPI = "clerk.app.example.com";
const PUBLISHABLE_KEY = `pk_live_${btoa(`${FAPI}$`)}`;
const OTHER_ISSUER = "https://clerk.other-app.example.com";
const RUNS: RunBudget = { maxRuns: 600, timeMs: 5_000, minRuns: 150 };

let key: SigningKey;
let suffix: string;
let gateway: Harness;
let clerkAuthenticate: AuthenticateRequest;
let pem: string;
/** Tokens by name; `iat` is the clock's second unless named otherwise. */
const tokens: Record<string, string> = {};

beforeAll(async () => {
  key = await newKey();
  pem = await pemOf(key);
  suffix = await cookieSuffix(PUBLISHABLE_KEY);
  const at = (sub: string, extra: Record<string, unknown> = {}) => mint(key, { now: clock.seconds, issuer: `https://${FAPI}`, sub, ...extra });
  tokens.alice = await at("user_alice");
  tokens.bob = await at("user_bob");
  tokens.early = await at("user_early", { now: clock.seconds - 30, ttlSeconds: 600 });
  // Another instance signs with its own keys (Clerk's verifyToken does not compare iss; we do).
  tokens.foreign = await mint(await newKey(), { now: clock.seconds, issuer: OTHER_ISSUER, sub: "user_foreign" });
  tokens.junk = "not-a-jwt";

  // Clerk reads Date for its checks: pinned to the gateway's clock. Nothing may be fetched.
  vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
    throw new TypeError(`differential: unexpected fetch of ${String(input)}`);
  });
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(clock.ms);
  const { createClerkClient } = await import("@clerk/backend");
  // A secret key is demanded by the client, never used: the PEM key verifies without the network.
  clerkAuthenticate = createClerkClient({ publishableKey: PUBLISHABLE_KEY, secretKey: "sk_live_differential", jwtKey: pem }).authenticateRequest;
  gateway = harness({ CLERK_PUBLISHABLE_KEY: PUBLISHABLE_KEY, CLERK_JWT_KEY: pem }, { now: clock.now, kv: null });
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** Who each side lets in: a user id, or "refused" (with Clerk's reason when it gives one). */
async function both(headers: Record<string, string>): Promise<{ ours: string; clerk: string; ourReason: string | null; clerkReason: string | null }> {
  const response = await gateway.request("/auth/me", { headers });
  const json = await body(response);
  const state = await clerkAuthenticate(new Request("https://api.app.example.com/auth/me", { headers }), { jwtKey: pem, publishableKey: PUBLISHABLE_KEY });
  const clerkUser = state.isSignedIn ? (state.toAuth() as { userId: string }).userId : "refused";
  return {
    ours: response.status === 200 ? String(json.userId) : "refused",
    clerk: clerkUser,
    ourReason: response.status === 200 ? null : String(json.reason),
    clerkReason: state.isSignedIn ? null : (state.reason ?? null),
  };
}

const cookie = (pairs: [string, string][]) => ({ cookie: pairs.map(([n, v]) => `${n}=${v}`).join("; ") });
const iatOf = (token: string) => JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).iat as number;

describe("token lookup, differential against @clerk/backend's authenticateRequest", () => {
  it.each([
    ["Bearer header", () => ({ authorization: `Bearer ${tokens.alice}` }), "user_alice", null],
    ["scheme-less header", () => ({ authorization: tokens.alice! }), "user_alice", null],
    ["__session with __client_uat at its iat", () => cookie([["__session", tokens.alice!], ["__client_uat", String(clock.seconds)]]), "user_alice", null],
    ["__session without __client_uat", () => cookie([["__session", tokens.alice!]]), "refused", "session-token-but-no-client-uat"],
    ["__session with __client_uat=0 (signed out)", () => cookie([["__session", tokens.alice!], ["__client_uat", "0"]]), "refused", "session-token-but-no-client-uat"],
    ["__session issued before the client's last sign-in", () => cookie([["__session", tokens.early!], ["__client_uat", String(clock.seconds)]]), "refused", "session-token-iat-before-client-uat"],
    ["suffixed cookies of this instance", () => cookie([[`__session_${suffix}`, tokens.alice!], [`__client_uat_${suffix}`, "1"]]), "user_alice", null],
    [
      "a plain __session of another instance beside this instance's suffixed ones",
      () => cookie([["__session", tokens.foreign!], ["__client_uat", "1"], [`__session_${suffix}`, tokens.bob!], [`__client_uat_${suffix}`, "1"]]),
      "user_bob",
      null,
    ],
    [
      "a newer plain __session than the suffixed one: the plain one",
      () => cookie([["__session", tokens.alice!], ["__client_uat", "1"], [`__session_${suffix}`, tokens.early!], [`__client_uat_${suffix}`, "1"]]),
      "user_alice",
      null,
    ],
    ["suffixed __client_uat=0 beside a plain one: the plain cookies", () => cookie([["__session", tokens.bob!], ["__client_uat", "1"], [`__session_${suffix}`, tokens.alice!], [`__client_uat_${suffix}`, "0"]]), "user_bob", null],
    ["a header wins over the cookie", () => ({ authorization: `Bearer ${tokens.bob}`, ...cookie([["__session", tokens.alice!], ["__client_uat", "1"]]) }), "user_bob", null],
  ] as const)("%s", async (_label, headers, expected, reason) => {
    const outcome = await both(headers());
    expect(outcome.ours).toBe(expected);
    expect(outcome.clerk).toBe(expected);
    if (reason) expect([outcome.ourReason, outcome.clerkReason]).toEqual([reason, reason]);
  });

  it(`random cookie jars: the same user or both refuse (${describeBudget(RUNS)})`, async () => {
    const names = ["__session", `__session_${suffix}`, "__client_uat", `__client_uat_${suffix}`];
    const values = {
      session: fc.constantFrom("alice", "bob", "early", "foreign", "junk").map((n) => tokens[n]!),
      uat: fc.constantFrom("0", "1", String(clock.seconds), String(clock.seconds + 1), String(iatOf(tokens.early!)), "x"),
    };
    const jar = fc.record({
      session: fc.option(values.session, { nil: undefined }),
      suffixedSession: fc.option(values.session, { nil: undefined }),
      uat: fc.option(values.uat, { nil: undefined }),
      suffixedUat: fc.option(values.uat, { nil: undefined }),
    });
    await checkProperty(
      fc.asyncProperty(jar, async (j) => {
        const pairs: [string, string][] = [];
        [j.session, j.suffixedSession, j.uat, j.suffixedUat].forEach((v, i) => v !== undefined && pairs.push([names[i]!, v]));
        const outcome = await both(cookie(pairs));
        // Ours refuses a junk cookie token ("token-invalid") where Clerk may also say so: only the user is compared.
        expect(outcome.ours, JSON.stringify(j)).toBe(outcome.clerk);
      }),
      "token lookup",
      RUNS,
    );
  }, timeoutFor(RUNS));
});
