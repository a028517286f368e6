import type { TokenClass } from "../credentials/token-class.js";
import type { Identity } from "../identity/identity.js";

export interface CachedVerification {
  identity: Identity;
  /** Re-checked against the route on every hit: one cache serves routes that accept different classes. */
  tokenClass: TokenClass;
  /** The class's bit (verify/accepts.ts CLASS_BIT): what a hit tests against the route's mask. */
  classBit: number;
  /** An OAuth token's audiences, re-checked on every hit (the audiences a request allows depend on the request). */
  aud: readonly string[] | null;
  kid: string;
  exp: number;
  nbf: number;
  iat: number;
  /** The claims' JSON length: what the identity built from them can hold at most. */
  claimsBytes: number;
}

/** Bounds of the verified-token cache. Defaults: {@link DEFAULT_TOKEN_CACHE}. */
export interface TokenCacheLimits {
  /** Entries held at most (0 disables the cache). */
  maxEntries: number;
  /** Estimated bytes held at most (0 disables the cache); see {@link entryBytes}. */
  maxBytes: number;
}

/**
 * 10,000 entries and 16 MiB: a Worker isolate has 128 MB of memory in all
 * (https://developers.cloudflare.com/workers/platform/limits/#memory), and the entry bound alone
 * allowed 10,000 tokens of the 8 KiB MAX_TOKEN_BYTES with their identities, well over that. At
 * ~2 KiB per ordinary Clerk session token and identity, 16 MiB holds the 10,000 entries.
 */
export const DEFAULT_TOKEN_CACHE: Readonly<TokenCacheLimits> = Object.freeze({ maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 });

/** What an entry costs besides its strings: the Map slot, the entry and identity objects (a V8 estimate). */
const ENTRY_OVERHEAD_BYTES = 256;

/**
 * An entry's estimated size: the token (its key, one byte per character: a JWS is ASCII), the
 * claims' JSON (the identity holds a part of them) and a fixed overhead. An estimate, not a
 * measurement — V8 does not say what an object retains — but one that grows with what a client
 * controls (the token and its claims), which is what the byte bound is for.
 */
export function entryBytes(token: string, entry: CachedVerification): number {
  return token.length + entry.claimsBytes + ENTRY_OVERHEAD_BYTES;
}

/**
 * Tokens whose signature and claims were verified, keyed by the whole token (a `Map` compares
 * string keys exactly, so no other string can find an entry). A bounded insertion-ordered map:
 * when an entry would pass either bound (entries or bytes), the oldest go first. Entries are only
 * ever added after a full verification, and every hit is re-checked against the clock and the
 * current key set by the verifier, so the cache can make a request faster but never make a token
 * valid.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, CachedVerification>();
  #bytes = 0;
  readonly maxBytes: number;

  /** `capacity`: entries held at most; `maxBytes`: estimated bytes held at most (either 0 disables the cache). */
  constructor(
    readonly capacity = DEFAULT_TOKEN_CACHE.maxEntries,
    maxBytes = DEFAULT_TOKEN_CACHE.maxBytes,
  ) {
    this.maxBytes = maxBytes;
  }

  get(token: string): CachedVerification | undefined {
    return this.#entries.get(token);
  }

  set(token: string, entry: CachedVerification): void {
    const bytes = entryBytes(token, entry);
    // An entry larger than the whole budget is not held at all (rather than emptying the cache for it).
    if (this.capacity <= 0 || bytes > this.maxBytes) return;
    this.delete(token);
    while (this.#entries.size > 0 && (this.#entries.size >= this.capacity || this.#bytes + bytes > this.maxBytes)) {
      this.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(token, entry);
    this.#bytes += bytes;
  }

  delete(token: string): void {
    const entry = this.#entries.get(token);
    if (!entry) return;
    this.#entries.delete(token);
    this.#bytes -= entryBytes(token, entry);
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Estimated bytes held ({@link entryBytes} summed). */
  get bytes(): number {
    return this.#bytes;
  }

  /** What /metrics and the /healthz detail report. */
  stats(): { entries: number; bytes: number; maxEntries: number; maxBytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, maxEntries: this.capacity, maxBytes: this.maxBytes };
  }
}
