// The README and docs/ as a reader follows them: every relative link reaches a file, and a heading
// when it names one (GitHub's anchors); every `npm run <script>` exists; the README's test command
// is the one CI runs; the README stays a front door (≤ 300 lines). The wrangler.toml blocks and
// the @mastra/client-js example are run by test/node/e2e/readme.test.ts.

import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

/** The text outside fenced code blocks (links and headings in code are not links or headings). */
export function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
}

/** GitHub's heading anchors: lower case, punctuation dropped (`-` and `_` kept), spaces to `-`, duplicates numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of prose(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const base = text!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative link targets in the prose: `[text](target)`, images included, URLs and mail excluded. */
export function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

let pages: Array<{ path: string; text: string }>;

beforeAll(async () => {
  const docs = (await readdir(join(ROOT, "docs"))).filter((f) => f.endsWith(".md")).map((f) => join("docs", f));
  pages = await Promise.all(["README.md", ...docs].map(async (path) => ({ path, text: await readFile(join(ROOT, path), "utf8") })));
});

describe("the helpers", () => {
  it("make GitHub's anchors", () => {
    const md = "# Deploy\n## Put it in front of your Mastra in five steps\n### Authorization rules (`AUTH_RULES`)\n## Keys: three layers — fast\n## Steps\n## Steps\n```sh\n# not a heading\n```\n";
    expect([...anchors(md)]).toEqual(["deploy", "put-it-in-front-of-your-mastra-in-five-steps", "authorization-rules-auth_rules", "keys-three-layers--fast", "steps", "steps-1"]);
    expect([...anchors("## Calling Mastra through the gateway with `@mastra/client-js`")]).toEqual(["calling-mastra-through-the-gateway-with-mastraclient-js"]);
  });

  it("find relative links only, outside fenced code", () => {
    expect(relativeLinks("[a](docs/x.md#y) [b](https://e.com) ![c](img.svg) `[d](no.md)`?\n```\n[e](code.md)\n```\n[f](#here)")).toEqual(["docs/x.md#y", "img.svg", "no.md", "#here"]);
  });
});

describe("README.md and docs/*.md", () => {
  it("every relative link reaches a file, and a heading of it when it names one", async () => {
    const broken: string[] = [];
    for (const { path, text } of pages) {
      for (const link of relativeLinks(text)) {
        const [file, anchor] = link.split("#", 2) as [string, string | undefined];
        const target = file === "" ? join(ROOT, path) : resolve(ROOT, dirname(path), decodeURI(file));
        const where = `${path}: (${link})`;
        if (relative(ROOT, target).startsWith("..")) {
          broken.push(`${where} leaves the repository`);
          continue;
        }
        const found = await stat(target).catch(() => undefined);
        if (!found) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor !== undefined) {
          if (!target.endsWith(".md")) broken.push(`${where}: an anchor into a file that is not Markdown`);
          else if (!anchors(await readFile(target, "utf8")).has(anchor)) broken.push(`${where}: no heading #${anchor} in ${relative(ROOT, target)}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("every `npm run <script>` names a script of package.json", async () => {
    const { scripts } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    const missing: string[] = [];
    for (const { path, text } of pages) {
      for (const [, script] of text.matchAll(/npm run (?:-s |--silent )?([\w:.-]+)/g)) {
        if (!(script! in scripts)) missing.push(`${path}: npm run ${script}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("every page in docs/ is linked from the README", () => {
    const readme = pages.find((p) => p.path === "README.md")!.text;
    const linked = new Set(relativeLinks(readme).map((l) => l.split("#")[0]));
    expect(pages.filter((p) => p.path.startsWith("docs/") && !linked.has(p.path)).map((p) => p.path)).toEqual([]);
  });
});

describe("README.md", () => {
  let readme: string;
  beforeAll(() => {
    readme = pages.find((p) => p.path === "README.md")!.text;
  });

  it("is a front door: at most 300 lines", () => {
    expect(readme.split("\n").length).toBeLessThanOrEqual(300);
  });

  it("gives the two quick-start commands, the second exactly what CI runs", async () => {
    const quickStart = /## Quick start\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme);
    expect(quickStart).not.toBeNull();
    const commands = quickStart![1]!.trim().split("\n").map((l) => l.replace(/\s+#.*$/, "").trim());
    expect(commands[0]).toBe("npm install && npm run dev");
    const ci = await readFile(join(ROOT, ".ci", "run"), "utf8");
    const ciCommands = ci.split("\n").map((l) => l.trim()).filter((l) => /^npm\s/.test(l));
    expect(ciCommands).toHaveLength(1);
    expect(commands[1]).toBe(ciCommands[0]);
    // And says what the second one does to a running dev server, and what to run instead.
    expect(readme).toContain("kills it");
    expect(readme).toMatch(/already installed, run just \*\*`npm test`\*\*/);
  });
});

describe("docs/library.md: Install", () => {
  it("a git install builds dist/: prepare runs the build, and the page says how to install both ways", async () => {
    const { scripts } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(scripts.prepare).toBe("tsc -p tsconfig.build.json");
    expect(scripts.prepare).toBe(scripts.build);
    const library = pages.find((p) => p.path === "docs/library.md")!.text;
    expect(library).toMatch(/npm install "git\+https:\/\/[^"]+#<commit-or-tag>"/);
    expect(library).toContain("npm pack");
  });
});
