// The eager copy of src/ that wrangler.toml's [build] step writes (scripts/build-eager.mjs):
// src/ to .wrangler/eager/src/ with every top-level function marked for V8 to compile when the
// script loads (./eager-compile.mjs), each file with an inline source map back to its original,
// which wrangler's esbuild follows into the deployed source map. wrangler then bundles
// .wrangler/eager/src/index.ts as it bundled src/index.ts before (minified, same bindings).
//
// Safe to run concurrently (tests bundle in parallel): each file is written to a temporary name
// and renamed over the old one, and only when its content changed.

import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { ROOT } from "./bundle.mjs";
import { eagerlyCompiled } from "./eager-compile.mjs";

export const EAGER_ROOT = join(ROOT, ".wrangler", "eager");
const SOURCE = join(ROOT, "src");

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Writes the eager copy of src/; returns how many functions were marked, over how many files. */
export async function buildEager() {
  let functions = 0;
  let files = 0;
  const written = new Set();
  for await (const path of walk(SOURCE)) {
    const target = join(EAGER_ROOT, relative(ROOT, path));
    written.add(target);
    let content = await readFile(path, "utf8");
    if (path.endsWith(".ts") && !path.endsWith(".d.ts")) {
      const { code, map, eager } = eagerlyCompiled(content, relative(dirname(target), path));
      content = `${code}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(map.toString()).toString("base64")}\n`;
      functions += eager.length;
      files++;
    }
    await writeIfChanged(target, content);
  }
  // A file deleted from src/ must not linger in the copy.
  for await (const path of walk(join(EAGER_ROOT, "src"))) if (!written.has(path) && !path.includes(".tmp-")) await rm(path, { force: true });
  return { functions, files };
}

async function writeIfChanged(target, content) {
  const current = await readFile(target, "utf8").catch(() => null);
  if (current === content) return;
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(temporary, content);
  await rename(temporary, target);
}
