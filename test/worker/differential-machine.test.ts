// Machine tokens (issue #13), differentially: the same M2M and OAuth JWTs and opaque mt_/oat_/ak_
// tokens go through this project's gateway (ACCEPTS=any) and through @clerk/backend's own
// authenticateRequest with acceptsToken (networkless for JWTs, with the PEM key), on one pinned
// clock, and both must accept or refuse alike — unless the difference is listed below with its
// reason — and, where both accept, see the same machine (type, id, subject, scopes, user, org,
// client). Opaque tokens go to one Backend API stand-in that both sides call through the global
// fetch: the requests must be the same (method, path, body, key, API version), which is what
// "verified exactly as @clerk/backend calls them" means.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { mintM2MToken, mintOAuthAccessToken } from "../../scripts/lib/clerk-token.mjs";
import { pemOf } from "../support/jws.js";
import { body, Clock, harness, type Harness, newKey, type SigningKey } from "./helpers.js";

type AuthenticateRequest = ReturnType<typeof import("@clerk/backend").createClerkClient>["authenticateRequest"];

const clock = new Clock();
const FAPI = "clerk.app.example.com";
const ISSUER = `https://${FAPI}`;
const PUBLISHABLE_KEY = `pk_live_${btoa(`${FAPI}$`)}`;
const GATEWAY = "https://gateway.test";
const API = "https://api.clerk.test";
const SECRET = "sk_live_differential";
const MACHINE_SECRET = "ak_machine_differential";
const ACCEPTS = ["session_token", "m2m_token", "oauth_token", "api_key"] as const;

/** What the Backend API stand-in knows, as Clerk's verify endpoints answer (JSON field names of the API). */
const KNOWN: Record<string, Record<string, unknown>> = {
  ak_user_key: { object: "api_key", id: "ak_2abc", type: "api_key", name: "ci", subject: "user_7", scopes: ["read", "write"], claims: { team: "ops" }, revoked: false, expired: false, expiration: null, created_by: null, created_at: 1, updated_at: 1 },
  ak_org_key: { object: "api_key", id: "ak_2def", type: "api_key", name: "deploy", subject: "org_9", scopes: [], claims: null, revoked: false, expired: false, expiration: null, created_by: null, created_at: 1, updated_at: 1 },
  mt_opaque_m2m: { object: "machine_to_machine_token", id: "mt_2ghi", subject: "mch_worker", scopes: ["mch_other"], claims: null, revoked: false, expired: false, expiration: null, created_at: 1, updated_at: 1 },
  oat_opaque_oauth: { object: "clerk_idp_oauth_access_token", id: "oat_2jkl", client_id: "client_app", type: "oauth_token", subject: "user_3", scopes: ["profile"], revoked: false, expired: false, expiration: null, created_at: 1, updated_at: 1, aud: [GATEWAY] },
};

interface Call {
  path: string;
  method: string;
  authorization: string | null;
  version: string | null;
  body: string;
}
const calls: Call[] = [];

let key: SigningKey;
let pem: string;
let gateway: Harness;
let clerkAuthenticate: AuthenticateRequest;
const tokens: Record<string, string> = {};

/** Both sides' Backend API: records each request and answers as Clerk does (200 with the resource, 404). */
async function backendApi(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const text = await request.text();
  calls.push({ path: url.pathname, method: request.method, authorization: request.headers.get("authorization"), version: request.headers.get("clerk-api-version"), body: text });
  const sent = JSON.parse(text) as Record<string, string>;
  const answer = KNOWN[sent.secret ?? sent.access_token ?? sent.token ?? ""];
  return answer ? Response.json(answer) : Response.json({ errors: [{ message: "not found", code: "resource_not_found" }] }, { status: 404 });
}

beforeAll(async () => {
  key = await newKey();
  pem = await pemOf(key);
  const other = await newKey(key.kid);
  const m2m = (o: Record<string, unknown> = {}, k = key) => mintM2MToken(k, { issuer: ISSUER, now: clock.seconds, machineId: "mch_worker", scopes: ["mch_a", "mch_b"], jti: "mt_jwt_1", ...o });
  const oauth = (o: Record<string, unknown> = {}, k = key) => mintOAuthAccessToken(k, { issuer: ISSUER, now: clock.seconds, sub: "user_1", clientId: "client_app", aud: GATEWAY, scopes: ["read"], jti: "oat_jwt_1", ...o });
  Object.assign(tokens, {
    m2m: await m2m(),
    m2mNoCat: await m2m({ header: { cat: undefined } }),
    m2mNoScopes: await m2m({ scopes: [] }),
    m2mNoNbfIat: await m2m({ claims: { nbf: undefined, iat: undefined } }),
    m2mExpired: await m2m({ now: clock.seconds - 7200 }),
    m2mFuture: await m2m({ claims: { nbf: clock.seconds + 600 } }),
    m2mForged: await m2m({}, other),
    m2mSessionCat: await m2m({ header: { cat: "cl_B7d4PD111AAA" } }),
    m2mTypAtJwt: await m2m({ header: { typ: "at+jwt" } }),
    m2mOtherIssuer: await m2m({ issuer: "https://clerk.other.example.com" }),
    oauth: await oauth(),
    oauthAppTyp: await oauth({ header: { typ: "application/at+jwt" } }),
    oauthScp: await oauth({ claims: { scp: ["a", "b"], scope: undefined } }),
    oauthAudList: await oauth({ aud: ["https://elsewhere.example", GATEWAY] }),
    oauthOtherAud: await oauth({ aud: "https://elsewhere.example" }),
    oauthNoAud: await oauth({ aud: undefined }),
    oauthExpired: await oauth({ now: clock.seconds - 7200 }),
    oauthForged: await oauth({}, other),
    oauthOtherIssuer: await oauth({ issuer: "https://clerk.other.example.com" }),
    apiKeyUser: "ak_user_key",
    apiKeyOrg: "ak_org_key",
    apiKeyUnknown: "ak_unknown_key",
    m2mOpaque: "mt_opaque_m2m",
    m2mOpaqueUnknown: "mt_unknown",
    oauthOpaque: "oat_opaque_oauth",
    oauthOpaqueUnknown: "oat_unknown",
  });

  // Clerk binds `fetch` when its module is evaluated: the stand-in goes in before the import.
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(API)) throw new TypeError(`differential: unexpected fetch of ${request.url}`);
    return backendApi(request);
  });
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(clock.ms);
  const { createClerkClient } = await import("@clerk/backend");
  clerkAuthenticate = createClerkClient({ publishableKey: PUBLISHABLE_KEY, secretKey: SECRET, machineSecretKey: MACHINE_SECRET, jwtKey: pem, apiUrl: API, telemetry: { disabled: true } }).authenticateRequest;
  gateway = harness(
    { CLERK_PUBLISHABLE_KEY: PUBLISHABLE_KEY, CLERK_JWT_KEY: pem, CLERK_SECRET_KEY: SECRET, CLERK_MACHINE_SECRET_KEY: MACHINE_SECRET, CLERK_API_URL: API, ACCEPTS: "any", MACHINE_TOKEN_CACHE_TTL_S: "0" },
    { now: clock.now, kv: null, fetch: (input, init) => backendApi(new Request(input as RequestInfo, init)) },
  );
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** The machine each side sees, in @clerk/backend's machine auth object's terms, or "refused". */
type Seen = "refused" | { tokenType: string; id: string; subject: string; scopes: string[]; userId: string | null; orgId: string | null; machineId: string | null; clientId: string | null };

async function ours(token: string): Promise<Seen> {
  const response = await gateway.request("/auth/me", { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) {
    expect(response.status, `gateway answered ${response.status}`).toBe(401);
    return "refused";
  }
  const me = await body(response);
  return {
    tokenType: String(me.tokenType),
    id: (me.tokenId as string | null) ?? "",
    subject: String(me.subject),
    scopes: me.scopes as string[],
    userId: me.userId as string | null,
    orgId: me.orgId as string | null,
    machineId: me.machineId as string | null,
    clientId: me.clientId as string | null,
  };
}

async function clerk(token: string): Promise<Seen> {
  const request = new Request(`${GATEWAY}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  const state = await clerkAuthenticate(request, { acceptsToken: [...ACCEPTS], jwtKey: pem, audience: GATEWAY });
  if (!state.isAuthenticated) return "refused";
  const auth = state.toAuth() as unknown as Record<string, unknown>;
  return {
    tokenType: String(auth.tokenType),
    id: String(auth.id ?? ""),
    subject: String(auth.subject),
    scopes: (auth.scopes as string[] | undefined) ?? [],
    userId: (auth.userId as string | null | undefined) ?? null,
    orgId: (auth.orgId as string | null | undefined) ?? null,
    machineId: (auth.machineId as string | null | undefined) ?? null,
    clientId: (auth.clientId as string | null | undefined) ?? null,
  };
}

/**
 * Where we differ on purpose: @clerk/backend does not compare a machine JWT's `iss` with the
 * instance (it verifies with the instance's key and stops there); we require the exact issuer,
 * as for session tokens — a token of another issuer signed with this key is refused.
 */
const STRICTER: Record<string, string> = {
  m2mOtherIssuer: "iss is checked for machine JWTs too",
  oauthOtherIssuer: "iss is checked for machine JWTs too",
};

const CASES = Object.keys({
  m2m: 1, m2mNoCat: 1, m2mNoScopes: 1, m2mNoNbfIat: 1, m2mExpired: 1, m2mFuture: 1, m2mForged: 1, m2mSessionCat: 1, m2mTypAtJwt: 1, m2mOtherIssuer: 1,
  oauth: 1, oauthAppTyp: 1, oauthScp: 1, oauthAudList: 1, oauthOtherAud: 1, oauthNoAud: 1, oauthExpired: 1, oauthForged: 1, oauthOtherIssuer: 1,
  apiKeyUser: 1, apiKeyOrg: 1, apiKeyUnknown: 1, m2mOpaque: 1, m2mOpaqueUnknown: 1, oauthOpaque: 1, oauthOpaqueUnknown: 1,
});

describe("machine tokens: this gateway vs @clerk/backend's authenticateRequest with acceptsToken", () => {
  it.each(CASES)("%s", async (name) => {
    const token = tokens[name]!;
    calls.length = 0;
    const o = await ours(token);
    const ourCalls = calls.splice(0);
    const c = await clerk(token);
    const clerkCalls = calls.splice(0);
    if (STRICTER[name]) {
      expect({ ours: o, clerk: c === "refused" ? c : "accept" }).toEqual({ ours: "refused", clerk: "accept" });
      return;
    }
    expect(o, `ours vs Clerk for ${name}`).toEqual(c);
    // The same Backend API requests, byte for byte where it matters.
    expect(ourCalls).toEqual(clerkCalls);
  });

  it("covers every class both ways: accepted M2M, OAuth and API keys, JWT and opaque, and refusals", async () => {
    const accepted = new Set<string>();
    for (const name of CASES) {
      const o = await ours(tokens[name]!);
      if (o !== "refused") accepted.add(`${o.tokenType}:${tokens[name]!.includes(".") ? "jwt" : "opaque"}`);
    }
    expect([...accepted].sort()).toEqual(["api_key:opaque", "m2m_token:jwt", "m2m_token:opaque", "oauth_token:jwt", "oauth_token:opaque"]);
  });
});
