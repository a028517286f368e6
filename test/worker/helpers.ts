import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, expect, vi } from "vitest";
import { env as workerEnv } from "cloudflare:workers";
// @ts-expect-error plain JS module shared with the dev tooling (scripts/lib), typed loosely here
import { generateSigningKey, mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
import type { GatewayEnv } from "../../src/gateway/env.js";
import { createGateway, type Gateway, type GatewayDeps } from "../../src/gateway/app.js";
import type { LogFields, Logger, LogLevel } from "../../src/core/log.js";

export const ISSUER = "https://clerk.test.example";
export const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JsonWebKey & { kid: string };
}

export const newKey = (kid?: string): Promise<SigningKey> => generateSigningKey(kid ? { kid } : {});

/** A 1024-bit RSA key, which a JWKS must never get used: jose refuses to make one, so Web Crypto does. */
export async function newWeakKey(kid = "ins_weak"): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return { kid, privateKey: pair.privateKey, publicJwk: { kty: "RSA", n: jwk.n, e: jwk.e, kid, alg: "RS256", use: "sig" } as SigningKey["publicJwk"] };
}

/** Options as scripts/lib/clerk-token.mjs takes them (Clerk v2 claims by default). */
export type MintOptions = Record<string, unknown>;

export function mint(key: SigningKey, options: MintOptions = {}): Promise<string> {
  return mintClerkToken(key, { issuer: ISSUER, ...options });
}

/** A settable clock shared by the gateway and the tokens a test mints. */
export class Clock {
  constructor(public ms = Date.UTC(2026, 10, 25, 12, 0, 0)) {}
  now = () => this.ms;
  get seconds() {
    return Math.floor(this.ms / 1000);
  }
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

type OriginMode =
  | { kind: "serve" }
  | { kind: "status"; status: number }
  | { kind: "refuse" }
  | { kind: "hang" }
  | { kind: "body"; body: string };

/**
 * Stands in for Clerk's JWKS endpoint (the outside world): serves the keys it is given and counts
 * every request, so tests can prove how often the gateway goes to the origin.
 */
export class FakeOrigin {
  keys: SigningKey[] = [];
  mode: OriginMode = { kind: "serve" };
  requests: { url: string; authorization: string | null }[] = [];

  constructor(...keys: SigningKey[]) {
    this.keys = keys;
  }

  get count() {
    return this.requests.length;
  }

  fetch: typeof fetch = async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    this.requests.push({ url: request.url, authorization: request.headers.get("authorization") });
    const mode = this.mode;
    switch (mode.kind) {
      case "refuse":
        throw new TypeError("Network connection lost.");
      case "hang":
        // Resolves only when the caller's timeout aborts it, as a hung origin would.
        return new Promise<Response>((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        });
      case "status":
        return new Response("upstream error", { status: mode.status });
      case "body":
        return new Response(mode.body, { headers: { "content-type": "application/json" } });
      case "serve":
        return Response.json({ keys: this.keys.map((k) => k.publicJwk) });
    }
  };
}

/** Real KV binding, with every read and write counted. */
export function countingKv(kv: KVNamespace = workerEnv.JWKS_CACHE as KVNamespace) {
  const counts = { reads: 0, writes: 0 };
  const wrapped = new Proxy(kv, {
    get(target, prop) {
      if (prop === "get" || prop === "getWithMetadata") {
        return (...args: unknown[]) => {
          counts.reads++;
          return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === "put") {
        return (...args: unknown[]) => {
          counts.writes++;
          return target.put.apply(target, args as Parameters<KVNamespace["put"]>);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv: wrapped as KVNamespace, counts };
}

/** Collects the structured log lines, so tests can check what an operator would see. */
export class MemoryLogger implements Logger {
  lines: ({ level: LogLevel; event: string } & LogFields)[] = [];
  log(level: LogLevel, event: string, fields: LogFields = {}) {
    this.lines.push({ level, event, ...fields });
  }
  events(name: string) {
    return this.lines.filter((l) => l.event === name);
  }
}

/** The METRICS_TOKEN every harness gateway gets unless its env sets one: /healthz details and /metrics need it. */
export const TEST_METRICS_TOKEN = "test-metrics-token-0123456789";

export interface Harness {
  gateway: Gateway;
  /** GET /healthz with the METRICS_TOKEN bearer: the status and the key store's details. */
  health(): Promise<Response>;
  logger: MemoryLogger;
  /** Sends a request through the gateway and waits for its waitUntil work (KV writes, refreshes). */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** GET with a bearer token. */
  withToken(token: string, path?: string): Promise<Response>;
}

export function harness(env: GatewayEnv, deps: GatewayDeps = {}): Harness {
  const logger = new MemoryLogger();
  env = { METRICS_TOKEN: TEST_METRICS_TOKEN, ...env };
  const gateway = createGateway(env, { logger, ...deps });
  const request = async (path: string, init?: RequestInit) => {
    const ctx = createExecutionContext();
    const response = await gateway.fetch(new Request(`https://gateway.test${path}`, init), env, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  return {
    gateway,
    logger,
    health: () => request("/healthz", { headers: { authorization: `Bearer ${env.METRICS_TOKEN}` } }),
    request,
    withToken: (token, path = "/auth/me") => request(path, { headers: { authorization: `Bearer ${token}` } }),
  };
}

export function jwksEnv(extra: GatewayEnv = {}): GatewayEnv {
  return { CLERK_JWKS_URI: JWKS_URL, CLERK_ISSUER: ISSUER, ...extra };
}

/** A unique KV namespace view per test: keys are scoped by URL, so give each test its own URL. */
let counter = 0;
export function uniqueJwksEnv(extra: GatewayEnv = {}): GatewayEnv {
  counter++;
  return jwksEnv({ CLERK_JWKS_URI: `${ISSUER}/.well-known/jwks.json?t=${counter}-${crypto.randomUUID()}`, ...extra });
}

export async function body(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

/**
 * The misconfigured 500: the answer names only the variable to fix; what is wrong with it is in
 * the log (`config.invalid`, or `auth.rejected` when found at first use), never in the answer.
 */
export async function expectMisconfigured(response: Response, logger: MemoryLogger, variable: string, detail: RegExp): Promise<void> {
  expect(response.status).toBe(500);
  expect(await body(response)).toEqual({ error: "misconfigured", variable, message: `the gateway is misconfigured: check ${variable}` });
  const logged = logger.lines.filter((l) => l.variable === variable && typeof l.message === "string").map((l) => l.message as string);
  expect(logged.some((m) => detail.test(m)), `a log line for ${variable} matching ${detail}; got ${JSON.stringify(logged)}`).toBe(true);
}

/**
 * Fails each test of the calling file (or describe block) that leaves a promise rejected with
 * nobody listening. workerd dispatches `unhandledrejection` on globalThis, as browsers do, and
 * from a later task: one macrotask turn after the test lets a late one be reported.
 */
export function failOnUnhandledRejections(): void {
  let unhandled: unknown[] = [];
  const listener = (event: PromiseRejectionEvent) => {
    unhandled.push(event.reason);
  };
  beforeEach(() => {
    unhandled = [];
    globalThis.addEventListener("unhandledrejection", listener);
  });
  afterEach(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    globalThis.removeEventListener("unhandledrejection", listener);
    expect(unhandled.map(String)).toEqual([]);
  });
}

/**
 * Runs `run` with an HTTP upstream (MASTRA_URL) that refuses connections, as the gateway's
 * global fetch meets one: rejected with the error workerd gives. Stubbed, not dialled (a closed
 * port such as http://127.0.0.1:1): workerd, which vitest-pool-workers runs with --verbose, logs
 * every refused subrequest as "uncaught exception; source = Uncaught (in promise) ... Network
 * connection lost." even when the caller catches it (an INFO log of its own:
 * IoContext::logUncaughtExceptionAsync, workerd src/workerd/io/io-context.c++, "Run with
 * --verbose to see exception logs"), which reads as an unhandled rejection and hides real ones.
 * A real refused port is met on real workerd in test/node/e2e/failures.test.ts and
 * test/node/chaos-upstream.test.ts. Returns what `run` returns and the URLs it tried.
 */
export async function withRefusedHttpUpstream<T>(run: () => Promise<T>): Promise<{ result: T; tried: string[] }> {
  const tried: string[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    tried.push(new Request(input as RequestInfo, init).url);
    throw new Error("Network connection lost.");
  });
  try {
    return { result: await run(), tried };
  } finally {
    spy.mockRestore();
  }
}
