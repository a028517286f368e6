// Starts the gateway Worker (src/index.ts) the way it is deployed: bundled by wrangler
// (`wrangler deploy --dry-run`, the same esbuild step a deploy runs) and run in workerd through
// Miniflare, on 127.0.0.1 and an ephemeral port. No wrangler dev proxy in between, so what a test
// sees on the wire is what the Worker sent.

import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Miniflare, type WorkerOptions } from "miniflare";
import { bundleWorker } from "../../../../scripts/lib/bundle.mjs";

/** Same values as wrangler.toml; workerd accepts compatibility dates up to 2026-05-03. */
export const COMPATIBILITY_DATE = "2026-05-01";
export const COMPATIBILITY_FLAGS = ["enable_request_signal"];

let bundled: Promise<string> | undefined;

/** Bundles the Worker once per test file (module instance) and keeps the code in memory. */
export function bundleGateway(): Promise<string> {
  bundled ??= bundleWorker({ inMemory: true }).then((b) => b.code);
  return bundled;
}

/** One JSON log line the Worker wrote (`src/log/logger.ts`). */
export interface GatewayLogLine {
  level: string;
  event: string;
  [field: string]: unknown;
}

export interface StartGatewayOptions {
  /** Worker variables (all strings), e.g. CLERK_ISSUER, MASTRA_URL, AUTH_RULES. */
  vars: Record<string, string>;
  /**
   * Service bindings of the gateway: `{ MASTRA: "echo" }` binds the auxiliary worker named
   * "echo" from `workers`.
   */
  serviceBindings?: WorkerOptions["serviceBindings"];
  /** Extra Workers run in the same workerd process (e.g. a Mastra stand-in behind a binding). */
  workers?: WorkerOptions[];
  /** Durable Object bindings of the gateway, e.g. `{ SPEND_COUNTER: "SpendCounter" }` for exact limits. */
  durableObjects?: WorkerOptions["durableObjects"];
}

export interface RunningGateway {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  mf: Miniflare;
  /** Every JSON line the Worker logged so far (set LOG_LEVEL to choose how many). */
  logs: GatewayLogLine[];
  /** Resolves with the first log line (already written or future) that matches. */
  whenLogged(match: (line: GatewayLogLine) => boolean): Promise<GatewayLogLine>;
  close(): Promise<void>;
}

export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const code = await bundleGateway();
  const logs: GatewayLogLine[] = [];
  const waiters = new Set<{ match: (l: GatewayLogLine) => boolean; resolve: (l: GatewayLogLine) => void }>();
  const collect = (stream: Readable) => {
    createInterface({ input: stream }).on("line", (text) => {
      let line: GatewayLogLine | undefined;
      const start = text.indexOf("{");
      try {
        line = start === -1 ? undefined : JSON.parse(text.slice(start));
      } catch {
        line = undefined;
      }
      if (typeof line?.event !== "string") {
        // Not the Worker's own log: workerd's diagnostics, worth seeing when something breaks.
        process.stderr.write(`[workerd] ${text}\n`);
        return;
      }
      logs.push(line);
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    });
  };

  const gateway: WorkerOptions = {
    name: "gateway",
    modules: [{ type: "ESModule", path: "index.js", contents: code }],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    kvNamespaces: ["JWKS_CACHE"],
    bindings: options.vars,
    serviceBindings: options.serviceBindings,
    durableObjects: options.durableObjects,
  };
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    // The Worker's JSON log lines come out on workerd's stdout/stderr; tests read them from here.
    handleRuntimeStdio: (stdout, stderr) => {
      collect(stdout);
      collect(stderr);
    },
    // The first worker is the one served on the port.
    workers: [gateway, ...(options.workers ?? [])],
  });
  const url = await mf.ready;
  const base = url.origin;
  return {
    url: base,
    port: Number(url.port),
    mf,
    logs,
    whenLogged(match) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    close: () => mf.dispose(),
  };
}
