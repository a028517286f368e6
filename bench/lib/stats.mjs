// Statistics for noisy shared machines: medians of interleaved rounds, and ratios taken pairwise
// within one cycle (A and B measured back to back) before their median is taken.

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile of raw samples (p in 0..100). */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** a[i] / b[i] for each cycle: each ratio compares two rounds measured side by side. */
export function pairedRatios(a, b) {
  const n = Math.min(a.length, b.length);
  const ratios = [];
  for (let i = 0; i < n; i++) if (b[i] > 0 && Number.isFinite(a[i])) ratios.push(a[i] / b[i]);
  return ratios;
}

/** Median over cycles of a[i] / b[i]. */
export function pairedRatio(a, b) {
  return median(pairedRatios(a, b));
}

/**
 * A verdict on "ratio ≤ limit" (or ≥, with `atLeast`) from per-cycle ratios that refuses to give
 * one when the cycles disagree: "met" when every cycle's ratio (or, from 6 cycles on, the median's
 * distribution-free 95 % interval) is on the right side of the limit, "missed" when it is wholly on
 * the wrong side, "inconclusive" when it straddles the limit (the spread is too wide for a verdict).
 * @returns {{ verdict: "met" | "missed" | "inconclusive", median: number, low: number, high: number }}
 */
export function ratioVerdict(ratios, limit, { atLeast = false } = {}) {
  const finite = ratios.filter((r) => Number.isFinite(r));
  if (finite.length === 0) return { verdict: "inconclusive", median: NaN, low: NaN, high: NaN };
  const [low, high] = finite.length >= 6 ? medianInterval(finite) : [Math.min(...finite), Math.max(...finite)];
  const good = (r) => (atLeast ? r >= limit : r <= limit);
  const verdict = good(low) && good(high) ? "met" : !good(low) && !good(high) ? "missed" : "inconclusive";
  return { verdict, median: median(finite), low, high };
}

/** Relative spread of rounds, (max - min) / median: how much to trust a median. */
export function spread(values) {
  const m = median(values);
  return m ? (Math.max(...values) - Math.min(...values)) / m : NaN;
}

/** Runs each subject once per cycle, in a rotating order (A B C, B C A, …), for `cycles` cycles. */
export async function interleave(subjects, cycles, measure) {
  const samples = Object.fromEntries(subjects.map((s) => [s, []]));
  for (let c = 0; c < cycles; c++) {
    for (let k = 0; k < subjects.length; k++) {
      const subject = subjects[(c + k) % subjects.length];
      samples[subject].push(await measure(subject, c));
    }
  }
  return samples;
}

/** Distribution-free ~95% confidence interval of the median (order statistics; needs n ≥ 6). */
export function medianInterval(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const k = Math.max(0, Math.floor((n - 1.96 * Math.sqrt(n)) / 2));
  return [sorted[k], sorted[n - 1 - k]];
}
