import type { Context, MiddlewareHandler } from "hono";
import { ConfigError } from "../core/errors.js";
import { extractToken } from "../credentials/token.js";
import { jwksUnavailable, misconfigured, unauthorized, internalError } from "../http/responses.js";
import type { IoContext } from "../keys/types.js";
import { silentLogger, type Logger } from "../core/log.js";
import { createLibraryVerifier, type LibraryVerifierOptions } from "../verify/create.js";
import { JwksUnavailableError, Reason, TokenVerificationError } from "../verify/errors.js";
import type { Identity } from "../identity/identity.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";

/** Hono context variables set by {@link clerkAuth}: `c.var.auth` is the verified identity. */
export type AuthVariables = { auth: Identity | null };
export type AuthEnv = { Variables: AuthVariables };

interface RequestHandling {
  /** Let requests without a token through with `c.var.auth = null` (a bad token is still 401). */
  allowAnonymous?: boolean;
  /** Skip verification entirely for these requests (public paths, preflights). */
  skip?: (c: Context) => boolean;
}

/** A verifier built elsewhere (the gateway builds its own once per configuration). */
export interface PrebuiltVerifierOptions extends RequestHandling {
  verifier: ClerkTokenVerifier;
  logger: Logger;
}

/**
 * Library use: Clerk options (each undefined one from `env`'s `CLERK_*` variables, else from
 * `process.env` where there is one) plus `kv` (default `env.JWKS_CACHE`), `fetch` and `logger`
 * (default silent). Validated when `clerkAuth` is called.
 */
export interface ClerkAuthLibraryOptions extends LibraryVerifierOptions, RequestHandling {
  verifier?: never;
}

export type ClerkAuthMiddlewareOptions = PrebuiltVerifierOptions | ClerkAuthLibraryOptions;

/**
 * Verifies the request's Clerk session token and sets `c.var.auth`. Rejections are answered here:
 * 401 with a reason and an RFC 6750 challenge, 503 when keys cannot be had, 500 when the
 * configuration is wrong. Each rejection is one structured log line, without the token.
 *
 * Given library options, the verifier (config, key store, verified-token cache) is built here,
 * once; invalid options throw `ConfigError` naming the setting, before any request.
 */
export function clerkAuth(options: ClerkAuthMiddlewareOptions = {}): MiddlewareHandler<AuthEnv> {
  const { verifier, logger } = isPrebuilt(options)
    ? options
    : { verifier: createLibraryVerifier(pickVerifierOptions(options)), logger: options.logger ?? silentLogger };
  return async (c, next) => {
    if (options.skip?.(c)) {
      c.set("auth", null);
      return next();
    }
    const reject = (status: number, reason: string, fields: Record<string, string | undefined> = {}) =>
      logger.log("warn", "auth.rejected", { status, reason, method: c.req.method, path: loggedPath(c), ...fields });

    let extracted;
    try {
      extracted = extractToken(c.req.raw.headers);
    } catch (error) {
      const e = error as TokenVerificationError;
      reject(401, e.reason, { message: e.message });
      return unauthorized(e.reason, e.message, true);
    }
    if (!extracted) {
      if (options.allowAnonymous) {
        c.set("auth", null);
        return next();
      }
      reject(401, Reason.SessionTokenMissing);
      return unauthorized(Reason.SessionTokenMissing, "no session token: send Authorization: Bearer <token>", false);
    }

    try {
      const result = await verifier.verify(extracted.token, ioOf(c));
      c.set("auth", result.identity);
    } catch (error) {
      if (error instanceof TokenVerificationError) {
        reject(401, error.reason, { kid: error.kid?.slice(0, 64), source: extracted.source, message: error.message });
        return unauthorized(error.reason, error.message, true);
      }
      if (error instanceof JwksUnavailableError) {
        reject(503, error.reason, { message: error.message });
        return jwksUnavailable(error.message, error.retryAfterS);
      }
      if (error instanceof ConfigError) {
        logger.log("error", "config.invalid", { variable: error.variable, message: error.message });
        return misconfigured(error.message);
      }
      logger.log("error", "auth.internal_error", { name: (error as Error)?.name, path: c.req.path });
      return internalError();
    }
    return next();
  };
}

function isPrebuilt(options: ClerkAuthMiddlewareOptions): options is PrebuiltVerifierOptions {
  return options.verifier !== undefined;
}

function pickVerifierOptions(options: ClerkAuthLibraryOptions): LibraryVerifierOptions {
  const { allowAnonymous: _a, skip: _s, verifier: _v, ...rest } = options;
  return rest;
}

/** Returns the identity {@link clerkAuth} set, or null. */
export function getAuth(c: Context): Identity | null {
  return (c.get("auth") as Identity | null | undefined) ?? null;
}

/** The request's `waitUntil`, when the runtime has one (Hono throws on access otherwise). */
export function ioOf(c: Context): IoContext {
  try {
    const ctx = c.executionCtx;
    return { waitUntil: (p) => ctx.waitUntil(p) };
  } catch {
    return {};
  }
}

/** The normalised path when the gateway set one (what rules matched), else the raw one: for logs. */
export function loggedPath(c: Context): string {
  const path = (c as unknown as { get(key: string): unknown }).get("path");
  return typeof path === "string" ? path : c.req.path;
}
