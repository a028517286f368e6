#!/usr/bin/env node
// npm run assertion-key [-- --alg EdDSA] [-- --kid NAME]
// Prints a new private JWK for GATEWAY_ASSERTION_KEY (the gateway signs assertions with it) and the
// JWKS of its public half for GATEWAY_ASSERTION_PUBLIC_KEYS (what the upstream verifies with), so
// the upstream never holds anything that could mint an assertion. To rotate: put the new key first
// and keep the old one after it in GATEWAY_ASSERTION_KEY's "keys", list both public halves
// upstream, deploy, then drop the old key from both (docs/deploy.md).
import { exportJWK, generateKeyPair } from "jose";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const alg = option("alg", "ES256");
if (alg !== "ES256" && alg !== "EdDSA") {
  console.error(`--alg must be ES256 or EdDSA, not ${alg}`);
  process.exit(2);
}
const kid = option("kid", `assertion-${new Date().toISOString().slice(0, 10)}`);
const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
console.log("# The gateway (a secret: wrangler secret put GATEWAY_ASSERTION_KEY):");
console.log(`GATEWAY_ASSERTION_KEY='${JSON.stringify({ keys: [privateJwk] })}'`);
console.log("# The upstream (not secret; also served at the gateway's /.well-known/jwks.json):");
console.log(`GATEWAY_ASSERTION_PUBLIC_KEYS='${JSON.stringify({ keys: [publicJwk] })}'`);
