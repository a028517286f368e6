// The whole picture on 127.0.0.1: a dev issuer (Clerk stand-in with a throwaway key), the real
// Mastra demo server, and the gateway in workerd pointed at both.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevIssuer } from "../../../../scripts/dev-issuer.mjs";
import { startMastraServer } from "../../../../scripts/mastra-demo/server.mjs";
import { startGateway, type RunningGateway, type StartGatewayOptions } from "./gateway.js";

export type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;
export type Upstream = Awaited<ReturnType<typeof startMastraServer>>;
export type MintOptions = Parameters<Issuer["mint"]>[0];

export interface Stack {
  gateway: RunningGateway;
  issuer: Issuer;
  upstream: Upstream;
  /** A token the gateway accepts (dev issuer, RS256, Clerk v2 shape). */
  token(options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

export interface StartStackOptions {
  /** Gateway variables; merged over the issuer/upstream ones. `null` removes a default. */
  vars?: (ctx: { issuer: Issuer; upstream: Upstream }) => Record<string, string | null>;
  serviceBindings?: StartGatewayOptions["serviceBindings"];
  workers?: StartGatewayOptions["workers"];
  /** Options for the demo Mastra server (e.g. `parentAgent`). */
  upstream?: Parameters<typeof startMastraServer>[0];
  durableObjects?: StartGatewayOptions["durableObjects"];
  /** Options for the dev issuer (e.g. `oauthUser`, whom its OAuth authorizations are for). */
  issuer?: { oauthUser?: string };
}

/** A fresh key per stack: tests never touch the developer's `.dev/` key. */
export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  const keyDir = await mkdtemp(join(tmpdir(), "mea-e2e-key-"));
  const closers: Array<() => Promise<unknown>> = [() => rm(keyDir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    const issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "issuer-key.json"), ...options.issuer });
    closers.push(() => issuer.close());
    const upstream = await startMastraServer({ ...options.upstream, port: 0 });
    closers.push(() => upstream.close());

    const vars: Record<string, string | null> = {
      CLERK_ISSUER: issuer.issuer,
      CLERK_JWKS_URI: issuer.jwksUrl,
      MASTRA_URL: upstream.url,
      LOG_LEVEL: "warn",
      ...options.vars?.({ issuer, upstream }),
    };
    const gateway = await startGateway({
      vars: Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => e[1] !== null)),
      serviceBindings: options.serviceBindings,
      workers: options.workers,
      durableObjects: options.durableObjects,
    });
    closers.push(() => gateway.close());
    return { gateway, issuer, upstream, token: (o) => issuer.mint(o), close };
  } catch (error) {
    await close();
    throw error;
  }
}
