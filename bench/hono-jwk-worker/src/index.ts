import { Hono } from "hono";
import { jwk } from "hono/jwk";
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";

interface Env {
  /** The JWKS URL (the bench points it at the same loopback stand-in as the gateway's CLERK_JWKS_URI). */
  CLERK_JWKS_URI: string;
  CLERK_ISSUER: string;
  MASTRA_URL: string;
}

/**
 * The keys once per isolate. `jwks_uri` alone would make hono/jwk fetch the JWKS on every request
 * (hono/dist/utils/jwt/jwt.js `verifyWithJwks`); a user who cares about speed passes `keys` as a
 * function over a module-level cache instead, as here, so the comparison is fair to Hono.
 */
let keys: Promise<HonoJsonWebKey[]> | null = null;
function keysOnce(url: string): Promise<HonoJsonWebKey[]> {
  keys ??= fetch(url)
    .then((r) => r.json() as Promise<{ keys: HonoJsonWebKey[] }>)
    .then((d) => d.keys)
    .catch((error) => {
      keys = null;
      throw error;
    });
  return keys;
}

/**
 * What a user would write with Hono's own middleware: verify the bearer token (RS256, issuer
 * checked), then forward the request with the user id. Kept as small as it can be.
 */
const app = new Hono<{ Bindings: Env }>();
// The middleware is made once, on the first request (its options need the env).
let auth: ReturnType<typeof jwk> | null = null;
app.use("*", (c, next) => {
  auth ??= jwk({ keys: (ctx) => keysOnce(ctx.env.CLERK_JWKS_URI), alg: ["RS256"], verification: { iss: c.env.CLERK_ISSUER } });
  return auth(c, next);
});
app.all("*", (c) => {
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  headers.set("x-clerk-user-id", String(c.get("jwtPayload").sub));
  return fetch(new URL(url.pathname + url.search, c.env.MASTRA_URL), { method: c.req.method, headers, body: c.req.raw.body });
});

export default app;
