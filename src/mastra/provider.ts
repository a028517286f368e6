/**
 * The parts of `@mastra/core`'s auth provider contract this package implements, restated here so
 * that nothing from `@mastra/core` is imported: the Worker bundle must not carry it, and Mastra
 * itself compares providers structurally (`IMastraAuthProvider`, `@mastra/core/server`).
 * `test/types/` checks these against the real `@mastra/core` types.
 */

/**
 * What Mastra hands a provider: a fetch `Request`, or a framework's request wrapper (Hono's, or an
 * Express-style one whose `headers` is a plain object).
 */
export type MastraAuthRequest =
  | Request
  | { raw?: Request; headers?: Headers | Record<string, string | string[] | undefined>; header?(name: string): string | undefined };

export type MastraMethod = "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "ALL";
/** Mastra's path patterns: `/api/*`, `/api/agents/:id`, a RegExp, or `[pattern, method(s)]`. */
export type MastraPathRule = RegExp | string | [string, MastraMethod | MastraMethod[]];

/** The options every Mastra auth provider takes (`MastraAuthProviderOptions`). */
export interface MastraProviderOptions<TUser> {
  /** Provider name. */
  name?: string;
  /** Decides, after authentication, whether the user may make this request (false → Mastra answers 403). */
  authorizeUser?: (user: TUser, request: MastraAuthRequest) => boolean | Promise<boolean>;
  /** The memory resource id of a user, so Mastra scopes threads per user. */
  mapUserToResourceId?: (user: TUser) => string | undefined | null;
  /** Paths Mastra protects, added to its defaults (`/api/*`). */
  protected?: MastraPathRule[];
  /** Paths Mastra serves without authentication, added to its defaults (`/api`, `/api/auth/*`). */
  public?: MastraPathRule[];
}

/** Every {@link MastraProviderOptions} name. */
export const PROVIDER_OPTION_NAMES: readonly string[] = ["name", "authorizeUser", "mapUserToResourceId", "protected", "public"];

/** A header of either request shape, or null. */
export function requestHeader(request: MastraAuthRequest | undefined, name: string): string | null {
  if (!request) return null;
  const raw = rawRequest(request);
  if (raw) return raw.headers.get(name);
  const wrapper = request as Exclude<MastraAuthRequest, Request>;
  if (hasHeaders(wrapper.headers)) return wrapper.headers.get(name);
  if (typeof wrapper.header === "function") return wrapper.header(name) ?? null;
  if (wrapper.headers && typeof wrapper.headers === "object") return plainHeader(wrapper.headers, name);
  return null;
}

function plainHeader(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    // Node joins repeated headers with ", " (cookies with "; "); do the same for an array.
    return Array.isArray(value) ? value.join(wanted === "cookie" ? "; " : ", ") : value;
  }
  return null;
}

/** The request URL, when the shape carries one. */
export function requestUrl(request: MastraAuthRequest | undefined): URL | null {
  const raw = request ? rawRequest(request) : null;
  if (!raw) return null;
  try {
    return new URL(raw.url);
  } catch {
    return null;
  }
}

/** The fetch Request behind either shape. Duck-typed: Node adapters hand over their own Request classes. */
export function rawRequest(request: MastraAuthRequest): Request | null {
  const candidates = [request, (request as { raw?: unknown }).raw];
  for (const c of candidates) {
    if (c && typeof (c as Request).url === "string" && hasHeaders((c as Request).headers)) return c as Request;
  }
  return null;
}

function hasHeaders(value: unknown): value is Headers {
  return !!value && typeof (value as Headers).get === "function";
}
