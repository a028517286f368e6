/**
 * Bounds and defaults that more than one module enforces, each written once. Everything hostile
 * input can grow is bounded here or next to the one module that owns it.
 */

/** Tokens above this are rejected before any parsing (Clerk's are ~1 KiB). */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** A `kid` longer than this is not one a JWKS would carry (and would bloat caches and logs). */
export const MAX_KID_LENGTH = 256;

/** RSA keys under this size are never used (RFC 8725 §3.5; NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;

/** Default tolerance for `exp`, `nbf` and `iat`, as `@clerk/backend`'s `clockSkewInMs`. */
export const DEFAULT_CLOCK_SKEW_MS = 5_000;

/** The most clock skew any setting may ask for. */
export const MAX_CLOCK_SKEW_MS = 300_000;

