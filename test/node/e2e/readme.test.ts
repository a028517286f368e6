// The two wrangler.toml files in README "Put it in front of Mastra" are what users copy, so they
// are tested as written: wrangler must accept each (deploy --dry-run, no warnings), and the
// variables and bindings wrangler reads from each must make the gateway behave as the README says,
// in workerd, in front of the real Mastra demo server. Only what cannot exist here is replaced:
// the Clerk instance (the dev issuer instead of the publishable-key secret), MASTRA_URL's host,
// and `main` (made absolute, since the copy is written to a temp dir).

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../../scripts/dev-issuer.mjs";
import { bundleWorker } from "../../../scripts/lib/bundle.mjs";
import { describeWeather, lookupWeather, startMastraServer } from "../../../scripts/mastra-demo/server.mjs";
import { COMPATIBILITY_DATE, startGateway, type RunningGateway } from "./support/gateway.js";
import type { Issuer, MintOptions, Upstream } from "./support/stack.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
const APP = "https://app.example.com";

/** The ```toml blocks of the README section, keyed by their first (comment) line. */
async function readmeConfigs(): Promise<Map<string, string>> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Put it in front of Mastra\n");
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return new Map(blocks.map((b) => [b.split("\n", 1)[0]!, b]));
}

interface LoadedConfig {
  path: string;
  vars: Record<string, string>;
  services: Array<{ binding: string; service: string }>;
  dryRun: { stdout: string; stderr: string };
}

async function load(dir: string, name: string, toml: string): Promise<LoadedConfig> {
  expect(toml.match(/^main = "src\/index\.ts"$/gm)).toHaveLength(1);
  const path = join(dir, `${name}.toml`);
  await writeFile(path, toml.replace(/^main = "src\/index\.ts"$/m, `main = ${JSON.stringify(join(ROOT, "src/index.ts"))}`));
  const { stdout, stderr } = await bundleWorker({ config: path, outdir: join(dir, `${name}-out`) });
  const dryRun = { stdout, stderr };
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: path });
  expect(config.compatibility_date).toBe(COMPATIBILITY_DATE);
  expect(config.compatibility_flags).toEqual(["enable_request_signal"]);
  expect(config.kv_namespaces.map((k) => k.binding)).toEqual(["JWKS_CACHE"]);
  const vars = Object.fromEntries(Object.entries(config.vars).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  const services = (config.services ?? []).map((s) => ({ binding: s.binding, service: s.service! }));
  return { path, vars, services, dryRun };
}

let dir: string;
let issuer: Issuer;
let upstream: Upstream;
let configs: Map<string, string>;
const gateways: RunningGateway[] = [];

const ADMIN: MintOptions = {
  sub: "user_admin",
  azp: APP,
  ttlSeconds: 600,
  org: { id: "org_acme", role: "admin", permissions: ["org:workflows:run"] },
};
const MEMBER: MintOptions = { sub: "user_member", azp: APP, ttlSeconds: 600, org: { id: "org_acme", role: "member" } };

function post(token: string, body: unknown = { messages: "What is the weather in Quito?" }): RequestInit {
  return { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mea-readme-"));
  configs = await readmeConfigs();
  issuer = await startDevIssuer({ port: 0, keyFile: join(dir, "issuer-key.json") });
  upstream = await startMastraServer({ port: 0 });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await upstream?.close();
  await issuer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("the README section has exactly the two configurations", () => {
  expect([...configs.keys()]).toEqual([
    "# wrangler.toml — the gateway in front of a Mastra server at MASTRA_URL",
    "# wrangler.toml — the gateway in front of a Mastra Worker, over a service binding",
  ]);
});

describe("(a) an existing Mastra server over MASTRA_URL", () => {
  let config: LoadedConfig;
  let gateway: RunningGateway;

  beforeAll(async () => {
    config = await load(dir, "server", configs.get("# wrangler.toml — the gateway in front of a Mastra server at MASTRA_URL")!);
    gateway = await startGateway({
      vars: { ...config.vars, CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl, MASTRA_URL: upstream.url },
    });
    gateways.push(gateway);
  });

  it("wrangler accepts it as written", () => {
    expect(config.dryRun.stdout).toContain("env.JWKS_CACHE");
    expect(config.dryRun.stdout).toContain('env.MASTRA_URL ("https://mastra.example.com")');
    expect(config.dryRun.stdout).toContain("--dry-run: exiting now.");
    expect(config.dryRun.stderr).not.toMatch(/warn|unexpected|error/i);
    expect(config.services).toEqual([]);
  });

  it("admins-only covers both spellings of the agent, for generate and stream", async () => {
    const member = await issuer.mint(MEMBER);
    const mark = upstream.requests.length;
    for (const agent of ["weatherAgent", "weather-agent"]) {
      for (const action of ["generate", "stream"]) {
        const res = await fetch(`${gateway.url}/api/agents/${agent}/${action}`, post(member));
        expect(res.status, `${agent}/${action}`).toBe(403);
        expect(await res.json()).toEqual({ error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" });
      }
    }
    expect(upstream.requests.slice(mark)).toEqual([]);

    const admin = await issuer.mint(ADMIN);
    for (const agent of ["weatherAgent", "weather-agent"]) {
      const res = await fetch(`${gateway.url}/api/agents/${agent}/generate`, post(admin));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Quito")));
    }
    // A member may still list and read agents: the rule is about POSTs.
    expect((await fetch(`${gateway.url}/api/agents`, { headers: { authorization: `Bearer ${member}` } })).status).toBe(200);
  });

  it("workflows need org:workflows:run", async () => {
    const denied = await fetch(`${gateway.url}/api/workflows/weatherWorkflow/create-run`, post(await issuer.mint(MEMBER), {}));
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ reason: "org-permission-missing", rule: "workflows-need-permission" });
    const allowed = await fetch(`${gateway.url}/api/workflows/weatherWorkflow/create-run`, post(await issuer.mint(ADMIN), {}));
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toHaveProperty("runId");
  });

  it("CLERK_AUTHORIZED_PARTIES and CORS_ORIGINS name the app", async () => {
    const elsewhere = await fetch(`${gateway.url}/api/agents`, { headers: { authorization: `Bearer ${await issuer.mint({ ...ADMIN, azp: "https://evil.example" })}` } });
    expect(elsewhere.status).toBe(401);
    expect(await elsewhere.json()).toMatchObject({ reason: "token-invalid-authorized-parties" });

    const preflight = await fetch(`${gateway.url}/api/agents/weatherAgent/stream`, {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("Mastra's public paths need no token", async () => {
    const mark = upstream.requests.length;
    expect((await fetch(`${gateway.url}/api/auth/capabilities`)).status).toBe(200);
    expect(upstream.requests.slice(mark).map((r) => r.path)).toEqual(["/api/auth/capabilities"]);
  });
});

describe("(b) a Mastra Worker over the MASTRA service binding", () => {
  let config: LoadedConfig;
  let gateway: RunningGateway;

  beforeAll(async () => {
    config = await load(dir, "binding", configs.get("# wrangler.toml — the gateway in front of a Mastra Worker, over a service binding")!);
    const [service] = config.services;
    // Stands in for the Mastra Worker: relays to the real Mastra server, so Mastra itself answers.
    const relay = `export default { fetch(request, env) { const u = new URL(request.url); return fetch(env.ORIGIN + u.pathname + u.search, request); } };`;
    gateway = await startGateway({
      vars: { ...config.vars, CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl },
      serviceBindings: { [service!.binding]: service!.service },
      workers: [{ name: service!.service, modules: true, script: relay, compatibilityDate: COMPATIBILITY_DATE, bindings: { ORIGIN: upstream.url } }],
    });
    gateways.push(gateway);
  });

  it("wrangler accepts it as written, with the binding", () => {
    expect(config.services).toEqual([{ binding: "MASTRA", service: "my-mastra-worker" }]);
    expect(config.vars.MASTRA_URL).toBeUndefined();
    expect(config.dryRun.stdout).toContain("env.MASTRA");
    expect(config.dryRun.stdout).toContain("my-mastra-worker");
    expect(config.dryRun.stderr).not.toMatch(/warn|unexpected|error/i);
  });

  it("admins-only covers both spellings; the Worker gets the identity but not the token", async () => {
    const member = await issuer.mint(MEMBER);
    const mark = upstream.requests.length;
    for (const agent of ["weatherAgent", "weather-agent"]) {
      const res = await fetch(`${gateway.url}/api/agents/${agent}/generate`, post(member));
      expect(res.status, agent).toBe(403);
      expect(await res.json()).toEqual({ error: "forbidden", reason: "org-role-not-allowed", rule: "admins-only" });
    }
    expect(upstream.requests.slice(mark)).toEqual([]);

    const res = await fetch(`${gateway.url}/api/agents/weather-agent/generate`, post(await issuer.mint(ADMIN)));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Quito")));
    const [seen] = upstream.requests.slice(mark);
    expect(seen!.path).toBe("/api/agents/weather-agent/generate");
    expect(seen!.headers["x-clerk-user-id"]).toBe("user_admin");
    expect(seen!.headers["x-clerk-org-role"]).toBe("org:admin");
    expect(seen!.headers.authorization).toBeUndefined();
  });
});
