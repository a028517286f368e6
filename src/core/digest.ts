/**
 * The first `bytes` bytes (default 12) of the SHA-256 of `material`, in hex: the distinguishing
 * part of a cache key (KV keys of the JWKS and of the agent directory; all 32 for the machine-token
 * cache) that names what the entry depends on without containing it (a secret among it stays out
 * of the key).
 */
export async function keyDigest(material: string, bytes = 12): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(material)));
  let hex = "";
  for (const byte of digest.subarray(0, bytes)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
