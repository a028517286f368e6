import type { Context, MiddlewareHandler } from "hono";
import { ConfigError } from "../config/errors.js";
import { extractToken } from "../extract/token.js";
import { jwksUnavailable, misconfigured, unauthorized, internalError } from "../http/responses.js";
import type { IoContext } from "../keys/types.js";
import type { Logger } from "../log/logger.js";
import { JwksUnavailableError, Reason, TokenVerificationError } from "../verify/errors.js";
import type { Identity } from "../verify/identity.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";

/** Hono context variables set by {@link clerkAuth}: `c.var.auth` is the verified identity. */
export type AuthVariables = { auth: Identity | null };
export type AuthEnv = { Variables: AuthVariables };

export interface ClerkAuthMiddlewareOptions {
  verifier: ClerkTokenVerifier;
  logger: Logger;
  /** Let requests without a token through with `c.var.auth = null` (a bad token is still 401). */
  allowAnonymous?: boolean;
  /** Skip verification entirely for these requests (public paths, preflights). */
  skip?: (c: Context) => boolean;
}

/**
 * Verifies the request's Clerk session token and sets `c.var.auth`. Rejections are answered here:
 * 401 with a reason and an RFC 6750 challenge, 503 when keys cannot be had, 500 when the
 * configuration is wrong. Each rejection is one structured log line, without the token.
 */
export function clerkAuth(options: ClerkAuthMiddlewareOptions): MiddlewareHandler<AuthEnv> {
  const { verifier, logger } = options;
  return async (c, next) => {
    if (options.skip?.(c)) {
      c.set("auth", null);
      return next();
    }
    const reject = (status: number, reason: string, fields: Record<string, string | undefined> = {}) =>
      logger.log("warn", "auth.rejected", { status, reason, method: c.req.method, path: c.req.path, ...fields });

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
