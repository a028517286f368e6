// The variables a user can set are a public contract: the `GatewayEnv` interface (what the Worker
// reads), `.dev.vars.example` (what a user copies) and docs/configuration.md (what a user reads)
// must name the same ones. Each direction fails on its own: a variable the Worker reads but the
// docs forget, and a name in the docs the Worker never reads (a typo such as CLERK_AUTHORISED_PARTIES).

import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

import { DEV_PORTS } from "../../scripts/lib/dev-config.mjs";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** The `{ … }` body of `interface <name>` in `text`, with its `extends` list; undefined if absent. */
export function interfaceBody(text: string, name: string): { body: string; extends: string[] } | undefined {
  const head = new RegExp(`\\binterface\\s+${name}\\b(?:<[^>{]*>)?\\s*(?:extends\\s+([^{]+))?\\{`).exec(text);
  if (!head) return undefined;
  let depth = 1;
  let i = head.index + head[0].length;
  const start = i;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
  }
  const parents = (head[1] ?? "").split(",").map((s) => s.trim().replace(/<.*$/s, "")).filter(Boolean);
  return { body: text.slice(start, i - 1), extends: parents };
}

/** Top-level property names of an interface body (nested object types and comments skipped). */
export function propertyNames(body: string): string[] {
  const withoutComments = body.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const names: string[] = [];
  let depth = 0;
  for (const line of withoutComments.split("\n")) {
    if (depth === 0) {
      const m = /^\s*(?:readonly\s+)?["']?([A-Za-z_$][\w$]*)["']?\??\s*:/.exec(line);
      if (m) names.push(m[1]!);
    }
    for (const ch of line) {
      if (ch === "{" || ch === "(" || ch === "<") depth++;
      else if (ch === "}" || ch === ")" || ch === ">") depth = Math.max(0, depth - 1);
    }
  }
  return names;
}

/**
 * The GatewayEnv property names, wherever under src/ the interface lives (src/config/env.ts
 * before the layout change, src/gateway/env.ts after it), following `extends` within src/.
 */
async function gatewayEnvNames(): Promise<{ file: string; names: string[] }> {
  const files = await Promise.all((await sourceFiles(join(ROOT, "src"))).map(async (f) => ({ f, text: await readFile(f, "utf8") })));
  const find = (name: string) => {
    const hits = files.map(({ f, text }) => ({ f, found: interfaceBody(text, name) })).filter((h) => h.found);
    return hits;
  };
  const hits = find("GatewayEnv");
  expect(hits.map((h) => relative(ROOT, h.f)), "exactly one interface GatewayEnv under src/").toHaveLength(1);
  const names = new Set<string>();
  const visit = (found: { body: string; extends: string[] }, seen: Set<string>) => {
    for (const n of propertyNames(found.body)) names.add(n);
    for (const parent of found.extends) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      const [hit] = find(parent);
      if (hit) visit(hit.found!, seen);
    }
  };
  visit(hits[0]!.found!, new Set(["GatewayEnv"]));
  return { file: relative(ROOT, hits[0]!.f), names: [...names].sort() };
}

/** Every word shaped like an environment variable (upper case with an underscore), in order. */
function envShapedNames(text: string): string[] {
  return [...new Set([...text.matchAll(/(?<![\w$.-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![\w-])/g)].map((m) => m[0]))];
}

/** Whether `name` occurs in `text` as a whole word (so MASTRA is not found inside MASTRA_URL). */
function namesWord(text: string, name: string): boolean {
  return new RegExp(`(?<![\\w$-])${name}(?![\\w-])`).test(text);
}

/** `NAME=` lines of a dotenv file, set or commented out. */
function assignedNames(text: string): string[] {
  return [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
}

let env: { file: string; names: string[] };
let example: string;
let configuration: string;

beforeAll(async () => {
  env = await gatewayEnvNames();
  example = await readFile(join(ROOT, ".dev.vars.example"), "utf8");
  configuration = await readFile(join(ROOT, "docs", "configuration.md"), "utf8");
});

describe("the parser of GatewayEnv", () => {
  it("reads property names, optional or not, and skips comments and nested types", () => {
    const found = interfaceBody(
      `/** doc */ export interface GatewayEnv extends ClerkEnv, ProxyEnv<X> {\n  /** A { brace } in a comment. */\n  A_B?: string;\n  C: { inner: string; };\n  // D_E?: string;\n  F?: DurableObjectNamespace<import("x").Y>;\n}\ninterface Other { G: string }`,
      "GatewayEnv",
    )!;
    expect(found.extends).toEqual(["ClerkEnv", "ProxyEnv"]);
    expect(propertyNames(found.body)).toEqual(["A_B", "C", "F"]);
  });

  it("finds the interface and the variables every deployment needs", () => {
    expect(env.file).toMatch(/^src\/(config|gateway)\/env\.ts$/);
    for (const name of ["CLERK_PUBLISHABLE_KEY", "JWKS_CACHE", "MASTRA", "MASTRA_URL", "AUTH_RULES", "RATE_LIMITS"]) {
      expect(env.names).toContain(name);
    }
  });
});

describe(".dev.vars.example", () => {
  it("names every variable and binding the Worker reads", () => {
    expect(env.names.filter((n) => !namesWord(example, n))).toEqual([]);
  });

  it("names nothing the Worker does not read", () => {
    expect(envShapedNames(example).filter((n) => !env.names.includes(n))).toEqual([]);
    // Every assignment line, set or commented out, is one of them too (names without an underscore included).
    expect(assignedNames(example).filter((n) => !env.names.includes(n))).toEqual([]);
  });

  it("sets only variables, never a binding (bindings live in wrangler.toml)", () => {
    const bindings = ["JWKS_CACHE", "MASTRA", "RL_AGENT", "SPEND_COUNTER", "AUTH_ANALYTICS"];
    expect(assignedNames(example).filter((n) => bindings.includes(n))).toEqual([]);
  });
});

describe("docs/configuration.md", () => {
  it("names every variable and binding the Worker reads, each in a table", () => {
    const firstColumns = [...configuration.matchAll(/^\| ([^|]+) \|/gm)].map((m) => m[1]!).join("\n");
    expect(env.names.filter((n) => !namesWord(firstColumns, n))).toEqual([]);
  });

  it("names nothing the Worker does not read, apart from the DEV_* variables of npm run dev", () => {
    const dev = Object.values(DEV_PORTS).map((p) => p.variable);
    expect(envShapedNames(configuration).filter((n) => !env.names.includes(n) && !dev.includes(n))).toEqual([]);
  });

  it("documents each DEV_* port of npm run dev with its default", () => {
    for (const { variable, fallback } of Object.values(DEV_PORTS)) {
      expect(configuration).toContain(`\`${variable}\` (${fallback})`);
    }
  });
});
