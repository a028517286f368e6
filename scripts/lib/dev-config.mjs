// What `npm run dev` runs where, read once from the environment, and the check that a port is
// free before anything is started on it. Kept apart from scripts/dev.mjs so tests can call them.

import { createServer } from "node:net";

export const DEV_HOST = "127.0.0.1";

/** The ports `npm run dev` binds, each with the variable that moves it. */
export const DEV_PORTS = {
  issuer: { variable: "DEV_ISSUER_PORT", fallback: 8790, what: "dev issuer" },
  upstream: { variable: "DEV_UPSTREAM_PORT", fallback: 4111, what: "demo Mastra upstream" },
  gateway: { variable: "DEV_GATEWAY_PORT", fallback: 8787, what: "gateway, wrangler dev" },
};

/** The browser origin a local front end usually runs on (Next.js, Vite with --port 3000, …). */
export const DEV_CORS_ORIGINS = "http://localhost:3000";

export class DevConfigError extends Error {
  name = "DevConfigError";
}

function portFromEnv(env, { variable, fallback }) {
  const raw = env[variable];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DevConfigError(`${variable}=${raw} is not a TCP port (1-65535)`);
  }
  return port;
}

/**
 * @param {Record<string, string | undefined>} env usually process.env
 * @returns {{
 *   issuerPort: number, gatewayPort: number,
 *   upstream: { kind: "demo", port: number, url: string } | { kind: "own", url: string },
 *   corsOrigins: string,
 * }}
 *   With MASTRA_URL set, that Mastra is the upstream and the demo is not started (its port is
 *   then neither read nor checked). CORS_ORIGINS, when set, replaces the dev default.
 */
export function readDevConfig(env) {
  const issuerPort = portFromEnv(env, DEV_PORTS.issuer);
  const gatewayPort = portFromEnv(env, DEV_PORTS.gateway);
  let upstream;
  const own = env.MASTRA_URL?.trim();
  if (own) {
    let url;
    try {
      url = new URL(own);
    } catch {
      throw new DevConfigError(`MASTRA_URL=${own} is not a URL (e.g. http://127.0.0.1:4111)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DevConfigError(`MASTRA_URL=${own} is not an http(s) URL`);
    }
    upstream = { kind: "own", url: own.replace(/\/+$/, "") };
  } else {
    const port = portFromEnv(env, DEV_PORTS.upstream);
    upstream = { kind: "demo", port, url: `http://${DEV_HOST}:${port}` };
  }
  const ports = [["issuer", issuerPort], ["gateway", gatewayPort]];
  if (upstream.kind === "demo") ports.push(["upstream", upstream.port]);
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      if (ports[i][1] === ports[j][1]) {
        const [a, b] = [DEV_PORTS[ports[i][0]], DEV_PORTS[ports[j][0]]];
        throw new DevConfigError(`${a.variable} and ${b.variable} are both ${ports[i][1]}: give each its own port`);
      }
    }
  }
  const corsOrigins = env.CORS_ORIGINS?.trim() || DEV_CORS_ORIGINS;
  return { issuerPort, gatewayPort, upstream, corsOrigins };
}

/** The message for a port someone else holds: which port, for what, and what to change. */
export function portInUseMessage(role, port) {
  const { variable, what } = DEV_PORTS[role];
  const hint = role === "upstream"
    ? `; or run your own Mastra and set MASTRA_URL (e.g. MASTRA_URL=http://127.0.0.1:${port} npm run dev) to skip the demo`
    : "";
  return `port ${port} (${what}) is already in use on ${DEV_HOST}: stop whatever holds it (another "npm run dev"?) or set ${variable} to a free port${hint}`;
}

/**
 * Resolves when `port` can be bound on the dev host (then releases it at once), rejects with
 * `portInUseMessage` when it cannot. Other listen errors are passed on as they are.
 */
export function ensurePortFree(role, port, host = DEV_HOST) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err) => {
      if (err.code === "EADDRINUSE") reject(new DevConfigError(portInUseMessage(role, port)));
      else reject(err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
