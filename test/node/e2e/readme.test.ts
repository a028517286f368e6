// Every wrangler.toml the README and docs/ show is what users copy, so each is tested as written:
// wrangler must accept it (deploy --dry-run, no warnings; per environment when it has some), and
// the variables and bindings wrangler reads from the README's and docs/deploy.md's files must make
// the gateway behave as the docs say, in workerd, in front of the real Mastra demo server. Only
// what cannot exist here is replaced: the Clerk instance (the dev issuer instead of the
// publishable-key secret), MASTRA_URL's host, and `main` (made absolute, since the copy is written
// to a temp dir). The @mastra/client-js example of docs/library.md runs against the gateway too.

import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { MastraClient } from "@mastra/client-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../../scripts/dev-issuer.mjs";
import { bundleWorker } from "../../../scripts/lib/bundle.mjs";
import { describeWeather, lookupWeather, startMastraServer } from "../../../scripts/mastra-demo/server.mjs";
import { COMPATIBILITY_DATE, startGateway, type RunningGateway } from "./support/gateway.js";
import type { Issuer, MintOptions, Upstream } from "./support/stack.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
const APP = "https://app.example.com";

const FIVE_STEPS = "# wrangler.toml — the gateway in front of your Mastra (five steps)";
const SERVER = "# wrangler.toml — the gateway in front of a Mastra server at MASTRA_URL";
const BINDING = "# wrangler.toml — the gateway in front of a Mastra Worker, over a service binding";
const ENVIRONMENTS = "# wrangler.toml — staging and production, each on its own domain";
const CLIENT_JS = "// @mastra/client-js through the gateway, with a fresh Clerk token on every request";

/** The Markdown pages users read: README.md and docs/*.md. */
async function pages(): Promise<Array<{ path: string; text: string }>> {
  const docs = (await readdir(join(ROOT, "docs"))).filter((f) => f.endsWith(".md")).map((f) => join("docs", f));
  return Promise.all(["README.md", ...docs].map(async (path) => ({ path, text: await readFile(join(ROOT, path), "utf8") })));
}

/** The fenced blocks of one language in every page, each with the page it is on. */
async function blocks(lang: string): Promise<Array<{ path: string; code: string }>> {
  const out: Array<{ path: string; code: string }> = [];
  for (const { path, text } of await pages()) {
    for (const m of text.matchAll(new RegExp(`^\`\`\`${lang}\n([\\s\\S]*?)^\`\`\``, "gm"))) out.push({ path, code: m[1]! });
  }
  return out;
}

/** Every ```toml block of the README and docs/, keyed by its first (comment) line. */
async function docConfigs(): Promise<Map<string, { path: string; toml: string }>> {
  const found = await blocks("toml");
  const configs = new Map<string, { path: string; toml: string }>();
  for (const { path, code } of found) {
    const key = code.split("\n", 1)[0]!;
    // A block is a whole file users can copy (so it can be checked), named by its first line.
    expect(key, `a toml block of ${path} that is not a whole wrangler.toml`).toMatch(/^# wrangler\.toml — /);
    expect(configs.has(key), `two toml blocks named ${key}`).toBe(false);
    configs.set(key, { path, toml: code });
  }
  return configs;
}

interface LoadedConfig {
  path: string;
  vars: Record<string, string>;
  services: Array<{ binding: string; service: string }>;
  dryRun: { stdout: string; stderr: string };
}

/**
 * Writes the block with an absolute `main` and build command, so wrangler can read it from a temp
 * dir. Every block builds the eager copy of src/ first (scripts/build-eager.mjs), as the
 * repository's own wrangler.toml does.
 */
async function writeConfig(dir: string, name: string, toml: string): Promise<string> {
  expect(toml.match(/^main = "\.wrangler\/eager\/src\/index\.ts"$/gm)).toHaveLength(1);
  expect(toml.match(/^\[build\]\ncommand = "node scripts\/build-eager\.mjs"\nwatch_dir = "src"$/gm)).toHaveLength(1);
  const path = join(dir, `${name}.toml`);
  const absolute = toml
    .replace(/^main = ".*"$/m, `main = ${JSON.stringify(join(ROOT, ".wrangler/eager/src/index.ts"))}`)
    .replace(/^command = "node scripts\/build-eager\.mjs"$/m, `command = ${JSON.stringify(`node ${join(ROOT, "scripts/build-eager.mjs")}`)}`)
    .replace(/^watch_dir = "src"$/m, `watch_dir = ${JSON.stringify(join(ROOT, "src"))}`);
  await writeFile(path, absolute);
  return path;
}

function stringVars(vars: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

async function load(dir: string, name: string, toml: string): Promise<LoadedConfig> {
  const path = await writeConfig(dir, name, toml);
  const { stdout, stderr } = await bundleWorker({ config: path, outdir: join(dir, `${name}-out`) });
  const dryRun = { stdout, stderr };
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: path });
  expect(config.compatibility_date).toBe(COMPATIBILITY_DATE);
  expect(config.compatibility_flags).toEqual(["enable_request_signal"]);
  expect(config.kv_namespaces.map((k) => k.binding)).toEqual(["JWKS_CACHE"]);
  const vars = stringVars(config.vars);
  const services = (config.services ?? []).map((s) => ({ binding: s.binding, service: s.service! }));
  return { path, vars, services, dryRun };
}

let dir: string;
let issuer: Issuer;
let upstream: Upstream;
let configs: Map<string, { path: string; toml: string }>;
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
  configs = await docConfigs();
  issuer = await startDevIssuer({ port: 0, keyFile: join(dir, "issuer-key.json") });
  upstream = await startMastraServer({ port: 0 });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await upstream?.close();
  await issuer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("the README and docs/deploy.md show exactly these configurations", () => {
  expect(Object.fromEntries([...configs].map(([key, { path }]) => [key, path]))).toEqual({
    [FIVE_STEPS]: "README.md",
    [SERVER]: "docs/deploy.md",
    [BINDING]: "docs/deploy.md",
    [ENVIRONMENTS]: "docs/deploy.md",
  });
});

describe("(a) an existing Mastra server over MASTRA_URL", () => {
  let config: LoadedConfig;
  let gateway: RunningGateway;

  beforeAll(async () => {
    config = await load(dir, "server", configs.get(SERVER)!.toml);
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
    config = await load(dir, "binding", configs.get(BINDING)!.toml);
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

describe("README: the five-step wrangler.toml", () => {
  let config: LoadedConfig;
  let gateway: RunningGateway;

  beforeAll(async () => {
    config = await load(dir, "five-steps", configs.get(FIVE_STEPS)!.toml);
    gateway = await startGateway({
      vars: { ...config.vars, CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl, MASTRA_URL: upstream.url },
    });
    gateways.push(gateway);
  });

  it("wrangler accepts it as written, with MASTRA_URL", () => {
    expect(config.dryRun.stdout).toContain('env.MASTRA_URL ("https://mastra.example.com")');
    expect(config.dryRun.stdout).toContain("--dry-run: exiting now.");
    expect(config.dryRun.stderr).not.toMatch(/warn|unexpected|error/i);
    expect(Object.keys(config.vars).sort()).toEqual(["CLERK_AUTHORIZED_PARTIES", "CORS_ORIGINS", "MASTRA_URL", "PUBLIC_PATHS"]);
  });

  it("step 5 as the README tells it: healthz ok, no token 401, a session token reaches Mastra", async () => {
    const mark = upstream.requests.length;
    const anonymous = await fetch(`${gateway.url}/api/agents`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: "unauthorized", reason: "session-token-missing" });
    expect(upstream.requests.slice(mark)).toEqual([]);

    const res = await fetch(`${gateway.url}/api/agents/weatherAgent/generate`, post(await issuer.mint({ sub: "user_five", azp: APP })));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { text: string }).text).toBe(describeWeather(lookupWeather("Quito")));
    expect(upstream.requests.slice(mark).map((r) => [r.path, r.headers["x-clerk-user-id"]])).toEqual([["/api/agents/weatherAgent/generate", "user_five"]]);

    // The keys are loaded now (the request above), so the health answer is the settled one.
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });
  });
});

describe("docs/deploy.md: staging and production", () => {
  type Env = "staging" | "production";
  const envs: Env[] = ["staging", "production"];
  const loaded = new Map<Env, { stdout: string; stderr: string; config: any }>();

  beforeAll(async () => {
    const path = await writeConfig(dir, "environments", configs.get(ENVIRONMENTS)!.toml);
    const { unstable_readConfig } = await import("wrangler");
    for (const env of envs) {
      const { stdout, stderr } = await bundleWorker({ config: path, args: ["--env", env], outdir: join(dir, `environments-${env}-out`) });
      loaded.set(env, { stdout, stderr, config: unstable_readConfig({ config: path, env }) });
    }
  });

  it("wrangler accepts each environment as written (deploy --dry-run --env <name>), with no warning", () => {
    for (const env of envs) {
      const { stdout, stderr } = loaded.get(env)!;
      expect(stdout, env).toContain("--dry-run: exiting now.");
      expect(stderr, env).not.toMatch(/warn|unexpected|error/i);
      for (const binding of ["env.JWKS_CACHE", "env.RL_AGENT", "env.SPEND_COUNTER (SpendCounter)", "env.MASTRA_URL"]) {
        expect(stdout, `${env}: ${binding}`).toContain(binding);
      }
    }
  });

  it("each environment repeats every binding and variable (wrangler inherits neither)", () => {
    const shape = (env: Env) => {
      const c = loaded.get(env)!.config;
      return {
        kv: c.kv_namespaces.map((k: { binding: string }) => k.binding),
        ratelimits: c.ratelimits.map((r: { name: string; simple: unknown }) => [r.name, r.simple]),
        durableObjects: c.durable_objects.bindings.map((d: { name: string; class_name: string }) => [d.name, d.class_name]),
        vars: Object.keys(c.vars).sort(),
      };
    };
    expect(shape("staging")).toEqual({
      kv: ["JWKS_CACHE"],
      ratelimits: [["RL_AGENT", { limit: 30, period: 60 }]],
      durableObjects: [["SPEND_COUNTER", "SpendCounter"]],
      vars: ["CLERK_AUTHORIZED_PARTIES", "CORS_ORIGINS", "LOG_LEVEL", "MASTRA_URL", "PUBLIC_PATHS", "RATE_LIMITS"],
    });
    expect(shape("production")).toEqual(shape("staging"));
    // Each its own rate-limit namespace and its own KV namespace.
    const ids = (env: Env) => [loaded.get(env)!.config.ratelimits[0].namespace_id, loaded.get(env)!.config.kv_namespaces[0].id];
    expect(ids("staging")[0]).not.toBe(ids("production")[0]);
    expect(ids("staging")[1]).not.toBe(ids("production")[1]);
  });

  it("each environment is on its own custom domain, with workers.dev off and its own Worker name", () => {
    const c = (env: Env) => loaded.get(env)!.config;
    expect(c("staging").routes).toEqual([{ pattern: "auth.staging.example.com", custom_domain: true }]);
    expect(c("production").routes).toEqual([{ pattern: "auth.example.com", custom_domain: true }]);
    for (const env of envs) {
      expect(c(env).workers_dev, env).toBe(false);
      expect(c(env).name, env).toBe(`mastra-gateway-${env}`);
      expect(c(env).vars.MASTRA_URL, env).toMatch(/^https:\/\//);
    }
  });

  it("each RATE_LIMITS entry states its binding's limit and period (a Worker cannot read them)", () => {
    for (const env of envs) {
      const c = loaded.get(env)!.config;
      const entries = JSON.parse(c.vars.RATE_LIMITS) as Array<{ binding: string; limit: number; period: number }>;
      for (const e of entries) {
        const binding = c.ratelimits.find((r: { name: string }) => r.name === e.binding);
        expect(binding, `${env}: ${e.binding}`).toBeDefined();
        expect({ limit: e.limit, period: e.period }).toEqual(binding.simple);
      }
    }
  });
});

describe("docs/library.md: @mastra/client-js with a fresh Clerk token per request", () => {
  let gateway: RunningGateway;
  let createMastraClient: (gatewayUrl: string, getToken: () => Promise<string | null>) => MastraClient;

  beforeAll(async () => {
    const snippet = (await blocks("ts")).filter((b) => b.code.startsWith(`${CLIENT_JS}\n`));
    expect(snippet.map((b) => b.path)).toEqual(["docs/library.md"]);
    // The example as written, its types stripped, importing the @mastra/client-js installed here.
    const js = ts.transpileModule(snippet[0]!.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    const entry = createRequire(join(ROOT, "package.json")).resolve("@mastra/client-js").replace(/index\.cjs$/, "index.js");
    expect(js).toContain('from "@mastra/client-js"');
    const file = join(dir, "client-example.mjs");
    await writeFile(file, js.replace('from "@mastra/client-js"', `from ${JSON.stringify(pathToFileURL(entry).href)}`));
    ({ createMastraClient } = await import(/* @vite-ignore */ pathToFileURL(file).href));

    gateway = await startGateway({
      vars: { CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl, MASTRA_URL: upstream.url, CLERK_AUTHORIZED_PARTIES: APP },
    });
    gateways.push(gateway);
  });

  it("asks for the token on every request, so each request carries a current one", async () => {
    const minted: string[] = [];
    // Clerk's getToken stands in: a new 60-second session token per call, as Clerk hands out.
    const getToken = async () => {
      const token = await issuer.mint({ sub: "user_client", azp: APP, ttlSeconds: 60 });
      minted.push(token);
      return token;
    };
    const mastra = createMastraClient(gateway.url, getToken);
    const mark = upstream.requests.length;

    const answer = await mastra.getAgent("weatherAgent").generate("What is the weather in Quito?");
    expect(answer.text).toBe(describeWeather(lookupWeather("Quito")));
    expect(Object.keys(await mastra.listAgents())).toContain("weather-agent");

    expect(minted).toHaveLength(2);
    expect(new Set(minted).size).toBe(2);
    const seen = upstream.requests.slice(mark);
    expect(seen.map((r) => r.headers.authorization)).toEqual(minted.map((t) => `Bearer ${t}`));
    expect(seen.map((r) => r.headers["x-clerk-user-id"])).toEqual(["user_client", "user_client"]);
  });

  it("while a token fixed in `headers` is refused once it has expired (why the example exists)", async () => {
    const minuteAgo = Math.floor(Date.now() / 1000) - 70;
    const stale = await issuer.mint({ sub: "user_client", azp: APP, ttlSeconds: 60, now: minuteAgo });
    const fixed = new MastraClient({ baseUrl: gateway.url, headers: { Authorization: `Bearer ${stale}` }, retries: 0 });
    const error: any = await fixed.listAgents().catch((e) => e);
    expect(error.status).toBe(401);
    expect(error.body).toMatchObject({ error: "unauthorized", reason: "token-expired" });
  });
});
