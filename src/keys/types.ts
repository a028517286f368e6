import type { VerificationKey } from "./jwks.js";

/** What a request lends the key store for work that may outlive it (Workers' `ctx.waitUntil`). */
export interface IoContext {
  waitUntil?(promise: Promise<unknown>): void;
}

export interface KeyStatus {
  /** Where keys come from: `jwt-key` (PEM), `jwks-uri`, `publishable-key`, `secret-key`. */
  source: string;
  /**
   * `fresh` within TTL; `stale` past it (still served up to the stale bound while a refresh is
   * tried); `expired` past the stale bound (never served); `empty` before the first load.
   */
  state: "fresh" | "stale" | "expired" | "empty";
  kids: string[];
  /** Age of the key set held in memory, counted from its origin fetch; null when empty. */
  ageSeconds: number | null;
  /** Where the held set was last loaded from in this isolate. */
  loadedFrom: "origin" | "kv" | "pem" | null;
  /** The last attempt to load keys from the origin failed. */
  failing: boolean;
}

/** Counters a test or benchmark can read to prove the hot path touches no slow layer. */
export interface KeyStoreCounters {
  originFetches: number;
  originFailures: number;
  kvReads: number;
  kvWrites: number;
  staleServed: number;
}

export interface KeyResolver {
  /** The key for a token's `kid`; throws `TokenVerificationError` or `JwksUnavailableError`. */
  getKey(kid: string, io: IoContext): Promise<VerificationKey>;
  /**
   * Synchronous: the key for a kid when the held set is fresh and has it, else undefined (then
   * `getKey` decides: refresh, wait, or reject). Saves a promise turn on every full verification.
   */
  peekKey(kid: string): VerificationKey | undefined;
  /** Synchronous: is this kid usable right now (a cached verified token re-checks it). */
  hasKid(kid: string): boolean;
  status(): KeyStatus;
  readonly counters: KeyStoreCounters;
}

/** Where keys come from: a PEM key, or a JWKS URL (with the headers its fetch needs). */
export type KeySource =
  | { kind: "jwt-key"; pem: string }
  | {
      kind: "jwks-uri" | "publishable-key" | "secret-key";
      url: string;
      /** Request headers for the JWKS fetch (the Backend API needs the secret key). */
      headers?: Record<string, string>;
    };

/** JWKS freshness settings (`JWKS_*`). */
export interface JwksTiming {
  cacheTtlS: number;
  maxStaleS: number;
  refetchCooldownS: number;
  fetchTimeoutMs: number;
}
