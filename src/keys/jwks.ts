import { JwksFormatError } from "../core/errors.js";
import { MAX_KID_LENGTH, MIN_RSA_BITS } from "../core/limits.js";
import { importJwk } from "./import-key.js";

/** A public key ready for `crypto.subtle.verify`, with the one algorithm it may be used for. */
export interface VerificationKey {
  kid: string;
  alg: string;
  key: CryptoKey;
}

/** Bounds that keep a hostile or broken JWKS from costing memory or CPU. */
const MAX_KEYS = 64;

/**
 * Validates a JWKS document and imports every usable signing key once. Keys are skipped (not
 * fatal) when they are not signing keys, carry no `kid`, use an algorithm outside the allow-list,
 * or are RSA keys under 2048 bits (RFC 8725 §3.5). Only public members are imported even if a
 * careless JWKS carries private ones. Throws {@link JwksFormatError} when nothing usable remains,
 * so an empty or broken set never replaces a good cached one.
 */
export async function importJwks(document: unknown, algorithms: readonly string[]): Promise<Map<string, VerificationKey>> {
  if (!document || typeof document !== "object" || !Array.isArray((document as { keys?: unknown }).keys)) {
    throw new JwksFormatError("JWKS is not an object with a keys array");
  }
  const raw = (document as { keys: unknown[] }).keys.slice(0, MAX_KEYS);
  const keys = new Map<string, VerificationKey>();
  for (const entry of raw) {
    const imported = await importOne(entry, algorithms).catch(() => null);
    if (imported && !keys.has(imported.kid)) keys.set(imported.kid, imported);
  }
  if (keys.size === 0) throw new JwksFormatError("JWKS has no usable signing key");
  return keys;
}

async function importOne(entry: unknown, algorithms: readonly string[]): Promise<VerificationKey | null> {
  if (!entry || typeof entry !== "object") return null;
  const jwk = entry as Record<string, unknown>;
  const kid = jwk.kid;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) return null;
  if (jwk.use !== undefined && jwk.use !== "sig") return null;
  const alg = pickAlgorithm(jwk, algorithms);
  if (!alg) return null;
  const publicJwk = publicMembers(jwk);
  if (!publicJwk) return null;
  const key = await importJwk(publicJwk, alg);
  const bits = (key.algorithm as { modulusLength?: number }).modulusLength;
  if (typeof bits === "number" && bits < MIN_RSA_BITS) return null;
  return { kid, alg, key };
}

function pickAlgorithm(jwk: Record<string, unknown>, algorithms: readonly string[]): string | null {
  if (typeof jwk.alg === "string") return algorithms.includes(jwk.alg) ? jwk.alg : null;
  // A JWK without "alg" (allowed by RFC 7517) is used with the first allowed algorithm of its type.
  const family: Record<string, (a: string) => boolean> = {
    RSA: (a) => a.startsWith("RS") || a.startsWith("PS"),
    EC: (a) => a.startsWith("ES"),
    OKP: (a) => a === "EdDSA" || a === "Ed25519",
  };
  const fits = family[String(jwk.kty)];
  return fits ? (algorithms.find(fits) ?? null) : null;
}

function publicMembers(jwk: Record<string, unknown>): JsonWebKey | null {
  const str = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : null);
  switch (jwk.kty) {
    case "RSA": {
      const n = str(jwk.n), e = str(jwk.e);
      return n && e ? { kty: "RSA", n, e } : null;
    }
    case "EC": {
      const crv = str(jwk.crv), x = str(jwk.x), y = str(jwk.y);
      return crv && x && y ? { kty: "EC", crv, x, y } : null;
    }
    case "OKP": {
      const crv = str(jwk.crv), x = str(jwk.x);
      return crv && x ? { kty: "OKP", crv, x } : null;
    }
    default:
      return null;
  }
}
