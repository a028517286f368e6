import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { bundleWorker } from "../../scripts/lib/bundle.mjs";
import { BUNDLE_BUDGET_KIB, describeContributors, largestContributors } from "../../scripts/lib/bundle-budget.mjs";


describe("wrangler deploy --dry-run", () => {
  let outdir: string;
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it("bundles the Worker offline, with the JWKS_CACHE binding, under the size budget", async () => {
    outdir = await mkdtemp(join(tmpdir(), "mea-dry-run-"));
    const { stdout, contributions } = await bundleWorker({ outdir, metafile: true });
    expect(stdout).toContain("env.JWKS_CACHE");
    expect(stdout).toContain("--dry-run: exiting now.");
    const files = await readdir(outdir);
    const bundle = files.find((f) => f.endsWith(".js"));
    expect(bundle).toBeDefined();
    const code = await readFile(join(outdir, bundle!));
    // Issue #14's budget, route table included. Above it, the failure names what to cut.
    const gzipKiB = gzipSync(code).length / 1024;
    const over = `the deploy bundle is ${gzipKiB.toFixed(1)} KiB gzipped, over the ${BUNDLE_BUDGET_KIB} KiB budget; largest contributors (bytes before gzip):\n${describeContributors(largestContributors(contributions!))}`;
    expect(gzipKiB <= BUNDLE_BUDGET_KIB, over).toBe(true);
    // The metafile is the deploy's own: the route table and jose are in it, the dev tooling is not.
    expect(contributions!.some((c) => c.path === "src/routes/mastra-routes.ts")).toBe(true);
    // Nothing from the dev tooling or the test stand-ins may end up in the deployed Worker.
    expect(code.toString()).not.toContain("mintClerkToken");
  });
});
