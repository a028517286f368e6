#!/usr/bin/env node
// `npm run dev`: the whole stack on loopback without reaching Clerk or the
// internet — dev issuer (in-process) → Worker under `wrangler dev` → demo
// Mastra upstream — and one shutdown path that takes every child with it.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";

import { startDevIssuer } from "./dev-issuer.mjs";
import { DEV_HOST as HOST, DevConfigError, ensurePortFree, portInUseMessage, readDevConfig } from "./lib/dev-config.mjs";
import { PROJECT_ROOT } from "./lib/dev-key.mjs";

const SHUTDOWN_GRACE_MS = 5000;
const DEFAULT_ISSUER = "http://127.0.0.1:8790";

let config;
try {
  config = readDevConfig(process.env);
} catch (err) {
  if (!(err instanceof DevConfigError)) throw err;
  console.error(`[dev] ${err.message}`);
  process.exit(2);
}
const { issuerPort, gatewayPort, upstream, corsOrigins } = config;
const gatewayUrl = `http://${HOST}:${gatewayPort}`;
const upstreamUrl = upstream.url;
const upstreamScript = join(PROJECT_ROOT, "scripts", "mastra-demo", "server.mjs");

const log = (msg) => console.log(`[dev] ${msg}`);
// Wrangler colours its output even through a pipe on some terminals; readiness
// is detected from that text, so colour codes must not get in the way.
// eslint-disable-next-line no-control-regex
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "");

/** @type {Map<string, import("node:child_process").ChildProcess>} */
const children = new Map();
// Process groups outlive their leader: remembered until exit so the exit hook
// can sweep a group whose leader already died (e.g. workerd left behind).
const groups = new Set();
let issuer;
let shuttingDown = false;

function pipeLines(stream, prefix, onLine) {
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
    console.log(`${prefix} ${line}`);
    onLine?.(stripAnsi(line));
  });
}

function startChild(name, args, env) {
  // Own process group (detached) so that shutdown signals the child together
  // with everything it spawned. wrangler's launcher does not forward signals to
  // its CLI process (which owns workerd); today the CLI exits when the
  // launcher's IPC channel closes, but stopping the group does not rely on it.
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  children.set(name, child);
  groups.add(child.pid);
  child.once("exit", () => children.delete(name));
  return child;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch (err) {
    if (err.code === "ESRCH") return false;
    throw err;
  }
}

async function stopChild(name, child) {
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", resolve));
  signalGroup(child, "SIGTERM");
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(resolve, SHUTDOWN_GRACE_MS, "timeout");
  });
  const outcome = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") log(`${name} did not stop within ${SHUTDOWN_GRACE_MS} ms; killing it`);
  // Also after a clean exit of the direct child: a grandchild that ignored
  // SIGTERM would otherwise outlive us. Exited-but-unreaped members (zombies)
  // still count as group members, so the result of this signal says nothing.
  signalGroup(child, "SIGKILL");
}

async function shutdown(code, reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (reason) log(reason);
  await Promise.all([...children].map(([name, child]) => stopChild(name, child)));
  await issuer?.close();
  process.exit(code);
}

// Last line of defence (uncaught error, process.exit elsewhere): no orphans.
process.on("exit", () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
let firstSignalAt = 0;
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(signal, () => {
    if (shuttingDown) {
      // One Ctrl-C under `npm run dev` arrives twice (from the terminal and
      // forwarded by npm); only a later, deliberate second one skips the
      // graceful stop (the exit hook still kills every child group).
      if (Date.now() - firstSignalAt > 1000) process.exit(code);
      return;
    }
    firstSignalAt = Date.now();
    void shutdown(code, `${signal} received, stopping`);
  });
}
// `npm run dev` runs us under `sh -c`; a SIGTERM to npm (e.g. `kill $!` on a
// backgrounded `npm run dev`) ends npm and the shell without reaching us, so
// being re-parented is the only sign left that whoever started us is gone.
// Only under npm: `node scripts/dev.mjs &` from a short-lived shell is meant
// to outlive that shell.
if (process.env.npm_lifecycle_event) {
  const launcherPid = process.ppid;
  setInterval(() => {
    if (process.ppid !== launcherPid) void shutdown(143, "npm exited, stopping");
  }, 500).unref();
}
process.on("uncaughtException", (err) => {
  console.error(err);
  void shutdown(1, "stopping after an unexpected error");
});

/** Stops everything and exits 1, with `message` as the last word. */
function fail(message) {
  console.error(`[dev] ${message}`);
  void shutdown(1);
}

async function startIssuer() {
  try {
    issuer = await startDevIssuer({ port: issuerPort, host: HOST });
  } catch (err) {
    if (err.code === "EADDRINUSE") throw new DevConfigError(portInUseMessage("issuer", issuerPort));
    throw err;
  }
  log(`dev issuer ${issuer.issuer} (kid ${issuer.key.kid}, key ${issuer.keyCreated ? "created" : "loaded"}: ${relative(PROJECT_ROOT, issuer.keyPath)})`);
}

// Settles once the demo upstream has printed its ready line: true then, false when there is no
// demo to wait for. While it is starting, its exit stops everything: a demo that never came up
// (its port taken after all, a crash on import) must not leave a gateway that reports it ready.
let upstreamReady = Promise.resolve(false);
let upstreamUp = false;

function startUpstream() {
  if (upstream.kind === "own") {
    log(`upstream: your Mastra at ${upstreamUrl} (MASTRA_URL is set, so the demo upstream is not started)`);
    return;
  }
  if (!existsSync(upstreamScript)) {
    log(`demo upstream absent (${relative(PROJECT_ROOT, upstreamScript)} does not exist): starting without one; proxied routes will fail to reach ${upstreamUrl}`);
    return;
  }
  const child = startChild("mastra", [upstreamScript, "--port", String(upstream.port)]);
  let portTaken = false;
  upstreamReady = new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (line.includes("EADDRINUSE")) portTaken = true;
      if (!upstreamUp && line.startsWith("mastra demo upstream on ")) {
        upstreamUp = true;
        resolve(true);
      }
    };
    pipeLines(child.stdout, "[mastra]", onLine);
    pipeLines(child.stderr, "[mastra]", onLine);
    child.once("exit", (code, signal) => {
      if (shuttingDown) return;
      const how = signal ?? `code ${code}`;
      if (!upstreamUp) {
        reject(new DevConfigError(portTaken
          ? portInUseMessage("upstream", upstream.port)
          : `the demo upstream exited (${how}) before it was ready; see the [mastra] lines above`));
        return;
      }
      upstreamUp = false;
      log(`demo upstream exited (${how}); the gateway keeps running, proxied routes will answer 502`);
    });
  });
  upstreamReady.catch((err) => fail(err.message));
  log(`demo upstream starting: node ${relative(PROJECT_ROOT, upstreamScript)} --port ${upstream.port}`);
}

function startGateway() {
  const require = createRequire(import.meta.url);
  const wranglerBin = join(require.resolve("wrangler/package.json"), "..", "bin", "wrangler.js");
  const vars = {
    CLERK_ISSUER: issuer.issuer,
    CLERK_JWKS_URI: issuer.jwksUrl,
    MASTRA_URL: upstreamUrl,
    // Empty on purpose: tokens from `npm run token` and from pages on any local
    // origin should pass; the Worker treats an empty list as "not checked".
    CLERK_AUTHORIZED_PARTIES: "",
    // A front end on the usual local port can call the gateway from the browser.
    CORS_ORIGINS: corsOrigins,
  };
  const args = [
    wranglerBin,
    "dev",
    "--ip", HOST,
    "--port", String(gatewayPort),
    "--persist-to", ".wrangler/state",
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const child = startChild("wrangler", args, {
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_HIDE_BANNER: "true",
  });
  log(`wrangler dev starting on ${gatewayUrl} (vars: ${Object.entries(vars).map(([k, v]) => `${k}=${v === "" ? '""' : v}`).join(", ")})`);

  let announced = false;
  let portTaken = false;
  const onLine = (line) => {
    if (/Address already in use/.test(line)) portTaken = true;
    if (announced || !/\bReady on http/.test(line)) return;
    announced = true;
    void announceReady();
  };
  pipeLines(child.stdout, "[wrangler]", onLine);
  pipeLines(child.stderr, "[wrangler]", onLine);
  child.once("exit", (code, signal) => {
    if (shuttingDown) return;
    const how = signal ?? `code ${code}`;
    if (!announced && portTaken) return fail(portInUseMessage("gateway", gatewayPort));
    void shutdown(code || 1, announced
      ? `wrangler dev exited (${how}); stopping`
      : `wrangler dev exited (${how}) before the gateway was ready; see the [wrangler] lines above`);
  });
}

/** What to tell about the upstream: only what is known, never a port someone else answers on. */
async function describeUpstream() {
  if (upstream.kind === "own") return `${upstreamUrl} (yours, from MASTRA_URL)`;
  if (!existsSync(upstreamScript)) return "absent";
  try {
    if (!(await upstreamReady)) return "absent";
  } catch {
    return "failed";
  }
  return upstreamUp ? `demo Mastra on ${upstreamUrl}` : `demo Mastra exited (was ${upstreamUrl})`;
}

async function announceReady() {
  let health;
  try {
    const res = await fetch(`${gatewayUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
    health = `${res.status} ${(await res.text()).slice(0, 200)}`;
    if (!res.ok) log(`gateway answered ${gatewayUrl}/healthz with ${health}`);
  } catch (err) {
    log(`gateway reported ready but ${gatewayUrl}/healthz failed: ${err.cause?.message ?? err.message}`);
    return;
  }
  const upstreamState = await describeUpstream();
  if (shuttingDown) return;
  // `npm run token` signs for the default issuer; on another port it must be told.
  const tokenArgs = issuer.issuer === DEFAULT_ISSUER ? "" : ` --issuer ${issuer.issuer}`;
  const token = (opts) => `$(npm run -s token --${tokenArgs} ${opts})`;
  console.log(`
[dev] ready: gateway ${gatewayUrl} (healthz ${health.split(" ")[0]}), issuer ${issuer.issuer}, upstream ${upstreamState}
[dev] try:
  curl -s ${gatewayUrl}/healthz
  curl -s -H "Authorization: Bearer ${token("--sub user_1")}" ${gatewayUrl}/auth/me
  curl -s -H "Authorization: Bearer ${token("--sub user_1 --org org_1 --role admin --perm org:agents:read")}" ${gatewayUrl}/api/agents
[dev] tokens: npm run -s token -- --help   |   browser: fetch("${issuer.issuer}/token?sub=user_1")   |   CORS_ORIGINS=${corsOrigins}${
    upstream.kind === "demo" ? `\n[dev] MCP: point an MCP client at ${gatewayUrl}/api/mcp/weather/mcp (OAuth through the dev issuer, consent automatic; docs/mcp.md)` : ""
  }
[dev] Ctrl-C stops everything
`);
}

try {
  // Every port is checked before anything starts, so a taken one stops us with its name and the
  // variable to change — not halfway, with a banner about a process that is not ours.
  await ensurePortFree("issuer", issuerPort);
  if (upstream.kind === "demo") await ensurePortFree("upstream", upstream.port);
  await ensurePortFree("gateway", gatewayPort);
  await startIssuer();
} catch (err) {
  if (!(err instanceof DevConfigError)) throw err;
  fail(err.message);
}
if (!shuttingDown) {
  startUpstream();
  startGateway();
}
