// The machine-token subjects of BENCHMARKS.md §9 (issue #13), bundled for Node by
// bench/sections/machine.mjs: this project's verifier on M2M JWTs (hot and cold, beside session
// tokens) and on opaque API keys (cache hit and miss against a loopback Backend API stand-in),
// beside @clerk/backend's authenticateRequest with acceptsToken on the same tokens.

import { createClerkClient } from "@clerk/backend";
import type { TokenClass } from "../src/credentials/token-class.js";
import { acceptanceFor } from "../src/verify/accepts.js";
import { createVerifier } from "../src/verify/create.js";
import { ClerkTokenVerifier } from "../src/verify/verifier.js";

export interface MachineSuiteInput {
  /** Distinct session tokens and M2M JWTs of one key and issuer, valid for the whole run. */
  sessionTokens: string[];
  m2mTokens: string[];
  /** An API key the Backend API stand-in knows. */
  apiKey: string;
  issuer: string;
  /** The key as SPKI PEM: both sides verify networklessly. */
  pem: string;
  /** The loopback Backend API stand-in's origin. */
  apiUrl: string;
  secretKey: string;
  publishableKey: string;
}

export const SUBJECTS = ["session-hot", "session-cold", "m2m-jwt-hot", "m2m-jwt-cold", "opaque-hit", "opaque-miss", "clerk-m2m-jwt", "clerk-api-key"] as const;
export type Subject = (typeof SUBJECTS)[number];

export interface MachineSuite {
  run(subject: Subject, iterations: number): Promise<{ subject: Subject; iterations: number; ms: number }>;
}

const accepts = (...classes: TokenClass[]) => acceptanceFor(new Set(classes), [], "", null);

/** Prepares every subject and proves each accepts its tokens once (no subject is fast by failing). */
export async function createMachineSuite(input: MachineSuiteInput): Promise<MachineSuite> {
  const options = { jwtKey: input.pem, issuer: input.issuer, secretKey: input.secretKey, apiUrl: input.apiUrl, machineTokenLookupsPerMinute: 100_000 };
  const hot = createVerifier({ ...options, machineTokenCacheTtlS: 3_600 });
  // A miss asks the Backend API every time: nothing is kept.
  const uncached = createVerifier({ ...options, machineTokenCacheTtlS: 0 });
  const cursors = { session: 0, m2m: 0 };
  let coldSession = new ClerkTokenVerifier(hot.config, hot.keys);
  let coldM2m = new ClerkTokenVerifier(hot.config, hot.keys);
  const M2M = accepts("m2m");
  const API_KEY = accepts("api_key");
  // Telemetry off: the bench reaches loopback only.
  const clerk = createClerkClient({ publishableKey: input.publishableKey, secretKey: input.secretKey, apiUrl: input.apiUrl, jwtKey: input.pem, telemetry: { disabled: true } });
  const clerkAuth = async (token: string, acceptsToken: "m2m_token" | "api_key") => {
    const state = await clerk.authenticateRequest(new Request("http://127.0.0.1/bench", { headers: { authorization: `Bearer ${token}` } }), { acceptsToken, jwtKey: input.pem });
    if (!state.isAuthenticated) throw new Error(`@clerk/backend refused a ${acceptsToken}: ${state.reason}`);
    return (state.toAuth() as { subject: string }).subject;
  };
  const { sessionTokens, m2mTokens } = input;

  const ops: Record<Subject, (i: number) => Promise<unknown>> = {
    "session-hot": async (i) => (await hot.verify(sessionTokens[i % sessionTokens.length]!)).identity.subject ?? "session",
    "session-cold": async () => {
      if (cursors.session === sessionTokens.length) [coldSession, cursors.session] = [new ClerkTokenVerifier(hot.config, hot.keys), 0];
      const r = await coldSession.verify(sessionTokens[cursors.session++]!);
      if (r.cached) throw new Error("session-cold hit the cache");
      return "session";
    },
    "m2m-jwt-hot": async (i) => (await hot.verify(m2mTokens[i % m2mTokens.length]!, {}, M2M)).identity.machineId,
    "m2m-jwt-cold": async () => {
      if (cursors.m2m === m2mTokens.length) [coldM2m, cursors.m2m] = [new ClerkTokenVerifier(hot.config, hot.keys), 0];
      const r = await coldM2m.verify(m2mTokens[cursors.m2m++]!, {}, M2M);
      if (r.cached) throw new Error("m2m-jwt-cold hit the cache");
      return r.identity.machineId;
    },
    "opaque-hit": async () => (await hot.machineTokens.verify(input.apiKey, "api_key", "127.0.0.1", API_KEY)).identity.subject,
    "opaque-miss": async () => {
      const r = await uncached.machineTokens.verify(input.apiKey, "api_key", "127.0.0.1", API_KEY);
      if (r.cached) throw new Error("opaque-miss hit the cache");
      return r.identity.subject;
    },
    "clerk-m2m-jwt": async (i) => clerkAuth(m2mTokens[i % m2mTokens.length]!, "m2m_token"),
    "clerk-api-key": async () => clerkAuth(input.apiKey, "api_key"),
  };

  for (const subject of SUBJECTS) {
    const n = subject.startsWith("session") ? sessionTokens.length : subject.includes("m2m") ? m2mTokens.length : 2;
    for (let i = 0; i < n; i++) await ops[subject](i);
  }
  [coldSession, coldM2m, cursors.session, cursors.m2m] = [new ClerkTokenVerifier(hot.config, hot.keys), new ClerkTokenVerifier(hot.config, hot.keys), 0, 0];

  return {
    async run(subject, iterations) {
      const op = ops[subject];
      const start = performance.now();
      for (let i = 0; i < iterations; i++) await op(i);
      return { subject, iterations, ms: performance.now() - start };
    },
  };
}
