// scripts/lib/eager-compile.mjs, scripts/lib/eager-copy.mjs and scripts/build-eager.mjs: the Worker's top-level functions
// become parenthesized function expressions (V8 compiles those with the script), moved to the top
// of their module so that nothing that ran before still finds them undefined — and what a module
// computes is unchanged.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { transform } from "esbuild";
import { describe, expect, it } from "vitest";
import { bundleWorker, ROOT } from "../../scripts/lib/bundle.mjs";
import { buildEager, EAGER_ROOT } from "../../scripts/lib/eager-copy.mjs";
import { eagerlyCompiled } from "../../scripts/lib/eager-compile.mjs";

/** Evaluates a TypeScript module (types stripped by esbuild, as wrangler does) and returns its exports. */
async function evaluate(source: string): Promise<Record<string, unknown>> {
  const { code } = await transform(source, { loader: "ts", format: "esm" });
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
}

const MODULE = `
// Computed at load, before the functions it calls are declared: hoisting makes this work.
export const table = build(3);
export const answer = twice(21);

/** Called at load through build(). */
function square(n: number): number {
  return n * n;
}

function build(size: number): number[] {
  return Array.from({ length: size }, (_, i) => square(i + 1));
}

export function twice<T extends number>(n: T): number {
  return n * 2;
}

export async function later(this: void, n: number): Promise<number> {
  return twice(await Promise.resolve(n));
}

export function pick(value: string): string;
export function pick(value: number): number;
export function pick(value: string | number): string | number {
  return value;
}

export default function fallback(): string {
  return "default";
}
`;

describe("eager compilation of the Worker's functions (issue #14)", () => {
  it("turns each top-level function into a parenthesized function expression at the top of its module; overloads and default exports stay as they are", () => {
    const { code, eager } = eagerlyCompiled(MODULE, "module.ts");
    expect(eager).toEqual(["square", "build", "twice", "later"]);
    for (const line of [
      "var square = (function (n: number): number {",
      "var build = (function (size: number): number[] {",
      "export var twice = (function <T extends number>(n: T): number {",
      "export var later = (async function (this: void, n: number): Promise<number> {",
    ]) {
      expect(code).toContain(line);
    }
    // All four before the first statement that runs.
    expect(code.indexOf("export var later")).toBeLessThan(code.indexOf("export const table"));
    expect(code).toContain("export function pick(value: string): string;");
    expect(code).toContain("export default function fallback(): string {");
  });

  it("the module computes what it computed before, at load and when called", async () => {
    const before = await evaluate(MODULE);
    const after = await evaluate(eagerlyCompiled(MODULE, "module.ts").code);
    expect(after.table).toEqual([1, 4, 9]);
    expect(after.table).toEqual(before.table);
    expect(after.answer).toBe(42);
    expect(await (after.later as (n: number) => Promise<number>)(5)).toBe(10);
    expect((after.pick as (v: string) => string)("x")).toBe("x");
    expect((after.default as () => string)()).toBe("default");
    // Named as before (function name inference from the variable), for stack traces and profiles.
    expect((after.twice as () => number).name).toBe("twice");
    expect((after.later as () => number).name).toBe("later");
  });

  it("esbuild keeps the parentheses through minification (what V8 sees)", async () => {
    const { code } = await transform(eagerlyCompiled(MODULE, "module.ts").code, { loader: "ts", format: "esm", minify: true });
    expect(code.match(/\(function|\(async function/g)?.length).toBe(4);
  });

  it("the eager copy of src/ keeps every file, with a source map back to the original", async () => {
    const { functions, files } = await buildEager();
    expect(files).toBeGreaterThan(50);
    expect(functions).toBeGreaterThan(150);
    const headers = await readFile(join(EAGER_ROOT, "src/proxy/headers.ts"), "utf8");
    expect(headers).toContain("export var upstreamHeaders = (function (");
    const map = JSON.parse(Buffer.from(/sourceMappingURL=data:application\/json;base64,(\S+)/.exec(headers)![1]!, "base64").toString());
    expect(map.sources).toEqual(["../../../../src/proxy/headers.ts"]);
    expect(map.sourcesContent[0]).toBe(await readFile(join(ROOT, "src/proxy/headers.ts"), "utf8"));
  });

  it("the [build] command writes the copy whatever its path is spelled like (a space, a symlink): it never skips silently", async () => {
    const { execFile } = await import("node:child_process");
    const { mkdtemp, rm, symlink } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "eager build "));
    try {
      // The repository's scripts/ reached through a link whose path has a space in it.
      await symlink(join(ROOT, "scripts"), join(dir, "scripts dir"));
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [join(dir, "scripts dir", "build-eager.mjs")], { cwd: ROOT, timeout: 60_000 }, (error, out) => (error ? reject(error) : resolve(out))),
      );
      expect(stdout).toMatch(/^eager compile: \d+ functions in \d+ modules → \.wrangler\/eager\/src$/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the deployed bundle is built from it, and its source map names src/", async () => {
    const bundle = await bundleWorker({ metafile: true });
    try {
      expect(bundle.stdout).toMatch(/eager compile: \d+ functions in \d+ modules/);
      expect(bundle.inputs!.some((i) => i.endsWith(".wrangler/eager/src/index.ts"))).toBe(true);
      expect(bundle.code.match(/\(function|\(async function/g)!.length).toBeGreaterThan(150);
      const map = JSON.parse(await readFile(`${bundle.scriptPath}.map`, "utf8"));
      expect(map.sources.some((s: string) => /(^|\/)src\/gateway\/pipeline\.ts$/.test(s) && !s.includes(".wrangler"))).toBe(true);
      expect(map.sources.filter((s: string) => s.includes(".wrangler"))).toEqual([]);
    } finally {
      if (bundle.outdir) await import("node:fs/promises").then((fs) => fs.rm(bundle.outdir!, { recursive: true, force: true }));
    }
  });
});
