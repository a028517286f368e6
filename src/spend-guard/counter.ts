import { DurableObject } from "cloudflare:workers";
import type { HitResult, WindowSpec } from "./windows.js";

export type { HitResult, WindowSpec, WindowState } from "./windows.js";

type Row = { start: number; count: number };

/**
 * Exact counters for one key (`user:<id>`, `org:<id>`, …): one object per key, addressed with
 * `idFromName(key)`, one SQLite row per window. A Durable Object runs one call at a time and
 * `hit` never awaits, so read-check-write is atomic without a transaction of our own; the output
 * gate holds the answer until the write is durable, so an acknowledged count survives a restart.
 */
export class SpendCounter extends DurableObject<unknown> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec("CREATE TABLE IF NOT EXISTS windows (name TEXT PRIMARY KEY, start INTEGER NOT NULL, count INTEGER NOT NULL)");
  }

  /**
   * Counts one request in every window, or in none: when a window is full the request is refused
   * and no window is charged, so a request a quota refuses does not spend a per-minute budget.
   * `nowMs` comes from the caller, so the gateway and its tests decide what time it is.
   */
  hit(windows: WindowSpec[], nowMs: number): HitResult {
    const nowS = Math.floor(nowMs / 1000);
    const states = windows.map((w) => {
      const start = Math.floor(nowS / w.period) * w.period;
      const row = this.#sql.exec<Row>("SELECT start, count FROM windows WHERE name = ?", w.name).toArray()[0];
      const used = row && row.start === start ? row.count : 0;
      return { w, start, used };
    });
    const allowed = states.every((s) => s.used < s.w.limit);
    if (allowed) {
      for (const s of states) {
        this.#sql.exec(
          "INSERT INTO windows (name, start, count) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET start = excluded.start, count = excluded.count",
          s.w.name,
          s.start,
          s.used + 1,
        );
      }
    }
    return {
      allowed,
      windows: states.map((s) => ({
        name: s.w.name,
        start: s.start,
        allowed: s.used < s.w.limit,
        remaining: Math.max(0, s.w.limit - s.used - (allowed ? 1 : 0)),
        resetS: s.start + s.w.period - nowS,
      })),
    };
  }

  /**
   * Gives back a request this object counted but another key's object refused. Only the window it
   * was counted in is credited: once that window is over there is nothing to give back.
   */
  refund(windows: { name: string; start: number }[]): void {
    for (const w of windows) {
      this.#sql.exec("UPDATE windows SET count = count - 1 WHERE name = ? AND start = ? AND count > 0", w.name, w.start);
    }
  }
}
