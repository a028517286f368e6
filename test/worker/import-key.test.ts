// keys/import-key.ts: Web Crypto's JWK import for one JWS algorithm, with jose's checks of the
// key's type and curve against the algorithm (jose's importJWK is the reference it replaces).
import { exportJWK, generateKeyPair, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { importJwk } from "../../src/keys/import-key.js";

describe("importJwk", () => {
  it.each([["RS256"], ["PS384"], ["ES256"], ["ES384"], ["EdDSA"]])("imports a %s public key as jose does, not extractable", async (alg) => {
    const { publicKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = await exportJWK(publicKey);
    const ours = await importJwk({ ...jwk, alg, use: "sig" } as JsonWebKey, alg);
    const theirs = (await importJWK(jwk, alg)) as CryptoKey;
    expect(ours.algorithm).toEqual(theirs.algorithm);
    expect([ours.type, ours.usages, ours.extractable]).toEqual(["public", ["verify"], false]);
  });

  it("imports a private key for signing", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const key = await importJwk((await exportJWK(privateKey)) as JsonWebKey, "ES256");
    expect([key.type, key.usages]).toEqual(["private", ["sign"]]);
  });

  it.each([
    ["an EC key with an RSA algorithm", "ES256", "RS256"],
    ["an RSA key with an EC algorithm", "RS256", "ES256"],
    ["a P-384 key with ES256", "ES384", "ES256"],
    ["an Ed25519 key with ES256", "EdDSA", "ES256"],
    ["an EC key with EdDSA", "ES256", "EdDSA"],
  ])("refuses %s", async (_label, made, used) => {
    const { publicKey } = await generateKeyPair(made, { extractable: true });
    await expect(importJwk((await exportJWK(publicKey)) as JsonWebKey, used)).rejects.toThrow(TypeError);
  });

  it("refuses symmetric and unknown algorithms", async () => {
    for (const alg of ["HS256", "none", "RS1", "ES256K"]) {
      await expect(importJwk({ kty: "oct", k: "c2VjcmV0" }, alg)).rejects.toThrow(/unsupported JWS algorithm/);
    }
  });
});
