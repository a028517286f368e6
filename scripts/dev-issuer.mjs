#!/usr/bin/env node
// Local stand-in for a Clerk instance: publishes the dev signing key the way
// Clerk's Frontend API and Backend API do, and mints session tokens on request
// the way Clerk's `getToken()` hands them to a browser. Loopback only: anyone
// who can reach it can mint tokens.

import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { mintClerkToken } from "./lib/clerk-token.mjs";
import { DEFAULT_KEY_FILE, loadOrCreateDevKey } from "./lib/dev-key.mjs";
import { createOAuthServer } from "./lib/oauth-server.mjs";
import { BodyTooLarge, readBody } from "./lib/request-body.mjs";

/** Secret key the fake Backend API accepts on `/v1/jwks`. */
export const DEV_SECRET_KEY = "sk_test_dev";
export const DEFAULT_ISSUER_PORT = 8790;
const MAX_BODY_BYTES = 64 * 1024;

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-max-age": "600",
};

function isLoopback(host) {
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...CORS_HEADERS,
    ...headers,
  });
  res.end(text);
}

class BadRequest extends Error {}

async function readJsonBody(req) {
  let text;
  try {
    text = await readBody(req, MAX_BODY_BYTES);
  } catch (err) {
    throw err instanceof BodyTooLarge ? new BadRequest(err.message) : err;
  }
  if (text.trim() === "") return {};
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`invalid JSON body: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new BadRequest("body must be a JSON object of mintClerkToken options");
  }
  return parsed;
}

function truthy(value) {
  return value !== null && ["1", "true", "yes", "on", ""].includes(value.toLowerCase());
}

/** Translates `GET /token` query parameters into mintClerkToken options. */
export function tokenOptionsFromQuery(params) {
  const options = {};
  const str = (name) => params.get(name) ?? undefined;
  const int = (name) => {
    const raw = params.get(name);
    if (raw === null) return undefined;
    if (!/^-?\d+$/.test(raw)) throw new BadRequest(`${name} must be an integer`);
    return Number(raw);
  };
  if (params.has("sub")) options.sub = str("sub");
  if (params.has("sid")) options.sid = str("sid");
  if (params.has("azp")) options.azp = str("azp");
  if (params.has("ttl")) options.ttlSeconds = int("ttl");
  if (params.has("email")) options.email = str("email");
  if (params.has("email_verified")) options.emailVerified = truthy(params.get("email_verified"));
  if (params.has("pending")) options.pending = truthy(params.get("pending"));
  if (params.has("v")) options.version = int("v");
  const permissions = params.getAll("perm").flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  if (params.has("org")) {
    options.org = { id: str("org"), permissions };
    if (params.has("slug")) options.org.slug = str("slug");
    if (params.has("role")) options.org.role = str("role");
  } else if (permissions.length > 0 || params.has("role")) {
    throw new BadRequest("role and perm need org");
  }
  return options;
}

/**
 * Starts the dev issuer on loopback.
 * @param {{ port?: number, host?: string, keyFile?: string, jwksCacheControl?: string, oauthUser?: string }} [options]
 *   port 0 picks a free port; relative keyFile paths are resolved from the project root.
 *   `oauthUser`: the user every OAuth authorization is granted for (scripts/lib/oauth-server.mjs).
 */
export async function startDevIssuer({
  port = DEFAULT_ISSUER_PORT,
  host = "127.0.0.1",
  keyFile = DEFAULT_KEY_FILE,
  // Public and cacheable like Clerk's JWKS, but short enough that a regenerated
  // dev key is picked up quickly by anything that honours the header.
  jwksCacheControl = "public, max-age=300, stale-while-revalidate=60",
  oauthUser,
} = {}) {
  if (!isLoopback(host)) {
    throw new Error(`dev issuer refuses to bind ${host}: it mints tokens for anyone who can reach it`);
  }
  const { key, path: keyPath, created } = await loadOrCreateDevKey(keyFile);
  const jwks = { keys: [key.publicJwk] };
  let issuer = "";

  const mint = (opts = {}) => mintClerkToken(key, { issuer, ...opts });
  // Clerk's OAuth authorization server lives on the same origin as the session-token issuer.
  const oauth = createOAuthServer({ key, issuer: () => issuer, user: oauthUser });

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://dev-issuer.invalid");
      const route = `${req.method} ${url.pathname}`;
      if (req.method === "OPTIONS") {
        res.writeHead(204, CORS_HEADERS);
        res.end();
        return;
      }
      if (await oauth.handle(req, res, url)) return;
      switch (route) {
        case "GET /.well-known/jwks.json":
          return sendJson(res, 200, jwks, { "cache-control": jwksCacheControl });
        case "GET /.well-known/openid-configuration":
          return sendJson(res, 200, oauth.metadata(), { "cache-control": jwksCacheControl });
        case "GET /v1/jwks": {
          if (req.headers.authorization !== `Bearer ${DEV_SECRET_KEY}`) {
            return sendJson(res, 401, {
              errors: [{
                message: "Invalid authentication",
                long_message: `Send the dev secret key as "Authorization: Bearer ${DEV_SECRET_KEY}".`,
                code: "clerk_key_invalid",
              }],
            });
          }
          return sendJson(res, 200, jwks, { "cache-control": "no-store" });
        }
        case "GET /token":
          return sendJson(res, 200, { token: await mint(tokenOptionsFromQuery(url.searchParams)) }, {
            "cache-control": "no-store",
          });
        case "POST /token":
          return sendJson(res, 200, { token: await mint(await readJsonBody(req)) }, {
            "cache-control": "no-store",
          });
        case "GET /":
          return sendJson(res, 200, {
            issuer,
            jwks_uri: `${issuer}/.well-known/jwks.json`,
            backend_jwks: `${issuer}/v1/jwks (Authorization: Bearer ${DEV_SECRET_KEY})`,
            token: `${issuer}/token?sub=user_1&org=org_1&role=admin&perm=org:agents:run&email_verified=1&ttl=3600`,
            oauth_authorization_server: `${issuer}/.well-known/oauth-authorization-server`,
          });
        default:
          return sendJson(res, 404, { error: `no route for ${route}` });
      }
    } catch (err) {
      const status = err instanceof BadRequest || err instanceof TypeError ? 400 : 500;
      if (!res.headersSent) sendJson(res, status, { error: err.message });
      else res.destroy(err);
    }
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  issuer = `http://${urlHost}:${address.port}`;

  return {
    url: issuer,
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    port: address.port,
    key,
    keyPath,
    keyCreated: created,
    mint,
    /** The OAuth authorization server: its registered `clients` and every access token `issued`. */
    oauth,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: process.env.DEV_ISSUER_PORT ?? String(DEFAULT_ISSUER_PORT) },
      host: { type: "string", default: "127.0.0.1" },
      "key-file": { type: "string", default: DEFAULT_KEY_FILE },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`Usage: node scripts/dev-issuer.mjs [--port ${DEFAULT_ISSUER_PORT}] [--host 127.0.0.1] [--key-file ${DEFAULT_KEY_FILE}]
Serves a local Clerk stand-in: /.well-known/jwks.json, /v1/jwks (Bearer ${DEV_SECRET_KEY}), GET|POST /token,
and an OAuth authorization server for MCP clients (/.well-known/oauth-authorization-server, /oauth/*).
The port also comes from DEV_ISSUER_PORT.`);
    return;
  }
  const issuer = await startDevIssuer({
    port: Number(values.port),
    host: values.host,
    keyFile: values["key-file"],
  });
  console.log(`dev issuer ${issuer.issuer} (kid ${issuer.key.kid}, key ${issuer.keyCreated ? "created in" : "loaded from"} ${issuer.keyPath})`);
  console.log(`  JWKS   ${issuer.jwksUrl}`);
  console.log(`  token  curl -s '${issuer.issuer}/token?sub=user_1&org=org_1&role=admin&perm=org:agents:run'`);
  const stop = async () => {
    await issuer.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`dev issuer: ${err.message}`);
    process.exit(1);
  });
}
