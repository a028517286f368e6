import { Reason, TokenVerificationError } from "../core/errors.js";
import { decodeBytes, decodeText, isCanonical } from "../core/base64url.js";
import { MAX_KID_LENGTH, MAX_TOKEN_BYTES } from "../core/limits.js";
import { M2M_CATEGORY, MACHINE_ID_PREFIX, OAUTH_JWT_TYPES, SESSION_CATEGORY, type TokenClass } from "../credentials/token-class.js";
import { machineIdentity, toIdentity, type ClerkClaims, type Identity } from "../identity/identity.js";
import type { IoContext, KeyResolver } from "../keys/types.js";
import { audienceAccepted, audienceList, CLASS_BIT, SESSION_ONLY, takesClass, type Acceptance } from "./accepts.js";
import { MachineTokenLookup } from "./backend-api.js";
import type { AuthConfig } from "./options.js";
import { signatureAlgorithm } from "./signature.js";
import { DEFAULT_TOKEN_CACHE, VerifiedTokenCache } from "./token-cache.js";

/** Three base64url segments. One pass over the token: split-then-test-each cost twice as much (commit c6e207c). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Header parameters that point at or carry keys: never honoured, so never accepted (RFC 8725 §3.10). */
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"] as const;

export interface VerifyResult {
  identity: Identity;
  cached: boolean;
}

export interface VerifierOptions {
  now?: () => number;
  /** Verified-token cache entries (0 disables it), over the config's `tokenCache.maxEntries`. */
  cacheSize?: number;
  /** For Backend API lookups of opaque machine tokens. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Verifies one Clerk JWT — a session token, or (issue #13) an M2M token or an OAuth access token
 * signed with the same instance keys: size and shape, header (alg allow-list, kid, no
 * key-carrying parameters, typ, no nesting, the class markers), signature with the key the store
 * holds for the kid, then Clerk's claim rules with the configured clock skew. The token's class
 * must be one the request accepts ({@link Acceptance}; default: sessions only), or it is refused
 * `token-type-mismatch`. Each failure is a {@link TokenVerificationError} carrying a reason code.
 */
export class ClerkTokenVerifier {
  readonly cache: VerifiedTokenCache;
  /** Plain integers on the hot path, read by /metrics. */
  readonly counters = { cacheHits: 0, cacheMisses: 0 };
  readonly #now: () => number;
  readonly #skewS: number;
  readonly #fetch: typeof fetch | undefined;
  #machineTokens: MachineTokenLookup | null = null;

  constructor(
    readonly config: AuthConfig,
    readonly keys: KeyResolver,
    options: VerifierOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#skewS = config.clockSkewMs / 1000;
    const limits = config.tokenCache ?? DEFAULT_TOKEN_CACHE;
    this.cache = new VerifiedTokenCache(options.cacheSize ?? limits.maxEntries, limits.maxBytes);
    this.#fetch = options.fetch;
  }

  /** Opaque machine tokens (`mt_`, `oat_`, `ak_`): built on first use, as most deployments never see one. */
  get machineTokens(): MachineTokenLookup {
    return (this.#machineTokens ??= new MachineTokenLookup(this.config.machine, { fetch: this.#fetch, now: this.#now }));
  }

  async verify(token: string, io: IoContext = {}, accepts: Acceptance = SESSION_ONLY): Promise<VerifyResult> {
    // A hit first, found by the whole token compared exactly (no hash to compute, no await): only
    // a token that passed every check below is ever an entry, so the identical string needs no
    // size or shape check again. What can change since is re-checked on every hit: the route's
    // classes and audiences (one bit, one list), the clock, and whether the key is still held (a
    // rotated-out key must stop its tokens too).
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      if (this.keys.hasKid(hit.kid)) {
        this.counters.cacheHits++;
        if ((accepts.mask & hit.classBit) === 0 || (hit.aud !== null && !audienceAccepted(hit.aud, accepts))) checkAccepted(hit.tokenClass, hit.aud, accepts, hit.kid);
        this.#checkTimes(hit.exp, hit.nbf, hit.iat, hit.kid);
        return { identity: hit.identity, cached: true };
      }
      this.cache.delete(token);
    }

    if (token.length > MAX_TOKEN_BYTES) {
      throw new TokenVerificationError(Reason.TokenTooLarge, `token is larger than ${MAX_TOKEN_BYTES} bytes`);
    }
    if (!COMPACT_JWS.test(token)) {
      throw new TokenVerificationError(
        Reason.TokenInvalid,
        token.split(".").length === 5 ? "encrypted tokens (JWE) are not accepted" : "token is not a compact JWS of three base64url segments",
      );
    }

    this.counters.cacheMisses++;
    const header = this.#checkHeader(token.slice(0, token.indexOf(".")));
    // A class the request does not take is refused before any signature work; a session-shaped
    // header may still turn out to be an M2M token (`sub` mch_), decided after the signature.
    if (header.tokenClass !== "session" && !takesClass(accepts, header.tokenClass)) throw mismatch(header.tokenClass, header.kid);
    if (!isCanonical(token.slice(token.lastIndexOf(".") + 1))) {
      // jose decodes leniently; without this one signed token would have 16 accepted spellings.
      throw new TokenVerificationError(Reason.TokenInvalid, "token signature is not canonical base64url", header.kid);
    }
    const { key, alg } = this.keys.peekKey(header.kid) ?? (await this.keys.getKey(header.kid, io));
    if (header.alg !== alg) {
      throw new TokenVerificationError(Reason.TokenInvalidAlgorithm, `token alg ${header.alg} does not match the key's ${alg}`, header.kid);
    }

    // The signature over the exact bytes received (RFC 7515 §5.2), with the key the JWKS binds to
    // this alg. keys/jwks.ts imported and checked the key (type and curve for the alg, RSA ≥ 2048 bits); the header checks
    // above cover what jose's compactVerify would re-do (alg allow-list, crit, b64), so the
    // signature is one Web Crypto call instead of a second parse of the whole token (commit c6e207c).
    const lastDot = token.lastIndexOf(".");
    let valid: boolean;
    try {
      valid = await crypto.subtle.verify(signatureAlgorithm(alg), key, decodeBytes(token.slice(lastDot + 1)), ASCII.encode(token.slice(0, lastDot)));
    } catch {
      valid = false;
    }
    if (!valid) throw new TokenVerificationError(Reason.TokenInvalidSignature, "token signature is invalid", header.kid);
    let payloadText: string;
    try {
      payloadText = decodeText(token.slice(token.indexOf(".") + 1, lastDot));
    } catch {
      throw new TokenVerificationError(Reason.TokenInvalid, "token payload is not base64url UTF-8", header.kid);
    }

    const claims = this.#checkClaims(payloadText, header.kid, header.tokenClass, header.sessionCat);
    const tokenClass: TokenClass = header.tokenClass === "session" && (claims.sub as string).startsWith(MACHINE_ID_PREFIX) ? "m2m" : header.tokenClass;
    const aud = tokenClass === "oauth" ? audienceList(claims.aud) : null;
    checkAccepted(tokenClass, aud, accepts, header.kid);
    const identity = tokenClass === "session" ? toIdentity(claims) : jwtMachineIdentity(tokenClass, claims);
    // Machine JWTs need not carry nbf or iat (@clerk/backend skips absent ones): 0 never fails the checks.
    this.cache.set(token, { identity, tokenClass, classBit: CLASS_BIT[tokenClass], aud, kid: header.kid, exp: claims.exp, nbf: claims.nbf ?? 0, iat: claims.iat ?? 0, claimsBytes: payloadText.length });
    return { identity, cached: false };
  }

  #checkHeader(segment: string): { alg: string; kid: string; tokenClass: TokenClass; sessionCat: boolean } {
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(decodeText(segment));
    } catch {
      throw new TokenVerificationError(Reason.TokenInvalid, "token header is not base64url JSON");
    }
    if (!header || typeof header !== "object" || Array.isArray(header)) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token header is not a JSON object");
    }
    const alg = header.alg;
    if (typeof alg !== "string" || !this.config.algorithms.includes(alg)) {
      throw new TokenVerificationError(
        Reason.TokenInvalidAlgorithm,
        `alg ${typeof alg === "string" ? JSON.stringify(alg.slice(0, 16)) : "missing"} is not accepted (allowed: ${this.config.algorithms.join(", ")})`,
      );
    }
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length === 0) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token header has no kid");
    }
    if (kid.length > MAX_KID_LENGTH || !/^[\x21-\x7e]+$/.test(kid)) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token kid is too long or has characters a key id never has");
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (name in header) {
        throw new TokenVerificationError(Reason.TokenInvalid, `header parameter ${name} is not accepted`, kid);
      }
    }
    // Exactly "JWT", as @clerk/backend requires, or an OAuth access token's (RFC 9068 §2.1).
    const oauth = typeof header.typ === "string" && OAUTH_JWT_TYPES.includes(header.typ);
    if (header.typ !== undefined && header.typ !== "JWT" && !oauth) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token typ must be JWT (or at+jwt for an OAuth access token)", kid);
    }
    if (header.cty !== undefined) {
      throw new TokenVerificationError(Reason.TokenInvalid, "nested tokens (cty) are not accepted", kid);
    }
    if (header.b64 !== undefined) {
      throw new TokenVerificationError(Reason.TokenInvalid, "unencoded payloads (b64) are not accepted", kid);
    }
    // Clerk marks the token class in `cat` (@clerk/backend src/tokens/jwtCategories.ts); a class
    // marker that contradicts another, or one this gateway does not know, is refused.
    let tokenClass: TokenClass = oauth ? "oauth" : "session";
    if (header.cat === M2M_CATEGORY && !oauth) tokenClass = "m2m";
    else if (header.cat !== undefined && (oauth ? header.cat === SESSION_CATEGORY || header.cat === M2M_CATEGORY : header.cat !== SESSION_CATEGORY)) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token class marker (cat) is not one of Clerk's session or M2M categories", kid);
    }
    // This verifier understands no JWS extension, so any "crit" names one it does not (RFC 7515 §4.1.11).
    if (header.crit !== undefined) {
      throw new TokenVerificationError(Reason.TokenInvalid, "critical header extensions (crit) are not supported", kid);
    }
    return { alg, kid, tokenClass, sessionCat: header.cat === SESSION_CATEGORY };
  }

  #checkClaims(payloadText: string, kid: string, tokenClass: TokenClass, sessionCat: boolean): ClerkClaims {
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(payloadText);
    } catch {
      throw new TokenVerificationError(Reason.TokenInvalid, "token payload is not JSON", kid);
    }
    if (!claims || typeof claims !== "object" || Array.isArray(claims)) {
      throw new TokenVerificationError(Reason.TokenInvalid, "token payload is not a JSON object", kid);
    }
    for (const name of ["exp", "nbf", "iat"] as const) {
      const value = claims[name];
      // Session tokens always carry all three; machine JWTs need only exp (@clerk/backend skips an absent nbf or iat).
      if (value === undefined && name !== "exp" && tokenClass !== "session") continue;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 1e11) {
        throw new TokenVerificationError(
          Reason.TokenInvalid,
          value === undefined ? `${name} claim is missing` : `${name} claim is not a valid NumericDate`,
          kid,
        );
      }
    }
    if (claims.iss !== this.config.issuer) {
      throw new TokenVerificationError(Reason.TokenInvalidIssuer, "token issuer is not the configured Clerk instance", kid);
    }
    if (typeof claims.sub !== "string" || claims.sub === "") {
      throw new TokenVerificationError(Reason.TokenInvalid, "sub claim is missing or not a string", kid);
    }
    const machineSub = claims.sub.startsWith(MACHINE_ID_PREFIX);
    if (tokenClass === "m2m" && !machineSub) {
      throw new TokenVerificationError(Reason.TokenInvalid, "an M2M token (cat) whose sub is not a machine id", kid);
    }
    if (machineSub && sessionCat) {
      // @clerk/backend's verifyM2MJwt: an M2M token's cat is absent or the M2M category, never the session's.
      throw new TokenVerificationError(Reason.TokenInvalid, "a machine's token (sub mch_) under the session token category (cat)", kid);
    }
    if (tokenClass === "oauth" && machineSub) {
      // @clerk/backend takes a mch_ sub for an M2M token, which must then be typ JWT: no token is both.
      throw new TokenVerificationError(Reason.TokenInvalid, "an OAuth access token (at+jwt) whose sub is a machine id", kid);
    }
    if (tokenClass !== "session" || machineSub) {
      // Machine tokens: no azp or session-state rules (no browser, no session); the class and the audience are checked by the caller.
      const typed = claims as ClerkClaims;
      this.#checkTimes(typed.exp, typed.nbf ?? 0, typed.iat ?? 0, kid);
      return typed;
    }
    const parties = this.config.authorizedParties;
    if (parties) {
      // A token without azp is rejected too, as @clerk/backend 3.x does.
      if (typeof claims.azp !== "string" || !parties.includes(claims.azp)) {
        throw new TokenVerificationError(
          Reason.TokenInvalidAuthorizedParties,
          typeof claims.azp === "string" ? "token azp is not an authorized party" : "token has no azp and authorized parties are required",
          kid,
        );
      }
    }
    if (claims.sts === "pending" && !this.config.acceptPendingSessions) {
      throw new TokenVerificationError(Reason.SessionTokenPending, "the session is pending (sign-in tasks are not complete)", kid);
    }
    const typed = claims as ClerkClaims;
    this.#checkTimes(typed.exp, typed.nbf, typed.iat, kid);
    return typed;
  }

  /** Clerk's rules: expired when exp <= now - skew; not active when nbf > now + skew; iat likewise. */
  #checkTimes(exp: number, nbf: number, iat: number, kid: string): void {
    const now = this.#now() / 1000;
    if (exp <= now - this.#skewS) {
      throw new TokenVerificationError(Reason.TokenExpired, "token has expired", kid);
    }
    if (nbf > now + this.#skewS) {
      throw new TokenVerificationError(Reason.TokenNotActiveYet, "token is not valid yet (nbf)", kid);
    }
    if (iat > now + this.#skewS) {
      throw new TokenVerificationError(Reason.TokenIatInTheFuture, "token was issued in the future (iat)", kid);
    }
  }
}


const ASCII = new TextEncoder();

function mismatch(tokenClass: TokenClass, kid: string): TokenVerificationError {
  return new TokenVerificationError(Reason.TokenTypeMismatch, `this route does not accept ${CLASS_NAMES[tokenClass]}`, kid);
}

/** The class is accepted and, for an OAuth token, its audience names this gateway. */
function checkAccepted(tokenClass: TokenClass, aud: readonly string[] | null, accepts: Acceptance, kid: string): void {
  if (!takesClass(accepts, tokenClass)) throw mismatch(tokenClass, kid);
  if (tokenClass === "oauth" && !audienceAccepted(aud, accepts)) {
    throw new TokenVerificationError(Reason.TokenInvalidAudience, "the OAuth access token's audience (aud) is not this gateway or this resource", kid);
  }
}

export const CLASS_NAMES: Record<TokenClass, string> = {
  session: "session tokens",
  m2m: "M2M tokens",
  oauth: "OAuth access tokens",
  api_key: "API keys",
};

/**
 * A machine JWT's identity, read as `@clerk/backend`'s `M2MToken.fromJwtPayload` and
 * `IdPOAuthAccessToken.fromJwtPayload` read it: M2M scopes from `scopes` (space-separated) else
 * `aud`; OAuth scopes from `scp` else `scope` (space-separated); the token id from `jti`.
 */
function jwtMachineIdentity(tokenClass: TokenClass, claims: ClerkClaims): Identity {
  const jti = typeof claims.jti === "string" && claims.jti !== "" ? claims.jti : null;
  if (tokenClass === "m2m") {
    const scopes = typeof claims.scopes === "string" ? words(claims.scopes) : (audienceList(claims.aud) ?? []);
    return machineIdentity({ tokenType: "m2m_token", subject: claims.sub, tokenId: jti, scopes: [...scopes], claims });
  }
  const scopes = Array.isArray(claims.scp) ? claims.scp.filter((s): s is string => typeof s === "string") : typeof claims.scope === "string" ? words(claims.scope) : [];
  const clientId = typeof claims.client_id === "string" && claims.client_id !== "" ? claims.client_id : null;
  return machineIdentity({ tokenType: "oauth_token", subject: claims.sub, tokenId: jti, clientId, scopes, claims });
}

function words(value: string): string[] {
  return value.split(" ").filter(Boolean);
}
