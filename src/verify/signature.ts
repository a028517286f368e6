/**
 * Web Crypto parameters for verifying a JWS signature with `alg` (RFC 7518 §3), as jose passes
 * them. The key itself was imported by jose for exactly this alg, so a mismatch cannot verify.
 */
export function signatureAlgorithm(alg: string): Parameters<SubtleCrypto["verify"]>[0] {
  switch (alg) {
    case "RS256":
    case "RS384":
    case "RS512":
      return RSASSA;
    case "PS256":
    case "PS384":
    case "PS512":
      return { name: "RSA-PSS", saltLength: Number(alg.slice(2)) >> 3 };
    case "ES256":
    case "ES384":
    case "ES512":
      return { name: "ECDSA", hash: `SHA-${alg.slice(2)}` };
    case "EdDSA":
    case "Ed25519":
      return ED25519;
    default:
      // Unreachable after the allow-list check; fail closed all the same.
      throw new TypeError(`unsupported JWS algorithm ${alg}`);
  }
}

const RSASSA = { name: "RSASSA-PKCS1-v1_5" };
const ED25519 = { name: "Ed25519" };
