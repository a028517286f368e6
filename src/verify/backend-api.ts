import { keyDigest } from "../core/digest.js";
import { BackendApiUnavailableError, ConfigError, LookupLimitError, Reason, TokenVerificationError } from "../core/errors.js";
import { machineIdentity, type Identity, type MachineFacts } from "../identity/identity.js";
import type { IoContext } from "../keys/types.js";
import { audienceAccepted, audienceList, type Acceptance } from "./accepts.js";
import type { MachineTokenConfig } from "./options.js";

export type OpaqueClass = "m2m" | "oauth" | "api_key";

/**
 * How `@clerk/backend@3.25.0` asks Clerk's Backend API about an opaque machine token
 * (node_modules/@clerk/backend/dist: `M2MTokenApi.verify`, `IdPOAuthAccessTokenApi.verify`,
 * `APIKeysAPI.verify`, each built with `skipApiVersionInUrl: true`, so no `/v1`): a POST of a
 * JSON body with the token under its own field name, authorized by the instance secret key — or,
 * for M2M tokens, the Machine Secret Key when there is one (`useMachineSecretKey`).
 */
const ENDPOINTS: Record<OpaqueClass, { path: string; field: string; tokenType: MachineFacts["tokenType"]; what: string }> = {
  m2m: { path: "/m2m_tokens/verify", field: "token", tokenType: "m2m_token", what: "M2M token" },
  oauth: { path: "/oauth_applications/access_tokens/verify", field: "access_token", tokenType: "oauth_token", what: "OAuth access token" },
  api_key: { path: "/api_keys/verify", field: "secret", tokenType: "api_key", what: "API key" },
};
/** The Backend API version @clerk/backend pins (`SUPPORTED_BAPI_VERSION`): the answer's shape is that version's. */
export const CLERK_API_VERSION = "2026-05-12";
const USER_AGENT = "mastra-edge-auth";
const FETCH_TIMEOUT_MS = 5_000;
/** Retry-After when the Backend API gave none. */
const DEFAULT_RETRY_AFTER_S = 5;
const MAX_ENTRIES = 10_000;
const MAX_CLIENTS = 10_000;
const WINDOW_MS = 60_000;

interface Entry {
  /** Null: Clerk said the token is not valid (negative entry). */
  identity: Identity | null;
  aud: readonly string[] | null;
  until: number;
}

export interface LookupDeps {
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Verifies opaque machine tokens (`mt_…`, `oat_…`, `ak_…`) by asking Clerk's Backend API, as
 * `@clerk/backend` does, and keeps the answer — either way — for `MACHINE_TOKEN_CACHE_TTL_S`
 * (never past the token's own expiration), keyed by the SHA-256 of the token: the token itself
 * is never kept, compared or logged. A token not in the cache costs one Backend API call, and
 * each client address (`CF-Connecting-IP`) may cause at most `MACHINE_TOKEN_LOOKUPS_PER_MINUTE`
 * of those per isolate: past that it is answered 429, so random tokens cannot be turned into a
 * flood of calls. An answer that says nothing about the token (network error, timeout, 429, 5xx)
 * is not cached and is answered 503 with Retry-After: the token may be valid.
 */
export class MachineTokenLookup {
  readonly #entries = new Map<string, Entry>();
  readonly #clients = new Map<string, { start: number; count: number }>();
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  constructor(
    readonly config: MachineTokenConfig,
    deps: LookupDeps = {},
  ) {
    this.#fetch = deps.fetch ?? ((input, init) => fetch(input, init));
    this.#now = deps.now ?? Date.now;
  }

  async verify(token: string, tokenClass: OpaqueClass, clientIp: string | null, accepts: Acceptance, _io: IoContext = {}): Promise<{ identity: Identity; cached: boolean }> {
    // The whole SHA-256 of the token: the table never holds a credential.
    const key = await keyDigest(token, 32);
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry && entry.until > now) {
      return { identity: this.#accepted(entry, tokenClass, accepts), cached: true };
    }
    if (entry) this.#entries.delete(key);
    this.#spendLookup(clientIp ?? "unknown", now);
    const fresh = await this.#lookup(token, tokenClass, now);
    this.#remember(key, fresh);
    return { identity: this.#accepted(fresh, tokenClass, accepts), cached: false };
  }

  #accepted(entry: Entry, tokenClass: OpaqueClass, accepts: Acceptance): Identity {
    if (!entry.identity) throw new TokenVerificationError(Reason.TokenInvalid, `Clerk does not know this ${ENDPOINTS[tokenClass].what}, or it was revoked or has expired`);
    if (tokenClass === "oauth" && !audienceAccepted(entry.aud, accepts)) {
      throw new TokenVerificationError(Reason.TokenInvalidAudience, "the OAuth access token's audience (aud) is not this gateway or this resource");
    }
    return entry.identity;
  }

  /** A fixed one-minute window per client address; the oldest client is forgotten when the table is full. */
  #spendLookup(client: string, now: number): void {
    let window = this.#clients.get(client);
    if (!window || now - window.start >= WINDOW_MS) {
      if (window) this.#clients.delete(client);
      else if (this.#clients.size >= MAX_CLIENTS) this.#clients.delete(this.#clients.keys().next().value!);
      window = { start: now, count: 0 };
      this.#clients.set(client, window);
    }
    if (window.count >= this.config.lookupsPerMinute) {
      throw new LookupLimitError(
        `too many unknown machine tokens from this client: at most ${this.config.lookupsPerMinute} Backend API lookups a minute`,
        Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000)),
      );
    }
    window.count++;
  }

  #remember(key: string, entry: Entry): void {
    if (this.config.cacheTtlS === 0) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, entry);
  }

  async #lookup(token: string, tokenClass: OpaqueClass, now: number): Promise<Entry> {
    const endpoint = ENDPOINTS[tokenClass];
    const useMachineKey = tokenClass === "m2m" && this.config.machineSecretKey !== null;
    const secret = useMachineKey ? this.config.machineSecretKey : this.config.secretKey;
    const variable = tokenClass === "m2m" ? "CLERK_MACHINE_SECRET_KEY" : "CLERK_SECRET_KEY";
    if (secret === null) throw new ConfigError(variable, `${endpoint.what}s are verified by Clerk's Backend API, which needs ${tokenClass === "m2m" ? "CLERK_MACHINE_SECRET_KEY or CLERK_SECRET_KEY" : "CLERK_SECRET_KEY"}`);
    let response: Response;
    try {
      response = await this.#fetch(this.config.apiUrl + endpoint.path, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "clerk-api-version": CLERK_API_VERSION, "content-type": "application/json", "user-agent": USER_AGENT },
        body: JSON.stringify({ [endpoint.field]: token }),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
    } catch (error) {
      throw new BackendApiUnavailableError(`Clerk's Backend API could not be reached (${(error as Error)?.name ?? "error"})`, DEFAULT_RETRY_AFTER_S);
    }
    const status = response.status;
    // The status decides these answers: the body is cancelled unread. Cancelling a body whose
    // connection already dropped rejects (WHATWG Streams, ReadableStreamCancel), which must not
    // turn Clerk's answer into a 500.
    if (status === 401 || status === 403) {
      await response.body?.cancel().catch(() => {});
      // The key itself was refused: every opaque token would fail, so this is the operator's to fix.
      throw new ConfigError(useMachineKey ? "CLERK_MACHINE_SECRET_KEY" : "CLERK_SECRET_KEY", `Clerk's Backend API refused the key (HTTP ${status})`);
    }
    // @clerk/backend's handleClerkAPIError: 404 is "token not found". 400 and 422 also say the token is wrong, not the service.
    if (status === 404 || status === 400 || status === 422) {
      await response.body?.cancel().catch(() => {});
      return { identity: null, aud: null, until: now + this.config.cacheTtlS * 1000 };
    }
    if (status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new BackendApiUnavailableError(`Clerk's Backend API answered HTTP ${status}`, retryAfterOf(response.headers.get("retry-after")));
    }
    const answer = (await response.json().catch(() => null)) as Record<string, unknown> | null;
    if (!answer || typeof answer.subject !== "string" || answer.subject === "") throw new BackendApiUnavailableError("Clerk's Backend API gave an answer without the token's subject", DEFAULT_RETRY_AFTER_S);
    return this.#entryOf(answer as Record<string, unknown> & { subject: string }, tokenClass, now);
  }

  /** The answer's resource, read as `@clerk/backend`'s `M2MToken`/`IdPOAuthAccessToken`/`APIKey.fromJSON` read it. */
  #entryOf(answer: Record<string, unknown> & { subject: string }, tokenClass: OpaqueClass, now: number): Entry {
    const ttlEnd = now + this.config.cacheTtlS * 1000;
    const expiration = typeof answer.expiration === "number" ? answer.expiration : null;
    // Clerk answers 404 for these; should it ever answer 200, the flags still mean "not valid".
    if (answer.revoked === true || answer.expired === true || (expiration !== null && expiration <= now)) return { identity: null, aud: null, until: ttlEnd };
    const custom = answer.claims && typeof answer.claims === "object" && !Array.isArray(answer.claims) ? (answer.claims as Record<string, unknown>) : {};
    const identity = machineIdentity({
      tokenType: ENDPOINTS[tokenClass].tokenType,
      subject: answer.subject,
      tokenId: typeof answer.id === "string" && answer.id !== "" ? answer.id : null,
      clientId: typeof answer.client_id === "string" && answer.client_id !== "" ? answer.client_id : null,
      name: typeof answer.name === "string" && answer.name !== "" ? answer.name : null,
      scopes: Array.isArray(answer.scopes) ? answer.scopes.filter((s): s is string => typeof s === "string") : [],
      // Rules read the token's claims; `sub` is the subject and `aud` the audience, as in a JWT.
      claims: answer.aud === undefined ? { ...custom, sub: answer.subject } : { ...custom, sub: answer.subject, aud: answer.aud },
    });
    return { identity, aud: tokenClass === "oauth" ? audienceList(answer.aud) : null, until: expiration !== null ? Math.min(ttlEnd, expiration) : ttlEnd };
  }
}

function retryAfterOf(value: string | null): number {
  const seconds = value !== null && /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 3_600) : DEFAULT_RETRY_AFTER_S;
}
