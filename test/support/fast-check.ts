// fast-check parameters shared by the property tests: a seed that is printed up front (and in
// fast-check's own failure report, with the shrunk counterexample and its replay path), and a way
// to replay it: VITE_FUZZ_SEED=<seed> [VITE_FUZZ_PATH=<path>] npm run test:worker -- test/worker/fuzz.test.ts
// (vitest forwards VITE_* variables into workerd as import.meta.env).
//
// Properties are sized by time, not by count (`checkProperty`): on a quiet machine every run asked
// for happens; on a loaded one the property stops at its time budget and the test then asserts
// that a minimum number of runs did happen. A loaded machine makes a property weaker, never red
// for a reason unrelated to the code; too slow a machine to reach the minimum fails, loudly.
import fc from "fast-check";
import { expect } from "vitest";

const env = ((import.meta as unknown as { env?: Record<string, string | undefined> }).env ?? {}) as Record<string, string | undefined>;

let seed: number | undefined;

/** One seed per test file run (chosen at first use, not at import), unless VITE_FUZZ_SEED pins it. */
export function fuzzSeed(): number {
  seed ??= env.VITE_FUZZ_SEED ? Number(env.VITE_FUZZ_SEED) : (Math.random() * 0x7fffffff) | 0;
  return seed;
}

export function fcParams<T>(label: string, numRuns: number): fc.Parameters<T> {
  const path = env.VITE_FUZZ_PATH;
  console.log(`[fast-check] ${label}: numRuns=${numRuns} seed=${fuzzSeed()}${path ? ` path=${path}` : ""}`);
  return { numRuns, seed: fuzzSeed(), ...(path ? { path } : {}), verbose: 1 };
}

/** How much of a property to run. */
export interface RunBudget {
  /** Runs asked for: on a quiet machine all of them happen. */
  maxRuns: number;
  /** Wall-clock budget in ms: once spent, no further run starts (fast-check's `interruptAfterTimeLimit`). */
  timeMs: number;
  /** Fewer successful runs than this within the budget fails the test. */
  minRuns: number;
}

/** For test titles: "up to 10000 runs or 8 s, at least 1000". */
export function describeBudget(b: RunBudget): string {
  return `up to ${b.maxRuns} runs or ${b.timeMs / 1000} s, at least ${b.minRuns}`;
}

/**
 * A vitest timeout for a test that checks properties with these budgets: their time budgets plus
 * a minute for the setup around them and the run in flight at the deadline.
 */
export function timeoutFor(...budgets: RunBudget[]): number {
  return budgets.reduce((ms, b) => ms + b.timeMs, 60_000);
}

/**
 * Checks an async property for at most `budget.maxRuns` runs or `budget.timeMs`, whichever comes
 * first, then asserts that at least `budget.minRuns` runs passed. A failure throws fast-check's own
 * report (counterexample, seed and replay path). Returns the number of runs that passed.
 */
export async function checkProperty<Ts>(property: fc.IAsyncProperty<Ts>, label: string, budget: RunBudget): Promise<number> {
  // fast-check's time limit races the run in flight at the deadline and drops it. That run goes
  // on in the background; wait for it (it never rejects) so that whatever the test checks next
  // (counters, origin fetches) is not still changing under it.
  let inFlight: unknown;
  const settle: fc.Plugin<Ts> = () => ({
    decorateRun: (run) => (value) => {
      const out = run(value);
      inFlight = out;
      return out;
    },
  });
  const started = performance.now();
  const details = await fc.check(property, {
    ...fcParams<Ts>(label, budget.maxRuns),
    // failOnInterrupt: false is the plugin's spelling of `markInterruptAsFailure: false`.
    plugins: [fc.interruptAfterTimeLimit(budget.timeMs, { failOnInterrupt: false }) as fc.Plugin<Ts>, settle],
  });
  await inFlight;
  const stopped = details.interrupted ? `, stopped by the ${budget.timeMs} ms budget` : "";
  console.log(`[fast-check] ${label}: ${details.numRuns} runs passed in ${Math.round(performance.now() - started)} ms${stopped} (seed=${details.seed})`);
  if (details.failed) {
    const report = (await fc.asyncDefaultReportMessage(details)) ?? `property "${label}" failed`;
    throw new Error(report, { cause: details.errorInstance ?? undefined });
  }
  expect(
    details.numRuns,
    `${label}: ${details.numRuns} runs within ${budget.timeMs} ms, fewer than the ${budget.minRuns} this property needs to mean something (a machine this slow cannot run it)`,
  ).toBeGreaterThanOrEqual(budget.minRuns);
  return details.numRuns;
}
