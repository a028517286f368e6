/**
 * The first 12 bytes of the SHA-256 of `material`, in hex: the distinguishing part of a cache key
 * (KV keys of the JWKS and of the agent directory) that names what the entry depends on without
 * containing it (a secret among it stays out of the key).
 */
export async function keyDigest(material: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(material)));
  let hex = "";
  for (const byte of digest.subarray(0, 12)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
