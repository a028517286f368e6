import type { Context, MiddlewareHandler } from "hono";
import { checkOptionNames } from "../core/env.js";
import { silentLogger, type Logger } from "../core/log.js";
import { internalError } from "../http/responses.js";
import type { Identity } from "../identity/identity.js";
import type { IoContext } from "../keys/types.js";
import { authenticate, MISSING_CREDENTIAL, rejectionResponse } from "../verify/authenticate.js";
import { createLibraryVerifier, LIBRARY_VERIFIER_OPTION_NAMES, type LibraryVerifierOptions } from "../verify/create.js";
import type { ClerkTokenVerifier } from "../verify/verifier.js";
import { configuredAcceptance } from "../verify/accepts.js";

/** Hono context variables set by {@link clerkAuth}: `c.var.auth` is the verified identity. Declared once, here. */
export type AuthVariables = { auth: Identity | null };
export type AuthEnv = { Variables: AuthVariables };

interface RequestHandling {
  /** Let requests without a token through with `c.var.auth = null` (a bad token is still 401). */
  allowAnonymous?: boolean;
  /** Skip verification entirely for these requests (public paths, preflights). */
  skip?: (c: Context) => boolean;
}

/** A verifier built elsewhere (one per configuration, shared by several middlewares). */
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

const HANDLING_OPTION_NAMES = ["allowAnonymous", "skip"];
const PREBUILT_OPTION_NAMES: ReadonlySet<string> = new Set(["verifier", "logger", ...HANDLING_OPTION_NAMES]);
const LIBRARY_OPTION_NAMES: ReadonlySet<string> = new Set([...LIBRARY_VERIFIER_OPTION_NAMES, ...HANDLING_OPTION_NAMES]);

/**
 * Verifies the request's Clerk session token and sets `c.var.auth`. Rejections are answered here:
 * 401 with a reason and an RFC 6750 challenge, 503 when keys cannot be had, 500 when the
 * configuration is wrong. Each rejection is one structured log line, without the token.
 *
 * Given library options, the verifier (config, key store, verified-token cache) is built here,
 * once; invalid options — an unknown option name included — throw `ConfigError` naming the
 * setting, before any request.
 */
export function clerkAuth(options: ClerkAuthMiddlewareOptions = {}): MiddlewareHandler<AuthEnv> {
  let verifier: ClerkTokenVerifier;
  let logger: Logger;
  if (isPrebuilt(options)) {
    checkOptionNames(options, PREBUILT_OPTION_NAMES, "clerkAuth");
    ({ verifier, logger } = options);
  } else {
    checkOptionNames(options, LIBRARY_OPTION_NAMES, "clerkAuth");
    const { allowAnonymous: _a, skip: _s, verifier: _v, ...rest } = options;
    verifier = createLibraryVerifier(rest, "clerkAuth");
    logger = options.logger ?? silentLogger;
  }
  return async (c, next) => {
    if (options.skip?.(c)) {
      c.set("auth", null);
      return next();
    }
    let result;
    try {
      result = await authenticate(c.req.raw.headers, verifier, ioOf(c), configuredAcceptance(verifier.config, c.req.url));
    } catch (error) {
      logger.log("error", "auth.internal_error", { name: (error as Error)?.name, path: c.req.path });
      return internalError();
    }
    if (result.ok) {
      c.set("auth", result.identity);
      return next();
    }
    if (result.anonymous && options.allowAnonymous) {
      c.set("auth", null);
      return next();
    }
    const rejected = result.anonymous ? MISSING_CREDENTIAL : result;
    logger.log(rejected.status === 500 ? "error" : "warn", "auth.rejected", {
      status: rejected.status,
      reason: rejected.reason,
      method: c.req.method,
      path: c.req.path,
      kid: rejected.kid,
      source: rejected.source,
      variable: rejected.variable,
      message: rejected.message,
    });
    return rejectionResponse(rejected);
  };
}

function isPrebuilt(options: ClerkAuthMiddlewareOptions): options is PrebuiltVerifierOptions {
  return options.verifier !== undefined;
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
