import type { Identity } from "./identity.js";

export interface CachedVerification {
  identity: Identity;
  /** SHA-256 of the token (base64url), computed once at insertion: the fingerprint for logs. */
  digest: string;
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

const ENCODER = new TextEncoder();
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** SHA-256 of the token, base64url: the cache key and the only token fingerprint that is logged. */
export async function tokenDigest(token: string): Promise<string> {
  return base64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", ENCODER.encode(token))));
}

/**
 * Unpadded base64url by table. This runs on every request (it makes the cache key); the
 * btoa-then-three-replaces version cost ~0.8 µs of a ~4.5 µs hot verification (BENCHMARKS.md §1).
 */
function base64Url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64URL[n >> 18]! + BASE64URL[(n >> 12) & 63]! + BASE64URL[(n >> 6) & 63]! + BASE64URL[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += BASE64URL[n >> 18]! + BASE64URL[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) out += BASE64URL[(n >> 6) & 63]!;
  }
  return out;
}
