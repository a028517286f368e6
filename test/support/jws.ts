// Low-level JWS helpers for the attack, fuzz and differential tests: encode/decode segments, re-encode
// a token's header or claims WITHOUT re-signing, sign arbitrary bytes with any RSA hash or with HMAC
// (key confusion), and turn a public JWK into the PEM an operator would paste into CLERK_JWT_KEY.
// Web Crypto and jose only, so it runs in workerd as well as in Node.
import { base64url } from "jose";
import type { SigningKey } from "../worker/helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const b64u = {
  encode(data: string | Uint8Array): string {
    return base64url.encode(typeof data === "string" ? encoder.encode(data) : data);
  },
  /** Lenient decode (any trailing bits, no padding required), like jose and atob. */
  decode(segment: string): Uint8Array {
    return base64url.decode(segment);
  },
  json(segment: string): unknown {
    return JSON.parse(decoder.decode(base64url.decode(segment)));
  },
};

export function split(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${parts.length} segments`);
  return parts as [string, string, string];
}

export type Json = Record<string, unknown>;

/** Rewrites the header and/or claims of a signed token and keeps the ORIGINAL signature. */
export function reencode(
  token: string,
  edit: { header?: (h: Json) => unknown; payload?: (p: Json) => unknown },
): string {
  const [h, p, s] = split(token);
  const header = edit.header ? b64u.encode(JSON.stringify(edit.header(b64u.json(h) as Json))) : h;
  const payload = edit.payload ? b64u.encode(JSON.stringify(edit.payload(b64u.json(p) as Json))) : p;
  return `${header}.${payload}.${s}`;
}

/** Drops `undefined` members, so `{ ...claims, nbf: undefined }` removes the claim. */
export function withFields(object: Json, fields: Json): Json {
  const out: Json = { ...object, ...fields };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

const RSA_HASH = { RS256: "SHA-256", RS384: "SHA-384", RS512: "SHA-512" } as const;

/**
 * Signs exactly `header.payload` (objects are JSON-serialised, strings are taken as the raw bytes
 * to encode) with the RSA key and the given RSA hash, whatever the header says.
 */
export async function signRsa(
  key: SigningKey,
  header: Json | string,
  payload: Json | string,
  hash: keyof typeof RSA_HASH = "RS256",
): Promise<string> {
  const privateJwk = (key as SigningKey & { privateJwk: JsonWebKey }).privateJwk;
  const { alg: _alg, ...bare } = privateJwk;
  const privateKey = await crypto.subtle.importKey("jwk", bare, { name: "RSASSA-PKCS1-v1_5", hash: RSA_HASH[hash] }, false, ["sign"]);
  const input = `${b64u.encode(typeof header === "string" ? header : JSON.stringify(header))}.${b64u.encode(
    typeof payload === "string" ? payload : JSON.stringify(payload),
  )}`;
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", privateKey, encoder.encode(input)));
  return `${input}.${b64u.encode(signature)}`;
}

/** HS256 over `header.payload` with an arbitrary secret: the classic RS→HS key-confusion attack. */
export async function signHs256(secret: Uint8Array, header: Json, payload: Json): Promise<string> {
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const input = `${b64u.encode(JSON.stringify(header))}.${b64u.encode(JSON.stringify(payload))}`;
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input)));
  return `${input}.${b64u.encode(signature)}`;
}

export async function spkiOf(key: SigningKey): Promise<Uint8Array> {
  const { alg: _alg, use: _use, kid: _kid, ...jwk } = key.publicJwk as JsonWebKey & { kid?: string };
  const publicKey = await crypto.subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
  return new Uint8Array((await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer);
}

/** The SPKI PEM of a signing key's public half, 64-column lines, as Clerk's dashboard shows it. */
export async function pemOf(key: SigningKey): Promise<string> {
  const der = await spkiOf(key);
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const b64 = btoa(binary);
  return `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----`;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * The other spellings of a base64url segment that decode to the same bytes: when the bit length is
 * not a multiple of 6, the last character carries unused low bits, and lenient decoders (atob,
 * Uint8Array.fromBase64's default "loose" mode, jose) ignore them.
 */
export function nonCanonicalSpellings(segment: string): string[] {
  const unused = (segment.length * 6) % 8; // 2 chars → 4 spare bits, 3 chars → 2 spare bits per last group
  if (unused === 0) return [];
  const last = ALPHABET.indexOf(segment[segment.length - 1]!);
  const mask = (1 << unused) - 1;
  const out: string[] = [];
  for (let low = 1; low <= mask; low++) {
    out.push(segment.slice(0, -1) + ALPHABET[(last & ~mask) | low]!);
  }
  return out;
}

/**
 * True when `candidate` is the same signed message as `original`: byte-identical signing input and a
 * signature segment that decodes to the same bytes (only the unused trailing bits may differ).
 */
export function sameSignedMessage(candidate: string, original: string): boolean {
  if (candidate === original) return true;
  const a = candidate.split(".");
  const b = original.split(".");
  if (a.length !== 3 || b.length !== 3 || a[0] !== b[0] || a[1] !== b[1]) return false;
  const sa = a[2]!, sb = b[2]!;
  if (sa.length !== sb.length || !/^[A-Za-z0-9_-]+$/.test(sa)) return false;
  return nonCanonicalSpellings(sb).includes(sa);
}
