// The template Mastra Worker as it would be deployed: `wrangler deploy --dry-run` bundles it
// offline under the free plan's 3 MiB, and the bundle itself (with the define, the aliases and
// minify of examples/mastra-worker/wrangler.toml) starts in workerd and serves an agent call.
// The workerd tests (test/mastra-worker) run the source under vitest, where none of the patches
// are needed; this is the test that they work.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS module shared with the dev tooling
import { generateSigningKey, mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
// @ts-expect-error plain JS module shared with the bench
import { dryRunBundle, FREE_PLAN_GZIP_BYTES, startBundle } from "../../scripts/lib/mastra-worker.mjs";

const ISSUER = "https://clerk.bundle.test";

let outdir: string;
let bundle: { scriptPath: string; gzipBytes: number; stdout: string; code?: string };

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), "mea-mastra-worker-"));
  bundle = await dryRunBundle({ outdir: join(outdir, "bundle") });
}, 300_000);

afterAll(async () => {
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

describe("examples/mastra-worker: wrangler deploy --dry-run", () => {
  it("bundles offline, with its D1 and KV bindings, under the free plan's 3 MiB gzipped", async () => {
    expect(bundle.stdout).toContain("env.DB (mastra)");
    expect(bundle.stdout).toContain("env.JWKS_CACHE");
    expect(bundle.stdout).toContain("--dry-run: exiting now.");
    expect(bundle.gzipBytes).toBeLessThan(FREE_PLAN_GZIP_BYTES);
    const { readFile } = await import("node:fs/promises");
    const code = await readFile(bundle.scriptPath, "utf8");
    // The aliases held: neither the TypeScript compiler nor Cloudflare's REST SDK was bundled.
    expect(code).not.toContain("versionMajorMinor");
    expect(code).toContain("the Cloudflare REST SDK is not bundled into this Worker");
    // The define held: no bare import.meta.url is left for createRequire to choke on.
    expect(code).toContain("file:///bundle/index.js");
  });

  it("the bundle starts in workerd, builds Mastra on its first call and serves it (Clerk key as PEM)", async () => {
    const key = await generateSigningKey({ kid: "ins_bundle" });
    const spki = await crypto.subtle.exportKey("spki", await crypto.subtle.importKey("jwk", key.publicJwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]));
    const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(spki).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----`;
    const worker = await startBundle({ scriptPath: bundle.scriptPath, vars: { CLERK_JWT_KEY: pem, CLERK_ISSUER: ISSUER, LOG_LEVEL: "error" } });
    try {
      const health = async () => (await (await fetch(`${worker.url}/healthz`)).json()) as { mastraBuilds: number };
      expect(await health()).toEqual({ status: "ok", mastraBuilds: 0 });
      const anonymous = await fetch(`${worker.url}/api/agents`);
      expect(anonymous.status).toBe(401);
      const token = await mintClerkToken(key, { issuer: ISSUER, sub: "user_bundle", ttlSeconds: 600 });
      const response = await fetch(`${worker.url}/api/agents/weatherAgent/generate`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ messages: "What is the weather in Lisbon?", memory: { thread: "bundle" } }),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { text: string }).text).toMatch(/^The weather in Lisbon is \w+ at \d+°C\.$/);
      expect(await health()).toEqual({ status: "ok", mastraBuilds: 1 });
    } finally {
      await worker.dispose();
    }
  }, 120_000);
});
