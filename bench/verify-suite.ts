// The verification subjects of BENCHMARKS.md §1, written once and bundled twice: for workerd
// (bench/verify-worker.ts drives it inside the runtime) and for Node (bench/run.mjs imports it).
// Only Web APIs here, so both runtimes run the very same code.

import { verifyToken as clerkVerifyToken } from "@clerk/backend";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { createVerifier } from "../src/verify/create.js";
import { ClerkTokenVerifier } from "../src/verify/verifier.js";

export interface SuiteInput {
  /** Distinct Clerk-shaped RS256 tokens, all valid for the whole run, all signed by one key. */
  tokens: string[];
  issuer: string;
  jwks: JSONWebKeySet;
  /** The same public key as SPKI PEM (`@clerk/backend`'s `jwtKey`). */
  pem: string;
  /** Loopback JWKS URL (this project's verifier). */
  jwksUrl: string;
  /** Loopback Backend API origin serving `/v1/jwks` (`@clerk/backend` with a secret key). */
  apiUrl: string;
  secretKey: string;
}

export const SUBJECTS = [
  "verifier-hot",
  "verifier-cold",
  "jose-jwtVerify",
  "clerk-verifyToken-jwtKey",
  "clerk-verifyToken-jwks",
  "subtle-verify-from-token",
  "subtle-verify-bytes",
] as const;
export type Subject = (typeof SUBJECTS)[number];

export interface RoundResult {
  subject: Subject;
  iterations: number;
  ms: number;
}

type Op = (index: number) => Promise<unknown>;

export interface Suite {
  run(subject: Subject, iterations: number): Promise<RoundResult>;
}

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/**
 * Prepares every subject and proves each one accepts every token once (so that no subject can be
 * fast by failing). After this, each subject's keys are in memory: a JWKS was fetched from the
 * loopback server where the subject fetches one, and no round does I/O.
 */
export async function createSuite(input: SuiteInput): Promise<Suite> {
  const { tokens } = input;
  const expectedSub = subOf(tokens[0]!);

  const hot = createVerifier({ jwksUri: input.jwksUrl, issuer: input.issuer });
  // A cold verification is a new token with the keys in memory: a fresh verifier (empty
  // verified-token cache) on the same key store for every pass over the token set.
  let cold = new ClerkTokenVerifier(hot.config, hot.keys);
  let coldSeen = 0;

  const localJwks = createLocalJWKSet(input.jwks);
  const publicJwk = input.jwks.keys[0]!;
  const subtleKey = await crypto.subtle.importKey("jwk", { kty: publicJwk.kty, n: publicJwk.n, e: publicJwk.e }, RSA, false, ["verify"]);
  const prepared = tokens.map((token) => {
    const dot = token.lastIndexOf(".");
    return { data: new TextEncoder().encode(token.slice(0, dot)), signature: base64UrlBytes(token.slice(dot + 1)) };
  });

  const encoder = new TextEncoder();
  const ops: Record<Subject, Op> = {
    "verifier-hot": async (i) => (await hot.verify(tokens[i % tokens.length]!)).identity.userId,
    "verifier-cold": async () => {
      // Its own cursor, not the round's index: a round may start anywhere in the pass.
      if (coldSeen === tokens.length) {
        cold = new ClerkTokenVerifier(hot.config, hot.keys);
        coldSeen = 0;
      }
      const result = await cold.verify(tokens[coldSeen++]!);
      if (result.cached) throw new Error("verifier-cold: a cold round hit the verified-token cache");
      return result.identity.userId;
    },
    "jose-jwtVerify": async (i) =>
      (await jwtVerify(tokens[i % tokens.length]!, localJwks, { issuer: input.issuer, algorithms: ["RS256"] })).payload.sub,
    "clerk-verifyToken-jwtKey": async (i) => (await clerkVerifyToken(tokens[i % tokens.length]!, { jwtKey: input.pem })).sub,
    "clerk-verifyToken-jwks": async (i) =>
      (await clerkVerifyToken(tokens[i % tokens.length]!, { secretKey: input.secretKey, apiUrl: input.apiUrl })).sub,
    // The physical limit of a cold verify: split the token, decode the signature, encode the
    // signing input, one RSA verification. No header, no claims, no cache.
    "subtle-verify-from-token": async (i) => {
      const token = tokens[i % tokens.length]!;
      const dot = token.lastIndexOf(".");
      const ok = await crypto.subtle.verify(RSA, subtleKey, base64UrlBytes(token.slice(dot + 1)), encoder.encode(token.slice(0, dot)));
      return ok ? expectedSub : "invalid";
    },
    // The RSA verification alone, bytes ready.
    "subtle-verify-bytes": async (i) => {
      const p = prepared[i % prepared.length]!;
      return (await crypto.subtle.verify(RSA, subtleKey, p.signature, p.data)) ? expectedSub : "invalid";
    },
  };

  // Warm-up and proof of correctness: every subject accepts every token (the hot verifier's cache
  // is filled here, which is what makes it hot).
  for (const subject of SUBJECTS) {
    for (let i = 0; i < tokens.length; i++) {
      // In this first pass the cold verifier's own cursor is i too.
      const sub = await ops[subject](i);
      if (sub !== subOf(tokens[i]!) && !(subject.startsWith("subtle") && sub === expectedSub)) {
        throw new Error(`${subject} did not accept token ${i} (got ${String(sub)})`);
      }
    }
  }
  if (hot.cache.size < tokens.length) throw new Error("verifier-hot: the cache does not hold the token set");
  cold = new ClerkTokenVerifier(hot.config, hot.keys);
  coldSeen = 0;

  return {
    async run(subject, iterations) {
      const op = ops[subject];
      if (!op) throw new Error(`unknown subject ${subject}`);
      const start = performance.now();
      for (let i = 0; i < iterations; i++) await op(i);
      return { subject, iterations, ms: performance.now() - start };
    },
  };
}

function subOf(token: string): string {
  return JSON.parse(new TextDecoder().decode(base64UrlBytes(token.split(".")[1]!))).sub;
}

function base64UrlBytes(segment: string): Uint8Array {
  const binary = atob(segment.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (segment.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
