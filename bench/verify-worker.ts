// Runs bench/verify-suite.ts inside workerd: one request sets the suite up, then one request per
// measurement round runs N iterations of one subject and returns its timing, so no HTTP cost is
// measured in. Bundled by bench/lib/build.mjs; never deployed.

import { createSuite, type Subject, type Suite, type SuiteInput } from "./verify-suite.js";

// The bench's deliberate isolate state: the prepared suite, reused by every round request.
let suite: Suite | null = null;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      if (request.method === "POST" && url.pathname === "/setup") {
        suite = await createSuite((await request.json()) as SuiteInput);
        return Response.json({ ok: true });
      }
      if (request.method === "POST" && url.pathname === "/round") {
        if (!suite) return Response.json({ error: "not set up" }, { status: 409 });
        const { subject, iterations } = (await request.json()) as { subject: Subject; iterations: number };
        return Response.json(await suite.run(subject, iterations));
      }
      return Response.json({ error: "not found" }, { status: 404 });
    } catch (error) {
      return Response.json({ error: String((error as Error)?.message ?? error) }, { status: 500 });
    }
  },
} satisfies ExportedHandler;
