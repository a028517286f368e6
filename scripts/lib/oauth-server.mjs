// The dev issuer's OAuth 2.1 authorization server: the part of a Clerk instance an MCP client
// talks to (MCP authorization spec 2025-06-18, "Authorization Server Discovery" and "Dynamic
// Client Registration"). Clerk serves these on its Frontend API origin, which is also the
// session-token issuer; so does this, on the dev issuer's origin:
//   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (also merged into OIDC discovery)
//   POST /oauth/register                           RFC 7591 dynamic client registration
//   GET  /oauth/authorize                          authorization code + PKCE S256, consent granted at once
//   POST /oauth/token                              authorization_code and refresh_token grants
// Access tokens are JWTs shaped like Clerk's OAuth access tokens (RFC 9068 `typ: at+jwt`, signed
// by the instance key, `aud` the `resource` the client asked for, RFC 8707; minted by
// clerk-token.mjs's mintOAuthAccessToken) — what @clerk/backend's
// `IdPOAuthAccessToken.fromJwtPayload` reads: `sub`, `client_id`, `scope`, `jti`, `iat`, `exp`. Loopback only, like the rest of the dev issuer: there is no user to sign
// in, every authorization is granted to the configured user.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mintOAuthAccessToken } from "./clerk-token.mjs";
import { BodyTooLarge, readBody as readCappedBody } from "./request-body.mjs";

const ALG = "RS256";
const CODE_TTL_S = 60;
const MAX_BODY_BYTES = 64 * 1024;
/** The scopes a Clerk OAuth application knows (Clerk docs, "OAuth scoped access"). */
export const OAUTH_SCOPES = ["openid", "profile", "email", "public_metadata", "private_metadata", "offline_access"];

class OAuthError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

function random(prefix, bytes = 16) {
  return `${prefix}${randomBytes(bytes).toString("hex")}`;
}

function same(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The body as text; past MAX_BODY_BYTES, OAuth's invalid_request with 413. */
async function readBody(req) {
  try {
    return await readCappedBody(req, MAX_BODY_BYTES);
  } catch (error) {
    throw error instanceof BodyTooLarge ? new OAuthError(413, "invalid_request", "body too large") : error;
  }
}

/** A redirect URI an MCP client may register here: loopback http (a CLI's callback) or https. */
function acceptableRedirect(uri) {
  let url;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}

/**
 * @param {{ key: { kid: string, privateKey: CryptoKey }, issuer: () => string, user?: string, accessTokenTtlS?: number }} options
 *   `user`: whom every authorization is granted for (a `login_hint` naming a `user_…` id overrides it).
 */
export function createOAuthServer({ key, issuer, user = "user_mcp_dev", accessTokenTtlS = 3600 }) {
  /** @type {Map<string, { client_id: string, client_secret?: string, redirect_uris: string[], token_endpoint_auth_method: string, [k: string]: unknown }>} */
  const clients = new Map();
  /** @type {Map<string, { clientId: string, redirectUri: string, challenge: string, scope: string, resource?: string, sub: string, expiresAt: number }>} */
  const codes = new Map();
  /** @type {Map<string, { clientId: string, scope: string, resource?: string, sub: string }>} */
  const refreshTokens = new Map();
  /** Every access token issued, decoded, for tests to look at. */
  const issued = [];

  const metadata = () => {
    const iss = issuer();
    return {
      issuer: iss,
      authorization_endpoint: `${iss}/oauth/authorize`,
      token_endpoint: `${iss}/oauth/token`,
      registration_endpoint: `${iss}/oauth/register`,
      jwks_uri: `${iss}/.well-known/jwks.json`,
      scopes_supported: OAUTH_SCOPES,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
      code_challenge_methods_supported: ["S256"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: [ALG],
    };
  };

  const send = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
      "cache-control": "no-store",
      "access-control-allow-origin": "*",
      ...headers,
    });
    res.end(text);
  };

  const register = async (req, res) => {
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      throw new OAuthError(400, "invalid_client_metadata", "body must be a JSON object of client metadata");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new OAuthError(400, "invalid_client_metadata", "body must be a JSON object");
    const uris = body.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || !uris.every((u) => typeof u === "string" && acceptableRedirect(u))) {
      throw new OAuthError(400, "invalid_redirect_uri", "redirect_uris must be https or loopback http URLs without a fragment");
    }
    const method = body.token_endpoint_auth_method ?? "client_secret_basic";
    if (!["client_secret_basic", "client_secret_post", "none"].includes(method)) {
      throw new OAuthError(400, "invalid_client_metadata", `token_endpoint_auth_method ${method} is not supported`);
    }
    const client = {
      ...body,
      client_id: random("", 12),
      client_id_issued_at: Math.floor(Date.now() / 1000),
      redirect_uris: uris,
      token_endpoint_auth_method: method,
      grant_types: body.grant_types ?? ["authorization_code", "refresh_token"],
      response_types: body.response_types ?? ["code"],
      ...(method === "none" ? {} : { client_secret: random("", 24), client_secret_expires_at: 0 }),
    };
    clients.set(client.client_id, client);
    send(res, 201, client);
  };

  const authorize = (res, params) => {
    const client = clients.get(params.get("client_id") ?? "");
    const redirectUri = params.get("redirect_uri");
    // RFC 6749 §4.1.2.1: never redirect to a URI that is not the client's.
    if (!client) throw new OAuthError(400, "invalid_client", "unknown client_id");
    if (!redirectUri || !client.redirect_uris.includes(redirectUri)) throw new OAuthError(400, "invalid_request", "redirect_uri is not registered for this client");
    const back = (query) => {
      const url = new URL(redirectUri);
      for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
      url.searchParams.set("iss", issuer());
      res.writeHead(302, { location: url.href, "cache-control": "no-store" });
      res.end();
    };
    const state = params.get("state") ?? undefined;
    if (params.get("response_type") !== "code") return back({ error: "unsupported_response_type", state });
    const challenge = params.get("code_challenge");
    // OAuth 2.1 and the MCP spec: PKCE is required, S256 only.
    if (!challenge || params.get("code_challenge_method") !== "S256") {
      return back({ error: "invalid_request", error_description: "PKCE with code_challenge_method=S256 is required", state });
    }
    const scope = (params.get("scope") ?? "profile email").split(" ").filter(Boolean);
    const unknown = scope.find((s) => !OAUTH_SCOPES.includes(s));
    if (unknown) return back({ error: "invalid_scope", error_description: `unknown scope ${unknown}`, state });
    const resource = params.get("resource") ?? undefined;
    if (resource !== undefined && !/^https?:\/\/[^#]+$/.test(resource)) return back({ error: "invalid_target", state });
    const hint = params.get("login_hint");
    const code = random("code_");
    codes.set(code, {
      clientId: client.client_id,
      redirectUri,
      challenge,
      scope: scope.join(" "),
      resource,
      sub: hint && /^user_[A-Za-z0-9]+$/.test(hint) ? hint : user,
      expiresAt: Date.now() + CODE_TTL_S * 1000,
    });
    back({ code, state });
  };

  /** RFC 6749 §2.3.1: Basic (form-encoded id and secret) or the body; none for public clients. */
  const authenticateClient = (req, params) => {
    let id = params.get("client_id");
    let secret = params.get("client_secret");
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (basic) {
      const [u, p] = Buffer.from(basic[1], "base64").toString("utf8").split(":");
      id = decodeURIComponent(u ?? "");
      secret = decodeURIComponent(p ?? "");
    }
    const client = clients.get(id ?? "");
    if (!client) throw new OAuthError(401, "invalid_client", "unknown client");
    if (client.token_endpoint_auth_method !== "none" && !(secret && same(secret, client.client_secret))) {
      throw new OAuthError(401, "invalid_client", "client authentication failed");
    }
    return client;
  };

  const issue = async (res, grant) => {
    const iss = issuer();
    const accessToken = await mintOAuthAccessToken(key, {
      issuer: iss,
      sub: grant.sub,
      clientId: grant.clientId,
      scopes: grant.scope.split(" ").filter(Boolean),
      aud: grant.resource,
      ttlSeconds: accessTokenTtlS,
    });
    const refreshToken = random("rt_");
    refreshTokens.set(refreshToken, grant);
    issued.push({ ...grant, accessToken });
    send(res, 200, { access_token: accessToken, token_type: "Bearer", expires_in: accessTokenTtlS, scope: grant.scope, refresh_token: refreshToken });
  };

  const token = async (req, res) => {
    const type = req.headers["content-type"] ?? "";
    if (!type.startsWith("application/x-www-form-urlencoded")) throw new OAuthError(400, "invalid_request", "the token request must be form-encoded");
    const params = new URLSearchParams(await readBody(req));
    const client = authenticateClient(req, params);
    const grantType = params.get("grant_type");
    if (grantType === "authorization_code") {
      const code = codes.get(params.get("code") ?? "");
      // Single use, whatever happens next (RFC 6749 §4.1.2).
      codes.delete(params.get("code") ?? "");
      if (!code || code.expiresAt < Date.now() || code.clientId !== client.client_id) throw new OAuthError(400, "invalid_grant", "unknown, expired or used code");
      if (params.get("redirect_uri") !== code.redirectUri) throw new OAuthError(400, "invalid_grant", "redirect_uri differs from the authorization request");
      const verifier = params.get("code_verifier") ?? "";
      const expected = createHash("sha256").update(verifier).digest("base64url");
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !same(expected, code.challenge)) throw new OAuthError(400, "invalid_grant", "PKCE verification failed");
      const resource = params.get("resource") ?? code.resource;
      // RFC 8707 §2.2: the token request may narrow, never change, the resource granted.
      if (code.resource !== undefined && resource !== code.resource) throw new OAuthError(400, "invalid_target", "resource differs from the authorization request");
      return issue(res, { clientId: client.client_id, scope: code.scope, resource, sub: code.sub });
    }
    if (grantType === "refresh_token") {
      const presented = params.get("refresh_token") ?? "";
      const grant = refreshTokens.get(presented);
      if (!grant || grant.clientId !== client.client_id) throw new OAuthError(400, "invalid_grant", "unknown refresh token");
      // Rotated on every use (OAuth 2.1 §4.3.1 for public clients).
      refreshTokens.delete(presented);
      const resource = params.get("resource") ?? grant.resource;
      if (grant.resource !== undefined && resource !== grant.resource) throw new OAuthError(400, "invalid_target", "resource differs from the grant");
      return issue(res, grant);
    }
    throw new OAuthError(400, "unsupported_grant_type", `grant_type ${grantType} is not supported`);
  };

  return {
    metadata,
    clients,
    issued,
    /** Serves the request when it is one of the OAuth routes; false otherwise. */
    async handle(req, res, url) {
      const route = `${req.method} ${url.pathname}`;
      try {
        switch (route) {
          case "GET /.well-known/oauth-authorization-server":
            send(res, 200, metadata(), { "cache-control": "public, max-age=300" });
            return true;
          case "POST /oauth/register":
            await register(req, res);
            return true;
          case "GET /oauth/authorize":
            authorize(res, url.searchParams);
            return true;
          case "POST /oauth/token":
            await token(req, res);
            return true;
          default:
            return false;
        }
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        const headers = error.status === 401 ? { "www-authenticate": 'Basic realm="dev-issuer"' } : {};
        send(res, error.status, { error: error.error, error_description: error.message }, headers);
        return true;
      }
    },
  };
}
