import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// The layer order of src/ (docs/architecture.md): a module imports only from a lower layer or from
// its own directory, so the graph has no cycles between directories and the assembler (gateway/)
// sits on top, as Envoy's filter_config sits above matcher and verifier.
const LAYERS: readonly (readonly string[])[] = [
  ["core"],
  ["credentials", "identity", "keys", "http", "paths"],
  // routes/: Mastra's route table and the selectors rules and limits share (uses paths/).
  ["verify", "assertion", "routes"],
  ["authorize", "spend-guard", "proxy", "metrics"],
  ["gateway", "hono", "mastra"],
  // The entries: index.ts (the gateway Worker) and lib.ts (the package)…
  ["index", "lib"],
  // …and Mastra served in a Worker, built on the package's public API.
  ["mastra-worker"],
];

const SRC = resolve(import.meta.dirname, "../../src");

/** A directory of src/, or an entry file (an entry `x.ts` and a directory `x/` are one unit). */
function unitOf(file: string): string {
  return relative(SRC, file).split("/")[0]!.replace(/\.ts$/, "");
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [path] : [];
  });
}

/** Every relative module specifier of a file: static imports, re-exports, dynamic imports and `import("…")` types. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  // Comment lines are prose: an example `import("./x.js")` in a doc comment is not an edge.
  const code = text
    .split("\n")
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join("\n");
  for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)) out.push(match[1]!);
  return out;
}

/** The imports of one file (given as text) that point at a unit not below it, nor its own directory. */
function violationsOf(file: string, text: string): string[] {
  const from = unitOf(file);
  const fromLayer = layerOf(from);
  if (fromLayer < 0) return [`${relative(SRC, file)}: src/${from} has no place in the layer order (add it to LAYERS)`];
  const found: string[] = [];
  for (const spec of importsOf(text)) {
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(SRC + "/")) {
      found.push(`${relative(SRC, file)} imports ${spec}, outside src/`);
      continue;
    }
    const to = unitOf(target.replace(/\.js$/, ".ts"));
    if (to === from) continue;
    const toLayer = layerOf(to);
    if (toLayer < 0 || toLayer >= fromLayer) found.push(`${relative(SRC, file)} (layer ${fromLayer}, ${from}) imports ${spec} (layer ${toLayer}, ${to})`);
  }
  return found;
}

describe("src/ layers", () => {
  const files = sourceFiles(SRC);

  it("every import points down the layer order, or stays in its own directory", () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.flatMap((f) => violationsOf(f, readFileSync(f, "utf8")))).toEqual([]);
  });

  it("core/ imports nothing from the rest of src/", () => {
    const core = files.filter((f) => unitOf(f) === "core");
    expect(core.length).toBeGreaterThan(0);
    for (const file of core) {
      for (const spec of importsOf(readFileSync(file, "utf8"))) expect(resolve(dirname(file), spec).startsWith(join(SRC, "core"))).toBe(true);
    }
  });

  it("the package entry's graph never reaches a cloudflare: module or @mastra/core, in code or in types", () => {
    const seen = new Set<string>();
    const queue = [join(SRC, "lib.ts")];
    const offending: string[] = [];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      if (/["']cloudflare:[^"']+["']/.test(text) || /["']@mastra\/core/.test(text)) offending.push(relative(SRC, file));
      for (const spec of importsOf(text)) queue.push(resolve(dirname(file), spec).replace(/\.js$/, ".ts"));
    }
    expect(seen.size).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });

  it("the checker itself catches an upward import", () => {
    // A fixture written where a wrong-way edge would be: core/ importing gateway/.
    const fake = join(SRC, "core", "__layers_fixture__.ts");
    const text = 'import type { GatewayEnv } from "../gateway/env.js";\n';
    const found = violationsOf(fake, text);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain("imports ../gateway/env.js");
  });
});
