// The dev issuer's OAuth authorization server (scripts/lib/oauth-server.mjs), the offline stand-in
// for Clerk's: RFC 8414 metadata, RFC 7591 registration, the authorization code flow with PKCE
// S256 and RFC 8707 resources, refresh with rotation — and what it refuses. The happy path with a
// real MCP client is test/node/e2e/mcp.test.ts.

import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyMachineAuthToken } from "@clerk/backend/internal";
import { decodeJwt, exportSPKI, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../scripts/dev-issuer.mjs";

type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;
let issuer: Issuer;
let dir: string;
const REDIRECT = "http://127.0.0.1:9/callback";
const RESOURCE = "https://agents.example.com/api/mcp/weather/mcp";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mea-oauth-"));
  issuer = await startDevIssuer({ port: 0, keyFile: join(dir, "key.json"), oauthUser: "user_oauth" });
});

afterAll(async () => {
  await issuer?.close();
  await rm(dir, { recursive: true, force: true });
});

async function register(metadata: Record<string, unknown> = {}) {
  const response = await fetch(`${issuer.issuer}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "test", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", ...metadata }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

async function authorize(params: Record<string, string>) {
  const url = new URL(`${issuer.issuer}/oauth/authorize`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return fetch(url, { redirect: "manual" });
}

async function codeFor(clientId: string, challenge: string, extra: Record<string, string> = {}) {
  const response = await authorize({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: "S256", state: "s1", ...extra });
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get("location")!);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  expect(location.searchParams.get("state")).toBe("s1");
  expect(location.searchParams.get("iss")).toBe(issuer.issuer);
  return location.searchParams.get("code")!;
}

async function token(params: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${issuer.issuer}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe("dev issuer: OAuth authorization server", () => {
  it("publishes RFC 8414 metadata on the issuer's origin, also as OIDC discovery", async () => {
    const metadata = await (await fetch(`${issuer.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(metadata).toMatchObject({
      issuer: issuer.issuer,
      authorization_endpoint: `${issuer.issuer}/oauth/authorize`,
      token_endpoint: `${issuer.issuer}/oauth/token`,
      registration_endpoint: `${issuer.issuer}/oauth/register`,
      jwks_uri: issuer.jwksUrl,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
    });
    expect(await (await fetch(`${issuer.issuer}/.well-known/openid-configuration`)).json()).toEqual(metadata);
  });

  it("registers clients (RFC 7591): public and confidential; refuses redirect URIs off loopback http", async () => {
    const pub = await register();
    expect(pub.status).toBe(201);
    expect(pub.body).toMatchObject({ client_name: "test", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" });
    expect(pub.body.client_secret).toBeUndefined();
    const confidential = await register({ token_endpoint_auth_method: "client_secret_basic" });
    expect(confidential.body.client_secret).toEqual(expect.any(String));
    for (const redirect_uris of [["http://evil.example/cb"], ["https://a.example/cb#frag"], [], "x"]) {
      const refused = await register({ redirect_uris });
      expect(refused.status, JSON.stringify(redirect_uris)).toBe(400);
      expect(refused.body.error).toMatch(/invalid_redirect_uri|invalid_client_metadata/);
    }
  });

  it("issues a Clerk-shaped at+jwt for the requested resource, which @clerk/backend verifies as an OAuth token", async () => {
    const { body: client } = await register();
    const { verifier, challenge } = pkce();
    const code = await codeFor(client.client_id, challenge, { scope: "profile email", resource: RESOURCE });
    const { status, body } = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: client.client_id, resource: RESOURCE });
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3600, scope: "profile email", refresh_token: expect.any(String) });

    // @clerk/backend (the oracle) takes it as an OAuth access token of this instance, for this audience.
    const jwtKey = await exportSPKI((await importJWK(issuer.key.publicJwk, "RS256")) as CryptoKey);
    const verified = await verifyMachineAuthToken(body.access_token, { jwtKey, audience: RESOURCE } as never);
    expect(verified.errors).toBeUndefined();
    expect(verified.tokenType).toBe("oauth_token");
    expect(verified.data).toMatchObject({ clientId: client.client_id, subject: "user_oauth", scopes: ["profile", "email"] });
    const wrongAudience = await verifyMachineAuthToken(body.access_token, { jwtKey, audience: "https://elsewhere.example" } as never);
    expect(wrongAudience.errors?.length).toBe(1);
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({ iss: issuer.issuer, sub: "user_oauth", aud: RESOURCE, client_id: client.client_id, scope: "profile email" });
    expect(claims.jti).toMatch(/^oat_/);
    expect(issuer.oauth.issued.at(-1)).toMatchObject({ clientId: client.client_id, resource: RESOURCE, sub: "user_oauth" });
  });

  it("refuses what OAuth 2.1 refuses: no PKCE, a wrong verifier, a reused code, a changed resource or redirect", async () => {
    const { body: client } = await register();
    const { verifier, challenge } = pkce();

    // An unregistered redirect URI is never redirected to.
    const foreign = await authorize({ response_type: "code", client_id: client.client_id, redirect_uri: "http://127.0.0.1:9/other", code_challenge: challenge, code_challenge_method: "S256" });
    expect(foreign.status).toBe(400);
    const plain = await authorize({ response_type: "code", client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: "plain" });
    expect(new URL(plain.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");

    const base = { grant_type: "authorization_code", redirect_uri: REDIRECT, client_id: client.client_id };
    const wrong = await token({ ...base, code: await codeFor(client.client_id, challenge), code_verifier: pkce().verifier });
    expect(wrong).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

    const code = await codeFor(client.client_id, challenge, { resource: RESOURCE });
    expect((await token({ ...base, code, code_verifier: verifier, resource: "https://agents.example.com/api/mcp/other/mcp" })).body.error).toBe("invalid_target");
    // The code was spent by the failed attempt: single use whatever happens.
    expect((await token({ ...base, code, code_verifier: verifier, resource: RESOURCE })).body.error).toBe("invalid_grant");

    const other = await codeFor(client.client_id, challenge);
    expect((await token({ ...base, code: other, code_verifier: verifier, redirect_uri: "http://127.0.0.1:9/elsewhere" })).body.error).toBe("invalid_grant");
    expect((await token({ grant_type: "password", client_id: client.client_id })).body.error).toBe("unsupported_grant_type");
  });

  it("confidential clients authenticate; refresh tokens rotate and keep the resource", async () => {
    const { body: client } = await register({ token_endpoint_auth_method: "client_secret_basic" });
    const { verifier, challenge } = pkce();
    const code = await codeFor(client.client_id, challenge, { resource: RESOURCE });
    const base = { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier };
    const basic = (secret: string) => ({ authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString("base64")}` });
    expect((await token(base, basic("wrong"))).status).toBe(401);
    // (The wrong secret was refused before the code was looked at: the code is still good.)
    const first = await token(base, basic(client.client_secret));
    expect(first.status).toBe(200);

    const refreshed = await token({ grant_type: "refresh_token", refresh_token: first.body.refresh_token }, basic(client.client_secret));
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(first.body.refresh_token);
    const claims = JSON.parse(Buffer.from(refreshed.body.access_token.split(".")[1], "base64url").toString());
    expect(claims.aud).toBe(RESOURCE);
    const replay = await token({ grant_type: "refresh_token", refresh_token: first.body.refresh_token }, basic(client.client_secret));
    expect(replay).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });
});
