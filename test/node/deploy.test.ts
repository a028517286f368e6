import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { bundleWorker } from "../../scripts/lib/bundle.mjs";


describe("wrangler deploy --dry-run", () => {
  let outdir: string;
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it("bundles the Worker offline, with the JWKS_CACHE binding, under the size budget", async () => {
    outdir = await mkdtemp(join(tmpdir(), "mea-dry-run-"));
    const { stdout } = await bundleWorker({ outdir });
    expect(stdout).toContain("env.JWKS_CACHE");
    expect(stdout).toContain("--dry-run: exiting now.");
    const files = await readdir(outdir);
    const bundle = files.find((f) => f.endsWith(".js"));
    expect(bundle).toBeDefined();
    const code = await readFile(join(outdir, bundle!));
    // Issue 5's budget is 60 KiB gzipped; fail early here if the bundle drifts far past it.
    expect(gzipSync(code).length).toBeLessThan(60 * 1024);
    // Nothing from the dev tooling or the test stand-ins may end up in the deployed Worker.
    expect(code.toString()).not.toContain("mintClerkToken");
  });
});
