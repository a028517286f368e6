import { ConfigError } from "../core/errors.js";
import { MIN_RSA_BITS } from "../core/limits.js";
import { keyAlgorithm } from "./import-key.js";
import type { VerificationKey } from "./jwks.js";
import type { IoContext, KeyResolver, KeyStatus, KeyStoreCounters } from "./types.js";

/**
 * `CLERK_JWT_KEY`: one PEM public key, no network at all. Like `@clerk/backend`'s `jwtKey`, the
 * token's kid need not match: there is only one key it could be.
 */
export class PemKeyStore implements KeyResolver {
  readonly counters: KeyStoreCounters = { originFetches: 0, originFailures: 0, kvReads: 0, kvWrites: 0, staleServed: 0 };
  #key: VerificationKey | null = null;

  constructor(
    private readonly pem: string,
    private readonly algorithms: readonly string[],
  ) {}

  peekKey(): VerificationKey | undefined {
    return this.#key ?? undefined;
  }

  hasKid(): boolean {
    return this.#key !== null;
  }

  async getKey(_kid: string, _io: IoContext): Promise<VerificationKey> {
    if (this.#key) return this.#key;
    const alg = this.algorithms[0]!;
    let key: CryptoKey;
    try {
      key = await importPem(this.pem, alg);
    } catch {
      throw new ConfigError("CLERK_JWT_KEY", `is not a valid ${alg} public key (SPKI PEM)`);
    }
    const bits = (key.algorithm as { modulusLength?: number }).modulusLength;
    if (typeof bits === "number" && bits < MIN_RSA_BITS) {
      throw new ConfigError("CLERK_JWT_KEY", `is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`);
    }
    this.#key = { kid: "pem", alg, key };
    return this.#key;
  }

  status(): KeyStatus {
    return { source: "jwt-key", state: this.#key ? "fresh" : "empty", kids: [], ageSeconds: null, loadedFrom: this.#key ? "pem" : null, failing: false };
  }
}

/** The PEM's SPKI, imported by the runtime's Web Crypto for exactly `alg` (as every JWKS key, keys/import-key.ts). */
async function importPem(pem: string, alg: string): Promise<CryptoKey> {
  const der = Uint8Array.from(atob(pem.replace(/-----[A-Z ]+-----|\s/g, "")), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey("spki", der, keyAlgorithm(alg), false, ["verify"]);
}
