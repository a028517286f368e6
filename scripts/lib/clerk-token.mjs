// Offline stand-in for Clerk's token issuance: mints compact JWS strings shaped
// like Clerk session tokens (v2 by default, v1 on request) so the Worker can be
// exercised end to end without reaching Clerk.
//
// This file is imported both by Node scripts and by tests running inside
// workerd, so it may only use Web Crypto, Web globals and jose (no `node:`).

import { base64url, exportJWK, generateKeyPair, importJWK } from "jose";

const ALG = "RS256";

/** Issuer used when none is given: where `npm run dev` serves the dev issuer. */
export const DEFAULT_DEV_ISSUER = "http://127.0.0.1:8790";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Clerk object ids are a typed prefix plus 27 base62 characters
// (e.g. `sess_2NNEqL2nrIRdJ194ndJqAHwEfxC`); matching that makes log output and
// any id-shape checks in the Worker behave as they would with real tokens.
function clerkId(prefix, length = 27) {
  let out = "";
  // Rejection sampling keeps the characters uniformly distributed.
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const b of bytes) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return `${prefix}_${out}`;
}

function randomHex(byteLength) {
  return Array.from(crypto.getRandomValues(new Uint8Array(byteLength)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

function publicPart(jwk) {
  // Rebuilt from scratch rather than deleting fields so that no private member
  // (d, p, q, dp, dq, qi, oth) can leak into a published JWKS by accident.
  return { kty: jwk.kty, n: jwk.n, e: jwk.e };
}

async function keyFromPrivateJwk(kid, privateJwk) {
  const privateKey = await importJWK({ ...privateJwk, alg: ALG }, ALG, { extractable: true });
  const publicJwk = { ...publicPart(privateJwk), kid, alg: ALG, use: "sig" };
  return { kid, privateKey, publicJwk, privateJwk: { ...privateJwk, kid, alg: ALG } };
}

/**
 * Fresh RS256 key pair for signing dev tokens.
 * @param {{ kid?: string, modulusLength?: number }} [options]
 */
export async function generateSigningKey({ kid, modulusLength = 2048 } = {}) {
  const { privateKey } = await generateKeyPair(ALG, { modulusLength, extractable: true });
  const privateJwk = await exportJWK(privateKey);
  return keyFromPrivateJwk(kid ?? clerkId("ins"), privateJwk);
}

/**
 * Rebuilds a signing key from its stored private JWK.
 * @param {{ kid: string, privateJwk: JsonWebKey }} stored
 */
export async function importSigningKey({ kid, privateJwk }) {
  if (typeof kid !== "string" || kid === "") throw new TypeError("importSigningKey: kid is required");
  if (!privateJwk || privateJwk.kty !== "RSA" || typeof privateJwk.d !== "string") {
    throw new TypeError("importSigningKey: privateJwk must be an RSA private JWK");
  }
  return keyFromPrivateJwk(kid, privateJwk);
}

function stripOrgPrefix(role) {
  return role.startsWith("org:") ? role.slice(4) : role;
}

function parsePermission(permission) {
  const match = /^org:([^:,\s]+):([^:,\s]+)$/.exec(permission);
  if (!match) {
    throw new TypeError(`permission ${JSON.stringify(permission)} is not of the form org:<feature>:<permission>`);
  }
  return { feature: match[1], name: match[2] };
}

/**
 * Clerk v2 packs organisation permissions as: `fea` lists the features
 * (`o:<feature>`), `o.per` lists distinct permission names, and `o.fpm` holds one
 * decimal integer per feature whose bit i (LSB first) grants `per[i]` for that
 * feature. Exported so tests can check the encoding independently.
 * @param {string[]} permissions e.g. ["org:agents:run", "org:agents:read"]
 */
export function encodeOrgPermissionsV2(permissions) {
  const features = [];
  const names = [];
  const grants = new Map();
  for (const permission of permissions) {
    const { feature, name } = parsePermission(permission);
    if (!features.includes(feature)) features.push(feature);
    if (!names.includes(name)) names.push(name);
    let set = grants.get(feature);
    if (!set) grants.set(feature, (set = new Set()));
    set.add(name);
  }
  // BigInt because Clerk's decoder accepts arbitrarily long decimals, and more
  // than 53 permission names would overflow a double.
  const fpm = features.map((feature) => {
    let bits = 0n;
    names.forEach((name, i) => {
      if (grants.get(feature).has(name)) bits |= 1n << BigInt(i);
    });
    return bits.toString(10);
  });
  return {
    fea: features.map((f) => `o:${f}`).join(","),
    per: names.join(","),
    fpm: fpm.join(","),
  };
}

function assertInteger(name, value, { min = -Infinity } = {}) {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`${name} must be an integer${min > -Infinity ? ` >= ${min}` : ""}, got ${JSON.stringify(value)}`);
  }
}

/**
 * Builds the claims of a Clerk session token without signing it.
 * @param {object} options see mintClerkToken
 */
export function buildClerkClaims(options = {}) {
  const {
    sub = "user_dev",
    sid = clerkId("sess"),
    issuer = DEFAULT_DEV_ISSUER,
    azp = "http://localhost:3000",
    ttlSeconds = 60,
    now = Math.floor(Date.now() / 1000),
    nbfSkewSeconds = 10,
    org,
    version = 2,
    pending = false,
    email,
    emailVerified,
    fva = [0, -1],
    jti = randomHex(10),
    claims = {},
  } = options;

  if (typeof issuer !== "string" || issuer === "") throw new TypeError("issuer is required");
  if (typeof sub !== "string" || sub === "") throw new TypeError("sub must be a non-empty string");
  assertInteger("ttlSeconds", ttlSeconds);
  assertInteger("now", now, { min: 0 });
  assertInteger("nbfSkewSeconds", nbfSkewSeconds, { min: 0 });
  if (version !== 1 && version !== 2) throw new TypeError(`version must be 1 or 2, got ${JSON.stringify(version)}`);

  const payload = {};
  // `azp` may be null to model Clerk omitting it when the Origin was empty.
  if (azp !== null && azp !== undefined) payload.azp = azp;
  payload.exp = now + ttlSeconds;
  payload.fva = fva;
  payload.iat = now;
  payload.iss = issuer;
  payload.jti = jti;
  payload.nbf = now - nbfSkewSeconds;
  payload.sid = sid;
  payload.sub = sub;

  if (org) {
    if (typeof org.id !== "string" || org.id === "") throw new TypeError("org.id is required");
    const role = stripOrgPrefix(org.role ?? "member");
    const slug = org.slug ?? org.id;
    const permissions = org.permissions ?? [];
    if (version === 2) {
      const o = { id: org.id, slg: slug, rol: role };
      if (permissions.length > 0) {
        const { fea, per, fpm } = encodeOrgPermissionsV2(permissions);
        o.per = per;
        o.fpm = fpm;
        payload.fea = fea;
      }
      payload.o = o;
    } else {
      permissions.forEach(parsePermission);
      payload.org_id = org.id;
      payload.org_permissions = [...new Set(permissions)];
      payload.org_role = `org:${role}`;
      payload.org_slug = slug;
    }
  }
  if (pending) payload.sts = "pending";
  if (version === 2) payload.v = 2;
  if (email !== undefined) payload.email = email;
  if (emailVerified !== undefined) payload.email_verified = Boolean(emailVerified);
  return { ...payload, ...claims };
}

/**
 * Mints a compact JWS shaped like a Clerk session token.
 *
 * The signature is always RS256 over exactly the serialised header and payload,
 * even when `header` overrides `alg`/`kid`/`typ`: attack tests need tokens whose
 * header lies about how they were signed. `claims` is merged last, so a claim
 * set to `undefined` there is dropped from the token (e.g. a token without `exp`).
 *
 * @param {{ kid: string, privateKey: CryptoKey }} key from generateSigningKey/importSigningKey
 * @param {{
 *   sub?: string, sid?: string, issuer?: string, azp?: string | null,
 *   ttlSeconds?: number, now?: number, nbfSkewSeconds?: number,
 *   org?: { id: string, slug?: string, role?: string, permissions?: string[] },
 *   version?: 1 | 2, pending?: boolean, email?: string, emailVerified?: boolean,
 *   fva?: [number, number], jti?: string,
 *   claims?: Record<string, unknown>, header?: Record<string, unknown>,
 * }} options
 * @returns {Promise<string>}
 */
export async function mintClerkToken(key, options = {}) {
  if (!key || !key.privateKey || typeof key.kid !== "string") {
    throw new TypeError("mintClerkToken: key must come from generateSigningKey or importSigningKey");
  }
  const payload = buildClerkClaims(options);
  const header = { alg: ALG, kid: key.kid, typ: "JWT", ...(options.header ?? {}) };
  const encoder = new TextEncoder();
  const signingInput = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const signature = await crypto.subtle.sign(
    { name: "RSASSA-PKCS1-v1_5" },
    key.privateKey,
    encoder.encode(signingInput),
  );
  return `${signingInput}.${base64url.encode(new Uint8Array(signature))}`;
}

/**
 * Clerk publishable key for a Frontend API host: `pk_test_` / `pk_live_`
 * followed by base64 of `${host}$`, without `=` padding as Clerk issues them.
 * @param {string} host e.g. "127.0.0.1:8790" or "clerk.example.com"
 * @param {{ live?: boolean }} [options]
 */
export function publishableKeyFor(host, { live = false } = {}) {
  if (typeof host !== "string" || host === "") throw new TypeError("host is required");
  const bytes = new TextEncoder().encode(`${host}$`);
  const b64 = btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
  return `pk_${live ? "live" : "test"}_${b64}`;
}

/** Clerk's `cat` header of an M2M token (@clerk/backend `JWT_CATEGORY_M2M_TOKEN`). */
export const M2M_CATEGORY = "cl_B7d4PD333AAA";

async function signCompact(key, header, payload) {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const signature = await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

/**
 * Mints a JWT shaped like a Clerk M2M token (`tokenFormat: "jwt"`): `cat` of the M2M class, `sub`
 * the machine (`mch_…`), `scopes` the machines it may talk to, space-separated, as
 * `@clerk/backend`'s `M2MToken.fromJwtPayload` reads them. `claims` is merged last.
 * @param {{ kid: string, privateKey: CryptoKey }} key
 * @param {{ issuer?: string, now?: number, ttlSeconds?: number, machineId?: string, scopes?: string[], jti?: string,
 *   claims?: Record<string, unknown>, header?: Record<string, unknown> }} [options]
 */
export async function mintM2MToken(key, options = {}) {
  const { issuer = DEFAULT_DEV_ISSUER, now = Math.floor(Date.now() / 1000), ttlSeconds = 3600, machineId = clerkId("mch"), scopes = [], jti = clerkId("mt") } = options;
  const payload = { exp: now + ttlSeconds, iat: now, iss: issuer, jti, nbf: now - 10, sub: machineId };
  if (scopes.length) payload.scopes = scopes.join(" ");
  return signCompact(key, { alg: ALG, kid: key.kid, typ: "JWT", cat: M2M_CATEGORY, ...(options.header ?? {}) }, { ...payload, ...(options.claims ?? {}) });
}

/**
 * Mints a JWT shaped like a Clerk OAuth access token (`typ: at+jwt`, RFC 9068): `sub` the user,
 * `client_id` the OAuth application, `aud` the resource it is for, `scope` space-separated.
 * @param {{ kid: string, privateKey: CryptoKey }} key
 * @param {{ issuer?: string, now?: number, ttlSeconds?: number, sub?: string, clientId?: string, aud?: string | string[],
 *   scopes?: string[], jti?: string, claims?: Record<string, unknown>, header?: Record<string, unknown> }} [options]
 */
export async function mintOAuthAccessToken(key, options = {}) {
  const { issuer = DEFAULT_DEV_ISSUER, now = Math.floor(Date.now() / 1000), ttlSeconds = 3600, sub = clerkId("user"), clientId = clerkId("client", 16), aud, scopes = [], jti = clerkId("oat") } = options;
  const payload = { client_id: clientId, exp: now + ttlSeconds, iat: now, iss: issuer, jti, nbf: now - 10, sub };
  if (aud !== undefined) payload.aud = aud;
  if (scopes.length) payload.scope = scopes.join(" ");
  return signCompact(key, { alg: ALG, kid: key.kid, typ: "at+jwt", ...(options.header ?? {}) }, { ...payload, ...(options.claims ?? {}) });
}
