// fast-check parameters shared by the property tests: a seed that is printed up front (and in
// fast-check's own failure report, with the shrunk counterexample and its replay path), and a way
// to replay it: VITE_FUZZ_SEED=<seed> [VITE_FUZZ_PATH=<path>] npm run test:worker -- test/worker/fuzz.test.ts
// (vitest forwards VITE_* variables into workerd as import.meta.env).
import type fc from "fast-check";

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
