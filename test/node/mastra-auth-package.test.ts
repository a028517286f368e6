// The package face of the library: type-level compatibility with @mastra/core and Hono, the build
// (tsc declarations), what `npm pack` would ship, the public API against docs/library.md, and that
// nothing from @mastra/core reaches a Worker bundle.

import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleWorker } from "../../scripts/lib/bundle.mjs";

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});
async function temp(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

async function tsc(...args: string[]) {
  try {
    const { stdout } = await run("npx", ["tsc", ...args], { cwd: ROOT, timeout: 120_000 });
    return { ok: true, output: stdout };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** Module specifiers a JS or .d.ts file imports or re-exports. */
function allImports(code: string): string[] {
  const patterns = [/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm, /^\s*import\s*["']([^"']+)["']/gm, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  return patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1]!));
}

describe("type-level checks (tsc --noEmit)", () => {
  it("MastraAuthClerk and MastraAuthGateway match @mastra/core's provider types; c.var.auth is the Identity", async () => {
    const result = await tsc("--noEmit", "-p", "test/types");
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
  });

  it("the example Worker type-checks against the package's public types", async () => {
    const result = await tsc("--noEmit", "-p", "examples/hono-worker");
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
  });
});

describe("the package build", () => {
  let outDir: string;
  let pkg: { name: string; exports: Record<string, { types: string; import: string }>; dependencies: Record<string, string>; files: string[]; scripts: Record<string, string> };

  beforeAll(async () => {
    pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
    outDir = await temp("mea-lib-build-");
    // The same command as `npm run build`, into a temporary outDir.
    expect(pkg.scripts.build).toBe("tsc -p tsconfig.build.json");
    const result = await tsc("-p", "tsconfig.build.json", "--outDir", outDir);
    expect(result.output).toBe("");
  }, 120_000);

  it("emits what package.json exports points at", async () => {
    expect(pkg.exports).toEqual({
      ".": { types: "./dist/lib.d.ts", import: "./dist/lib.js" },
      "./worker": { types: "./dist/index.d.ts", import: "./dist/index.js" },
      "./mastra-worker": { types: "./dist/mastra-worker.d.ts", import: "./dist/mastra-worker.js" },
    });
    const files = (await filesUnder(outDir)).map((f) => relative(outDir, f));
    for (const entry of Object.values(pkg.exports)) {
      expect(files).toContain(entry.import.replace("./dist/", ""));
      expect(files).toContain(entry.types.replace("./dist/", ""));
    }
    // Only the library's graph: no tests, no dev tooling.
    expect(files.filter((f) => !/\.(js|d\.ts)$/.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith("test") || f.includes("scripts"))).toBe(false);
  });

  it("the main entry imports nothing but its runtime dependencies: never @mastra/core, no cloudflare: module", async () => {
    const allowed = Object.keys(pkg.dependencies);
    const seen = new Set<string>();
    // Follow the main entry's JS import graph: that is what a user loads, in Node too.
    const queue = [join(outDir, "lib.js")];
    const visited = new Set<string>();
    while (queue.length) {
      const file = queue.pop()!;
      if (visited.has(file)) continue;
      visited.add(file);
      const code = await readFile(file, "utf8");
      for (const spec of allImports(code)) {
        if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec));
        else seen.add(spec);
      }
    }
    expect(visited.size).toBeGreaterThan(10);
    // The scan sees the real dependencies, so it would see a @mastra one too. (Hono is a dependency
    // of the Hono middleware's types; no code of the main entry loads it since the gateway's
    // pipeline runs without Hono.)
    expect([...seen]).toEqual(expect.arrayContaining(["jose"]));
    const packages = [...seen].map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!));
    expect(packages.filter((p) => !allowed.includes(p))).toEqual([]);
    expect([...seen].some((s) => s.includes("@mastra") || s.startsWith("cloudflare:"))).toBe(false);
  });

  it("no emitted file imports @mastra/*, the Worker entry included; the Mastra Worker entry loads it only lazily", async () => {
    for (const file of await filesUnder(outDir)) {
      const code = await readFile(file, "utf8");
      if (relative(outDir, file).startsWith("mastra-worker")) {
        // Mastra costs ~1 s of start-up CPU at module scope: only `await import()` inside the build,
        // and types in the declarations.
        if (file.endsWith(".js")) expect([...code.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]).filter((s) => s!.includes("@mastra"))).toEqual([]);
        continue;
      }
      expect(allImports(code).filter((s) => s.includes("@mastra"))).toEqual([]);
    }
  });

  it("the built entry loads in Node and exports the public API, each one documented in docs/library.md", async () => {
    const lib = (await import(pathToFileURL(join(outDir, "lib.js")).href)) as Record<string, unknown>;
    const names = Object.keys(lib).sort();
    for (const name of ["MastraAuthClerk", "MastraAuthGateway", "clerkAuth", "getAuth", "requireAuth", "requireOrgRole", "requirePermission", "requireRule", "createGateway"]) {
      expect(names).toContain(name);
    }
    const library = await readFile(join(ROOT, "docs", "library.md"), "utf8");
    const start = library.indexOf("## Library API");
    expect(start).toBeGreaterThan(-1);
    const section = library.slice(start, library.indexOf("\n## ", start + 1) === -1 ? undefined : library.indexOf("\n## ", start + 1));
    expect(names.filter((n) => !section.includes(`\`${n}`))).toEqual([]);

    // And it works from the build: a provider validates its options at construction.
    const MastraAuthClerk = lib.MastraAuthClerk as new (o: object) => { name: string };
    expect(new MastraAuthClerk({ jwksUri: "https://clerk.example.com/.well-known/jwks.json", issuer: "https://clerk.example.com", env: {} }).name).toBe("clerk");
    expect(() => new MastraAuthClerk({ env: {} })).toThrow(/CLERK_PUBLISHABLE_KEY/);
  });

  it("npm pack ships the build and package.json, not sources, tests, examples or the Worker bundle", async () => {
    const stage = await temp("mea-pack-");
    await copyFile(join(ROOT, "package.json"), join(stage, "package.json"));
    await copyFile(join(ROOT, "README.md"), join(stage, "README.md"));
    for (const file of await filesUnder(outDir)) {
      const target = join(stage, "dist", relative(outDir, file));
      await mkdir(dirname(target), { recursive: true });
      await copyFile(file, target);
    }
    for (const stray of ["src/lib.ts", "test/x.test.ts", "examples/hono-worker/src/index.ts", "dist/worker/index.js"]) {
      await mkdir(dirname(join(stage, stray)), { recursive: true });
      await writeFile(join(stage, stray), "export {};\n");
    }
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: stage, timeout: 60_000 });
    const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const packed = report.files.map((f) => f.path).sort();
    expect(packed).toContain("dist/lib.js");
    expect(packed).toContain("dist/lib.d.ts");
    expect(packed).toContain("package.json");
    expect(packed).toContain("README.md");
    expect(packed.filter((p) => !p.startsWith("dist/") && p !== "package.json" && p !== "README.md")).toEqual([]);
    expect(packed.filter((p) => p.startsWith("dist/worker"))).toEqual([]);
  });
  it("the README's gateway Worker, bundled from the built package by name, serves in workerd", async () => {
    // A consumer project: the package installed as npm would (package.json + dist) in its
    // node_modules; hono and jose come from this repository's node_modules further up.
    const cache = join(ROOT, "node_modules", ".cache");
    await mkdir(cache, { recursive: true });
    const consumer = await mkdtemp(join(cache, "mea-consumer-"));
    temps.push(consumer);
    // Its own package.json, as any project has (and so "mastra-edge-auth" is not this repository's self-reference).
    await writeFile(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const installed = join(consumer, "node_modules", "mastra-edge-auth");
    await mkdir(installed, { recursive: true });
    await copyFile(join(ROOT, "package.json"), join(installed, "package.json"));
    for (const file of await filesUnder(outDir)) {
      const target = join(installed, "dist", relative(outDir, file));
      await mkdir(dirname(target), { recursive: true });
      await copyFile(file, target);
    }
    await writeFile(join(consumer, "index.ts"), 'export * from "mastra-edge-auth/worker";\nexport { default } from "mastra-edge-auth/worker";\n');
    // Its own wrangler.toml: without one, wrangler would look upward and take this repository's
    // (its [build] step belongs to this repository, not to a project that installs the package).
    await writeFile(join(consumer, "wrangler.toml"), 'name = "readme-gateway"\nmain = "index.ts"\ncompatibility_date = "2026-05-01"\n');
    const out = join(consumer, "out");
    const { scriptPath } = await bundleWorker({ args: ["--config", join(consumer, "wrangler.toml")], cwd: consumer, outdir: out });
    const mf = new Miniflare({
      modules: true,
      scriptPath,
      modulesRoot: out,
      compatibilityDate: "2026-05-01",
      bindings: { CLERK_ISSUER: "https://clerk.example.com", CLERK_JWKS_URI: "https://clerk.example.com/.well-known/jwks.json", LOG_LEVEL: "error" },
    });
    try {
      const health = await mf.dispatchFetch("http://gateway.test/healthz");
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      const me = await mf.dispatchFetch("http://gateway.test/auth/me");
      expect(me.status).toBe(401);
      expect(await me.json()).toMatchObject({ reason: "session-token-missing" });
    } finally {
      await mf.dispose();
    }
  });
});

describe("Worker bundles built from the library", () => {
  async function bundle(args: string[]) {
    const outdir = await temp("mea-lib-bundle-");
    const { inputs, code } = await bundleWorker({ args, outdir, metafile: true });
    return { inputs: inputs!, code };
  }

  it("the example Hono Worker bundles the library from source, without @mastra/core, under 60 KiB gzipped", async () => {
    const { inputs, code } = await bundle(["-c", "examples/hono-worker/wrangler.toml"]);
    expect(inputs.some((i) => i.endsWith("src/lib.ts"))).toBe(true);
    expect(inputs.some((i) => i.endsWith("src/mastra/clerk.ts"))).toBe(true);
    expect(inputs.filter((i) => i.includes("@mastra"))).toEqual([]);
    expect(gzipSync(code).length).toBeLessThan(60 * 1024);
  });

  it("the gateway Worker shares those modules and pulls in no @mastra package either", async () => {
    const { inputs } = await bundle([]);
    expect(inputs.some((i) => i.endsWith("src/verify/create.ts"))).toBe(true);
    // The step clerkAuth and the gateway's pipeline share; the gateway itself runs without Hono.
    expect(inputs.some((i) => i.endsWith("src/verify/authenticate.ts"))).toBe(true);
    expect(inputs.some((i) => i.endsWith("src/hono/clerk-auth.ts"))).toBe(false);
    expect(inputs.filter((i) => i.includes("@mastra"))).toEqual([]);
  });
});
