/**
 * Remembers the `jti` of accepted assertions until they expire, so each one is accepted once:
 * a captured header cannot be replayed within its short lifetime. Per process (per isolate):
 * bounded, and with several upstream instances a replay to another instance is limited by `exp`.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  constructor(readonly capacity = 100_000) {}

  /**
   * True the first time a jti is presented, false afterwards. `untilS` must cover every moment
   * the assertion still verifies (its `exp` plus the clock tolerance).
   */
  accept(jti: string, untilS: number, nowMs: number): boolean {
    const nowS = nowMs / 1000;
    const until = this.#seen.get(jti);
    if (until !== undefined && until >= nowS) return false;
    if (this.#seen.size >= this.capacity) this.#evict(nowS);
    this.#seen.set(jti, untilS);
    return true;
  }

  #evict(nowS: number): void {
    for (const [jti, until] of this.#seen) if (until < nowS) this.#seen.delete(jti);
    // Still full of live entries: drop the oldest; their exp is at most a minute away anyway.
    while (this.#seen.size >= this.capacity) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}
