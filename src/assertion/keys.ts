import { importJwk } from "../keys/import-key.js";

type JWK = JsonWebKey & { kid?: string };
import { ConfigError } from "../core/errors.js";

/** A key the gateway signs assertions with (HS256 secret, or an ES256/EdDSA private key). */
export interface AssertionSigner {
  readonly alg: string;
  readonly kid?: string;
  signingKey(): Promise<CryptoKey>;
}

/** A key an upstream verifies assertions with (the same HS256 secret, or a public key). */
export interface AssertionVerifier {
  readonly alg: string;
  readonly kid?: string;
  verificationKey(): Promise<CryptoKey>;
}

export const MIN_SECRET_LENGTH = 32;

/**
 * One HMAC secret (HS256), validated once (`variable` names the setting in the `ConfigError`).
 * The imported CryptoKey is kept, never the promise of one: Workers forbid sharing I/O between
 * requests. Both sides hold the secret: an upstream that verifies it could also mint.
 */
export class AssertionKey implements AssertionSigner, AssertionVerifier {
  readonly alg = "HS256";
  readonly #secret: Uint8Array;
  #key: CryptoKey | null = null;

  constructor(secret: string, variable = "GATEWAY_ASSERTION_SECRET") {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
      // The value is never echoed, not even its length: it is a secret.
      throw new ConfigError(variable, `must be at least ${MIN_SECRET_LENGTH} characters (use a random value, e.g. openssl rand -base64 48)`);
    }
    this.#secret = new TextEncoder().encode(secret);
  }

  async cryptoKey(): Promise<CryptoKey> {
    this.#key ??= await crypto.subtle.importKey("raw", this.#secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    return this.#key;
  }

  signingKey(): Promise<CryptoKey> {
    return this.cryptoKey();
  }

  verificationKey(): Promise<CryptoKey> {
    return this.cryptoKey();
  }
}

/** The asymmetric algorithms an assertion may use: what the JWK's type and curve say. */
function algorithmOf(jwk: Record<string, unknown>): "ES256" | "EdDSA" | null {
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return null;
}

/**
 * An ES256 (P-256) or EdDSA (Ed25519) key in JWK form, with a `kid`. Given a private JWK it
 * signs (the gateway) and publishes its public half at `/.well-known/jwks.json`; given a public
 * JWK it verifies (an upstream), so the upstream holds nothing that could mint an assertion.
 */
export class AssertionJwk implements AssertionSigner, AssertionVerifier {
  readonly alg: "ES256" | "EdDSA";
  readonly kid: string;
  readonly isPrivate: boolean;
  readonly #jwk: JWK;
  #signing: CryptoKey | null = null;
  #verification: CryptoKey | null = null;

  constructor(jwk: unknown, variable: string) {
    if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) throw new ConfigError(variable, "must hold a JWK object (or a JWKS {\"keys\": [...]})");
    const j = jwk as Record<string, unknown>;
    const alg = algorithmOf(j);
    if (!alg) throw new ConfigError(variable, 'keys must be EC P-256 (ES256) or OKP Ed25519 (EdDSA) JWKs; generate one with `npm run assertion-key`');
    if (j.alg !== undefined && j.alg !== alg) throw new ConfigError(variable, `a ${String(j.crv)} key is used with ${alg}, not ${String(j.alg).slice(0, 16)}`);
    if (typeof j.kid !== "string" || !/^[\x21-\x7e]{1,64}$/.test(j.kid)) throw new ConfigError(variable, "every key needs a kid (1-64 printable characters) so a rotation can name it");
    this.alg = alg;
    this.kid = j.kid;
    this.isPrivate = typeof j.d === "string";
    this.#jwk = { ...(j as unknown as JWK) };
  }

  /** The public half, as published at `/.well-known/jwks.json`. */
  publicJwk(): JWK {
    const { kty, crv, x, y, kid } = this.#jwk;
    return Object.fromEntries(Object.entries({ kty, crv, x, y, kid, alg: this.alg, use: "sig" }).filter(([, v]) => v !== undefined)) as unknown as JWK;
  }

  async signingKey(): Promise<CryptoKey> {
    if (!this.isPrivate) throw new ConfigError("GATEWAY_ASSERTION_KEY", `key "${this.kid}" is public: the gateway needs the private JWK to sign`);
    this.#signing ??= await importJwk(this.#jwk, this.alg);
    return this.#signing;
  }

  async verificationKey(): Promise<CryptoKey> {
    this.#verification ??= await importJwk(this.publicJwk(), this.alg);
    return this.#verification;
  }
}

/** A JWK, or a JWKS `{ "keys": [...] }`, as a setting's JSON text or as an object: one key per entry. */
export function parseAssertionJwks(value: unknown, variable: string): AssertionJwk[] {
  let raw = value;
  if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch {
      // Never echo the value: it may hold a private key.
      throw new ConfigError(variable, "is not valid JSON (expected a JWK or a JWKS {\"keys\": [...]})");
    }
  }
  const list = raw && typeof raw === "object" && Array.isArray((raw as { keys?: unknown }).keys) ? (raw as { keys: unknown[] }).keys : Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw new ConfigError(variable, "holds no key");
  const keys = list.map((jwk) => new AssertionJwk(jwk, variable));
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw new ConfigError(variable, "two keys share a kid");
  return keys;
}
