import type { Identity } from "./identity.js";

export interface CachedVerification {
  identity: Identity;
  kid: string;
  exp: number;
  nbf: number;
  iat: number;
}

/**
 * Tokens whose signature and claims were verified, by a digest of the whole token. A bounded
 * insertion-ordered map: when full, the oldest entry goes. Entries are only ever added after a
 * full verification, and every hit is re-checked against the clock and the current key set by
 * the verifier, so the cache can make a request faster but never make a token valid.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, CachedVerification>();
  constructor(readonly capacity = 10_000) {}

  get(digest: string): CachedVerification | undefined {
    return this.#entries.get(digest);
  }

  set(digest: string, entry: CachedVerification): void {
    if (this.capacity <= 0) return;
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(digest, entry);
  }

  delete(digest: string): void {
    this.#entries.delete(digest);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** SHA-256 of the token, base64url: the cache key and the only token fingerprint that is logged. */
export async function tokenDigest(token: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
