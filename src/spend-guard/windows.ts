// The SpendCounter Durable Object's contract, apart from the class itself: the class imports
// `cloudflare:workers`, which nothing the package entry reaches may import (Node users could not
// load it, and its types would leak into the package's declarations).

/** One fixed window to count a request in. `name` is the RATE_LIMITS/QUOTAS entry id. */
export interface WindowSpec {
  name: string;
  limit: number;
  /** Seconds. Windows are aligned on the Unix epoch, so a 86400 s window is a UTC day. */
  period: number;
}

export interface WindowState {
  name: string;
  /** Start of the window this request fell in (seconds since the epoch); a refund names it. */
  start: number;
  /** This window alone had room for the request. */
  allowed: boolean;
  /** Requests still allowed in this window after this one (exact). */
  remaining: number;
  /** Seconds until the window ends. */
  resetS: number;
}

export interface HitResult {
  /** Every window had room, and every one counted the request. */
  allowed: boolean;
  windows: WindowState[];
}

/** What the gateway calls on a SpendCounter stub (RPC). */
export interface SpendCounterStub {
  hit(windows: WindowSpec[], nowMs: number): Promise<HitResult>;
  refund(windows: { name: string; start: number }[]): Promise<void>;
}

/** The `SPEND_COUNTER` binding as the gateway uses it: an id per budget key, a stub per id. */
export interface SpendCounterNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): unknown;
}
