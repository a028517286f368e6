// Persistence of the dev issuer's signing key, shared by the issuer, the token
// CLI and `npm run dev`, so tokens minted by any of them verify against the
// JWKS served by the others.

import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { generateSigningKey, importSigningKey } from "./clerk-token.mjs";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_KEY_FILE = ".dev/issuer-key.json";

/** Relative key paths are anchored at the project root, not the caller's cwd. */
export function resolveKeyFile(keyFile = DEFAULT_KEY_FILE) {
  return isAbsolute(keyFile) ? keyFile : resolve(PROJECT_ROOT, keyFile);
}

async function readKeyFile(path) {
  const stored = JSON.parse(await readFile(path, "utf8"));
  try {
    return await importSigningKey(stored);
  } catch (err) {
    throw new Error(`${path} does not hold a usable signing key (${err.message}); delete it to generate a new one`, {
      cause: err,
    });
  }
}

/**
 * Loads the key at keyFile, generating it on first use.
 * @returns {Promise<{ key: Awaited<ReturnType<typeof importSigningKey>>, path: string, created: boolean }>}
 */
export async function loadOrCreateDevKey(keyFile = DEFAULT_KEY_FILE) {
  const path = resolveKeyFile(keyFile);
  try {
    return { key: await readKeyFile(path), path, created: false };
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }

  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = await generateSigningKey();
  const body = `${JSON.stringify({ kid: key.kid, alg: "RS256", privateJwk: key.privateJwk, createdAt: new Date().toISOString() }, null, 2)}\n`;
  // Written in full under a temporary name, then hard-linked into place:
  // link() fails if the target exists, so when `npm run dev` and `npm run token`
  // race on first use exactly one key wins and nobody reads a half-written file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, body, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
    return { key, path, created: true };
  } catch (err) {
    if (err.code !== "EEXIST") throw err;
    return { key: await readKeyFile(path), path, created: false };
  } finally {
    await unlink(tmp);
  }
}
