import type { Identity } from "../identity/identity.js";

export interface CachedVerification {
  identity: Identity;
  kid: string;
  exp: number;
  nbf: number;
  iat: number;
}

/**
 * Tokens whose signature and claims were verified, keyed by the whole token (a `Map` compares
 * string keys exactly, so no other string can find an entry). A bounded
 * insertion-ordered map: when full, the oldest entry goes. Entries are only ever added after a
 * full verification, and every hit is re-checked against the clock and the current key set by
 * the verifier, so the cache can make a request faster but never make a token valid.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, CachedVerification>();
  constructor(readonly capacity = 10_000) {}

  get(token: string): CachedVerification | undefined {
    return this.#entries.get(token);
  }

  set(token: string, entry: CachedVerification): void {
    if (this.capacity <= 0) return;
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(token, entry);
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  get size(): number {
    return this.#entries.size;
  }
}
