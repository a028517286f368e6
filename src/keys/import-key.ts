/**
 * Imports a JWK for one JWS algorithm with Web Crypto, as jose's `importJWK` does (its
 * `lib/jws_algorithms.js` table): the same parameters, the key type and curve checked against the
 * algorithm, `alg` and `use` dropped, never extractable. Not jose's: its import pulls the JWE
 * algorithm tables with it, 1.8 KiB of the gzipped deploy bundle (issue #14's budget), for the four
 * families below. The callers have checked the JWK's members already (jwks.ts, assertion/keys.ts).
 */
export async function importJwk(jwk: JsonWebKey, alg: string): Promise<CryptoKey> {
  const params = keyAlgorithm(alg);
  const expected = params.name === "ECDSA" ? "EC" : params.name === "Ed25519" ? "OKP" : "RSA";
  const curve = (params as { namedCurve?: string }).namedCurve ?? (expected === "OKP" ? "Ed25519" : undefined);
  if (jwk.kty !== expected || jwk.crv !== curve) throw new TypeError(`a ${String(jwk.kty)} ${String(jwk.crv ?? "")} key cannot be used with ${alg}`);
  const { alg: _alg, use: _use, key_ops: _ops, ext: _ext, ...members } = jwk;
  return crypto.subtle.importKey("jwk", members, params, false, [members.d === undefined ? "verify" : "sign"]);
}

/** Web Crypto's import parameters for a key of `alg` (RFC 7518 §3.3–3.5, RFC 8037 §3.1); throws for any other. */
export function keyAlgorithm(alg: string): SubtleCryptoImportKeyAlgorithm {
  const hash = `SHA-${alg.slice(2)}`;
  if (/^RS(256|384|512)$/.test(alg)) return { name: "RSASSA-PKCS1-v1_5", hash };
  if (/^PS(256|384|512)$/.test(alg)) return { name: "RSA-PSS", hash };
  if (/^ES(256|384|512)$/.test(alg)) return { name: "ECDSA", namedCurve: alg === "ES512" ? "P-521" : `P-${alg.slice(2)}` };
  if (alg === "EdDSA" || alg === "Ed25519") return { name: "Ed25519" };
  throw new TypeError(`unsupported JWS algorithm ${alg}`);
}
