// `npm run dev` as a new user meets it: which ports it takes and how to move them, a port that is
// taken (a clear stop naming the port and the variable, never a banner about someone else's
// process), and bringing your own Mastra with MASTRA_URL (the demo is not started). Loopback only;
// every wait is on an event (a line printed, a process exiting), bounded by the test's timeout.

import { spawn } from "node:child_process";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";

import {
  DEV_CORS_ORIGINS,
  DEV_PORTS,
  DevConfigError,
  ensurePortFree,
  portInUseMessage,
  readDevConfig,
} from "../../scripts/lib/dev-config.mjs";
import { PROJECT_ROOT } from "../../scripts/lib/dev-key.mjs";
import { startMastraServer } from "../../scripts/mastra-demo/server.mjs";

const held: Server[] = [];
const runs: DevRun[] = [];
afterEach(async () => {
  // Also after a failed or timed-out test: no dev stack may outlive it.
  await Promise.all(runs.splice(0).map((r) => r.stop()));
  await Promise.all(held.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A loopback port held open by this test (someone else's process, to dev.mjs). */
async function holdPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  held.push(server);
  return (server.address() as AddressInfo).port;
}

/** Free loopback ports, held open together so they are distinct, then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, async () => {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return server;
  }));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

interface DevRun {
  output: string[];
  /**
   * Resolves with the first line (already printed or future) that matches; rejects if dev exits
   * first or wrangler cannot build the Worker (it would wait for a fix forever).
   */
  line(match: (line: string) => boolean): Promise<string>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

function startDev(env: Record<string, string>): DevRun {
  const base = { ...process.env };
  // The developer's own environment must not change what is tested.
  for (const name of ["MASTRA_URL", "CORS_ORIGINS", ...Object.values(DEV_PORTS).map((p) => p.variable)]) delete base[name];
  const child = spawn(process.execPath, [join(PROJECT_ROOT, "scripts", "dev.mjs")], {
    cwd: PROJECT_ROOT,
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      output.push(line);
      if (/Build failed/.test(line)) {
        for (const w of waiters) w.reject(new Error(`wrangler could not build the Worker:\n${output.join("\n")}`));
        waiters.clear();
      }
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const run: DevRun = {
    output,
    exited,
    line(match) {
      const seen = output.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.add({ match, resolve, reject });
        void exited.then((code) => reject(new Error(`dev exited (${code}) first:\n${output.join("\n")}`)));
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  runs.push(run);
  return run;
}

describe("readDevConfig", () => {
  it("defaults to the documented ports, the demo upstream and http://localhost:3000 in CORS", () => {
    expect(readDevConfig({})).toEqual({
      issuerPort: 8790,
      gatewayPort: 8787,
      upstream: { kind: "demo", port: 4111, url: "http://127.0.0.1:4111" },
      corsOrigins: "http://localhost:3000",
    });
    expect(DEV_CORS_ORIGINS).toBe("http://localhost:3000");
  });

  it("moves each port with its DEV_* variable and refuses what is not a port, naming the variable", () => {
    expect(readDevConfig({ DEV_ISSUER_PORT: "9001", DEV_UPSTREAM_PORT: "9002", DEV_GATEWAY_PORT: "9003" })).toMatchObject({
      issuerPort: 9001,
      gatewayPort: 9003,
      upstream: { kind: "demo", port: 9002 },
    });
    for (const [variable, value] of [["DEV_GATEWAY_PORT", "80a"], ["DEV_ISSUER_PORT", "0"], ["DEV_UPSTREAM_PORT", "65536"], ["DEV_GATEWAY_PORT", "1.5"]]) {
      expect(() => readDevConfig({ [variable!]: value })).toThrow(new DevConfigError(`${variable}=${value} is not a TCP port (1-65535)`));
    }
    expect(() => readDevConfig({ DEV_ISSUER_PORT: "8787" })).toThrow(/DEV_ISSUER_PORT and DEV_GATEWAY_PORT are both 8787/);
  });

  it("with MASTRA_URL, that Mastra is the upstream and the demo port is not even read", () => {
    expect(readDevConfig({ MASTRA_URL: "http://127.0.0.1:4111/", DEV_UPSTREAM_PORT: "not a port" })).toMatchObject({
      upstream: { kind: "own", url: "http://127.0.0.1:4111" },
    });
    expect(() => readDevConfig({ MASTRA_URL: "127.0.0.1:4111" })).toThrow(/MASTRA_URL=127.0.0.1:4111 is not an http\(s\) URL|is not a URL/);
  });

  it("takes CORS_ORIGINS from the environment when set", () => {
    expect(readDevConfig({ CORS_ORIGINS: "http://localhost:5173" }).corsOrigins).toBe("http://localhost:5173");
  });
});

describe("ensurePortFree", () => {
  it("rejects a taken port with its number, what it is for and the variable to change", async () => {
    const port = await holdPort();
    await expect(ensurePortFree("gateway", port)).rejects.toThrow(portInUseMessage("gateway", port));
    expect(portInUseMessage("gateway", port)).toContain(`port ${port}`);
    expect(portInUseMessage("gateway", port)).toContain("set DEV_GATEWAY_PORT");
    expect(portInUseMessage("upstream", port)).toContain("set DEV_UPSTREAM_PORT");
    expect(portInUseMessage("upstream", port)).toContain("MASTRA_URL");
    expect(portInUseMessage("issuer", port)).toContain("set DEV_ISSUER_PORT");
  });

  it("resolves for a free port and leaves it free", async () => {
    const [port] = await freePorts(1);
    await ensurePortFree("issuer", port!);
    await ensurePortFree("issuer", port!);
  });
});

describe("npm run dev with a taken port", () => {
  for (const role of ["issuer", "upstream", "gateway"] as const) {
    it(`stops at once when the ${DEV_PORTS[role].what} port is taken, naming it and ${DEV_PORTS[role].variable}`, async () => {
      const busy = await holdPort();
      const [a, b, c] = await freePorts(3);
      const ports = { DEV_ISSUER_PORT: String(a), DEV_UPSTREAM_PORT: String(b), DEV_GATEWAY_PORT: String(c), [DEV_PORTS[role].variable]: String(busy) };
      const dev = startDev(ports);
      expect(await dev.exited).toBe(1);
      const said = dev.output.join("\n");
      expect(said).toContain(`[dev] ${portInUseMessage(role, busy)}`);
      // Nothing was started: no banner, no wrangler, no demo.
      expect(said).not.toContain("[dev] ready:");
      expect(said).not.toContain("[wrangler]");
      expect(said).not.toContain("[mastra]");
    }, 30_000);
  }
});

describe("npm run dev with your own Mastra (MASTRA_URL)", () => {
  it("does not start the demo, forwards to MASTRA_URL and allows http://localhost:3000 in CORS", async () => {
    const mine = await startMastraServer({ port: 0 });
    // The demo's port is held by someone else: had dev tried to start the demo, it would stop.
    const demoPort = await holdPort();
    const [issuerPort, gatewayPort] = await freePorts(2);
    const dev = startDev({
      MASTRA_URL: mine.url,
      DEV_UPSTREAM_PORT: String(demoPort),
      DEV_ISSUER_PORT: String(issuerPort),
      DEV_GATEWAY_PORT: String(gatewayPort),
    });
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    try {
      const ready = await dev.line((l) => l.startsWith("[dev] ready:"));
      expect(ready).toContain(`upstream ${mine.url} (yours, from MASTRA_URL)`);
      expect(dev.output.join("\n")).toContain(`curl -s -H "Authorization: Bearer $(npm run -s token -- --issuer http://127.0.0.1:${issuerPort} --sub user_1)" ${gateway}/auth/me`);
      expect(dev.output.filter((l) => l.startsWith("[mastra]"))).toEqual([]);

      const { token } = (await (await fetch(`http://127.0.0.1:${issuerPort}/token?sub=user_own`)).json()) as { token: string };
      const mark = mine.requests.length;
      const res = await fetch(`${gateway}/api/agents`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toHaveProperty("weather-agent");
      expect(mine.requests.slice(mark).map((r) => [r.path, r.headers["x-clerk-user-id"]])).toEqual([["/api/agents", "user_own"]]);

      const preflight = await fetch(`${gateway}/api/agents/weatherAgent/stream`, {
        method: "OPTIONS",
        headers: { origin: "http://localhost:3000", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
      const elsewhere = await fetch(`${gateway}/api/agents`, { method: "OPTIONS", headers: { origin: "http://localhost:4000", "access-control-request-method": "GET" } });
      expect(elsewhere.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      expect(await dev.stop()).toBe(143);
      await mine.close();
    }
  }, 120_000);
});
