import { checkUrl, nonEmpty, stringsOf, type VariableSource } from "../core/env.js";
import { ConfigError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { userFromBackendApi, userFromClaims, type MastraUser } from "./user.js";
import type { ClerkClaims } from "../identity/identity.js";

/** Options of the user look-up behind `getUser` (both providers). */
export interface UserLookupOptions {
  /**
   * `sk_test_…`/`sk_live_…`: lets `getUser(id)` ask Clerk's Backend API for a user's email, name,
   * avatar and public metadata. Default: `CLERK_SECRET_KEY` of `env`, else of `process.env`.
   * Without one, `getUser` answers null (and `getCurrentUser` shows the token's claims only).
   */
  secretKey?: string;
  /** Clerk Backend API origin. Default `CLERK_API_URL`, else `https://api.clerk.com`. */
  apiUrl?: string;
}

export const USER_LOOKUP_OPTION_NAMES: readonly string[] = ["secretKey", "apiUrl"];

/** How long a user found in the Backend API is kept. 5 minutes: a renamed user shows within that. */
export const USER_CACHE_TTL_MS = 300_000;
/** How long "no such user" (404) is kept. */
export const USER_MISS_TTL_MS = 60_000;
/** Users kept at most, per provider instance (the oldest entry goes first). */
export const USER_CACHE_MAX = 1_000;
/** A Backend API call that takes longer is abandoned (getUser answers null). */
export const USER_FETCH_TIMEOUT_MS = 3_000;

const SECRET_KEY = /^sk_(test|live)_[A-Za-z0-9]+$/;
/** Clerk ids are `user_<base62>`; anything else is never sent to the API (it would be a path). */
const USER_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface Entry {
  user: MastraUser | null;
  expires: number;
}

/**
 * `GET {apiUrl}/v1/users/{id}` with the secret key (the request `@clerk/backend`'s
 * `users.getUser` makes), behind a bounded cache. Only `getUser` fetches: the request path
 * (`authenticateToken`, `getCurrentUser`) reads the cache and at most starts a background fill.
 *
 * No in-flight promise is shared between callers: a Worker must not await I/O another request
 * started ("Cannot perform I/O on behalf of a different request"; see keys/remote-store.ts and
 * panva/jose#355), so two concurrent misses make two calls.
 */
export class ClerkUserDirectory {
  readonly #url: string;
  readonly #authorization: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #cache = new Map<string, Entry>();

  constructor(secretKey: string, apiUrl: string, deps: { fetch?: typeof fetch; now?: () => number; logger: Logger }) {
    this.#url = `${apiUrl}/v1/users/`;
    this.#authorization = `Bearer ${secretKey}`;
    this.#fetch = deps.fetch ?? ((input, init) => fetch(input, init));
    this.#now = deps.now ?? Date.now;
    this.#logger = deps.logger;
  }

  /** The cached user, or undefined when not cached (or expired). Never does I/O. */
  peek(userId: string): MastraUser | null | undefined {
    const entry = this.#cache.get(userId);
    if (!entry) return undefined;
    if (entry.expires <= this.#now()) {
      this.#cache.delete(userId);
      return undefined;
    }
    return entry.user;
  }

  /** The user from the cache or the Backend API; null when Clerk has no such user or cannot be reached. */
  async get(userId: string): Promise<MastraUser | null> {
    if (typeof userId !== "string" || !USER_ID.test(userId)) return null;
    const cached = this.peek(userId);
    if (cached !== undefined) return cached;
    let response: Response;
    try {
      response = await this.#fetch(this.#url + encodeURIComponent(userId), {
        headers: { authorization: this.#authorization, accept: "application/json" },
        signal: AbortSignal.timeout(USER_FETCH_TIMEOUT_MS),
      });
    } catch (error) {
      this.#logger.log("warn", "users.fetch_failed", { reason: (error as Error)?.name === "TimeoutError" ? "timeout" : "network", message: String((error as Error)?.message ?? error).slice(0, 200) });
      return null;
    }
    // Cancelling a body whose connection already dropped rejects (WHATWG Streams,
    // ReadableStreamCancel): the status has answered, so that is no reason to throw.
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      this.#remember(userId, null, USER_MISS_TTL_MS);
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      // Not cached: a 401 (wrong key) or 429/5xx is the API's state, not the user's.
      this.#logger.log("warn", "users.fetch_failed", { reason: "status", status: response.status });
      return null;
    }
    let user: MastraUser | null;
    try {
      user = userFromBackendApi(await response.json());
    } catch {
      user = null;
    }
    if (!user || user.id !== userId) {
      this.#logger.log("warn", "users.fetch_failed", { reason: "body" });
      return null;
    }
    this.#remember(userId, user, USER_CACHE_TTL_MS);
    return user;
  }

  /**
   * What `getCurrentUser` shows: the verified claims, with the gaps (email, name, avatar,
   * metadata) filled from a cached Backend API user. On a miss, `background` gets the fill, so
   * a later request shows the full user; this request never waits for the API.
   */
  profile(claims: ClerkClaims, background: (promise: Promise<unknown>) => void): MastraUser {
    const fromClaims = userFromClaims(claims);
    const cached = this.peek(fromClaims.id);
    if (cached === undefined) {
      background(this.get(fromClaims.id));
      return fromClaims;
    }
    return cached ? { ...cached, ...fromClaims } : fromClaims;
  }

  #remember(userId: string, user: MastraUser | null, ttlMs: number): void {
    this.#cache.delete(userId);
    if (this.#cache.size >= USER_CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(userId, { user, expires: this.#now() + ttlMs });
  }
}

/**
 * The directory for a provider's options, or null when no secret key is configured. Throws
 * {@link ConfigError} for a value that is not a secret key (never echoing it) or a bad API URL.
 */
export function createUserDirectory(
  options: UserLookupOptions,
  source: VariableSource | undefined,
  deps: { fetch?: typeof fetch; now?: () => number; logger: Logger },
): ClerkUserDirectory | null {
  const env = source ? stringsOf(source) : {};
  const secretKey = options.secretKey ?? env.CLERK_SECRET_KEY;
  if (secretKey !== undefined && typeof secretKey !== "string") throw new ConfigError("secretKey", "must be a string");
  if (!nonEmpty(secretKey)) return null;
  if (!SECRET_KEY.test(secretKey.trim())) throw new ConfigError("CLERK_SECRET_KEY", "is not a Clerk secret key (expected sk_test_… or sk_live_…)");
  const apiUrl = options.apiUrl ?? env.CLERK_API_URL;
  if (apiUrl !== undefined && typeof apiUrl !== "string") throw new ConfigError("apiUrl", "must be a string");
  const base = (nonEmpty(apiUrl) ? apiUrl.trim() : "https://api.clerk.com").replace(/\/+$/, "");
  checkUrl(base, "CLERK_API_URL", { allowPath: true });
  return new ClerkUserDirectory(secretKey.trim(), base, deps);
}
