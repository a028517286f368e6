// Inside workerd: tokens for the test users and small readers of Mastra's answers.

import { env } from "cloudflare:workers";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { importSigningKey, mintClerkToken } from "../../scripts/lib/clerk-token.mjs";

export interface TestEnv {
  CLERK_ISSUER: string;
  CLERK_JWKS_URI: string;
  TEST_SIGNING_KEY: string;
  JWKS_CACHE: KVNamespace;
  DB: D1Database;
  JWKS_STATS: Fetcher;
  GATEWAY?: Fetcher;
  MASTRA_AUTH?: string;
  GATEWAY_ASSERTION_SECRET?: string;
}

export const testEnv = env as unknown as TestEnv;

let key: Promise<{ kid: string; privateKey: CryptoKey }> | null = null;

/** A Clerk-shaped session token (v2 claims) signed with the key whose JWKS the outbound stand-in serves. */
export async function tokenFor(sub: string, options: Record<string, unknown> = {}): Promise<string> {
  key ??= importSigningKey(JSON.parse(testEnv.TEST_SIGNING_KEY));
  return mintClerkToken(await key, { issuer: testEnv.CLERK_ISSUER, sub, ttlSeconds: 600, ...options });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

/** How many times Clerk's JWKS was fetched, by any Worker of this project. */
export async function jwksFetches(): Promise<number> {
  const response = await testEnv.JWKS_STATS.fetch("http://stats/");
  return ((await response.json()) as { count: number }).count;
}

/**
 * Mastra's agent stream: `data: {json}\n\n` records ended by `data: [DONE]`. Only complete records
 * (followed by their blank line): a stream read so far may end mid-record.
 */
export function sseRecords(text: string): unknown[] {
  return text
    .split("\n\n")
    .slice(0, -1)
    .map((block) => block.trim())
    .filter((block) => block.startsWith("data: ") && block !== "data: [DONE]")
    .map((block) => JSON.parse(block.slice("data: ".length)));
}

/** The text an agent stream carried, from its text-delta chunks. */
export function streamedText(records: unknown[]): string {
  return records
    .filter((r): r is { type: string; payload: { text: string } } => (r as { type?: string }).type === "text-delta")
    .map((r) => r.payload.text)
    .join("");
}
