import { DIRECTORY_SERVICE, mintServiceAssertion } from "../assertion/assertion.js";
import { keyDigest } from "../core/digest.js";
import { ConfigError, OriginFetchError, type FetchFailure } from "../core/errors.js";
import { boolVar, intVar, nonEmpty } from "../core/env.js";
import type { Logger } from "../core/log.js";
import { fetchJson } from "../keys/origin.js";
import { RemoteCache } from "../keys/remote-cache.js";
import type { IoContext } from "../keys/types.js";
import { agentCardId, AgentDirectory, DEFAULT_DIRECTORY_BOUNDS, parseAgentList, type AgentListing, type DirectoryBounds, type ListedAgent } from "../routes/agent-directory.js";
import type { ProxyConfig } from "./config.js";

/** The agent directory's settings (`AGENT_DIRECTORY*`), validated once by gateway/config.ts. */
export interface AgentDirectorySettings {
  /** A listing younger than this is fresh (`AGENT_DIRECTORY_TTL_S`, default 300 s). */
  ttlMs: number;
  /** Past TTL it is still used while the upstream fails, up to this age (`AGENT_DIRECTORY_MAX_STALE_S`, default 86400 s). */
  maxStaleMs: number;
  /** Minimum time between two refreshes, or two loads while none succeeds (default 30 s). */
  cooldownMs: number;
  /** Timeout of one upstream read and of one KV read or write (`AGENT_DIRECTORY_TIMEOUT_MS`, default 2000 ms). */
  timeoutMs: number;
  /** A rule about an agent also covers the agents that can delegate to it (`AGENT_RULES_COVER_PARENTS`, default true). */
  coverParents: boolean;
  /** The most bytes of agent list (or agent card) read (default 4 MiB). */
  maxBytes: number;
  bounds: DirectoryBounds;
}

export const DEFAULT_DIRECTORY_SETTINGS: Readonly<AgentDirectorySettings> = {
  ttlMs: 300_000,
  maxStaleMs: 86_400_000,
  cooldownMs: 30_000,
  timeoutMs: 2_000,
  coverParents: true,
  maxBytes: 4 * 1024 * 1024,
  bounds: DEFAULT_DIRECTORY_BOUNDS,
};

/** The variables {@link parseDirectorySettings} reads. */
export interface AgentDirectoryEnv {
  /** `on` (default) or `off`: learn the agents' other spellings from the upstream. */
  AGENT_DIRECTORY?: string;
  AGENT_DIRECTORY_TTL_S?: string;
  AGENT_DIRECTORY_TIMEOUT_MS?: string;
  /** `true` (default): a rule about an agent also holds on the agents that can delegate to it. */
  AGENT_RULES_COVER_PARENTS?: string;
}

/** `AGENT_DIRECTORY*`, validated once; null when switched off. */
export function parseDirectorySettings(env: AgentDirectoryEnv): AgentDirectorySettings | null {
  if (nonEmpty(env.AGENT_DIRECTORY)) {
    const value = env.AGENT_DIRECTORY.trim().toLowerCase();
    if (value === "off") return null;
    if (value !== "on") throw new ConfigError("AGENT_DIRECTORY", `must be on or off, got "${value.slice(0, 16)}"`);
  }
  const ttlS = intVar(env.AGENT_DIRECTORY_TTL_S, "AGENT_DIRECTORY_TTL_S") ?? DEFAULT_DIRECTORY_SETTINGS.ttlMs / 1000;
  if (ttlS < 10 || ttlS > 86_400) throw new ConfigError("AGENT_DIRECTORY_TTL_S", `must be between 10 and 86400, got ${ttlS}`);
  const timeoutMs = intVar(env.AGENT_DIRECTORY_TIMEOUT_MS, "AGENT_DIRECTORY_TIMEOUT_MS") ?? DEFAULT_DIRECTORY_SETTINGS.timeoutMs;
  if (timeoutMs < 100 || timeoutMs > 30_000) throw new ConfigError("AGENT_DIRECTORY_TIMEOUT_MS", `must be between 100 and 30000, got ${timeoutMs}`);
  const coverParents = boolVar(env.AGENT_RULES_COVER_PARENTS, "AGENT_RULES_COVER_PARENTS") ?? true;
  return { ...DEFAULT_DIRECTORY_SETTINGS, ttlMs: ttlS * 1000, maxStaleMs: Math.max(DEFAULT_DIRECTORY_SETTINGS.maxStaleMs, ttlS * 1000), timeoutMs, coverParents };
}

export interface AgentDirectoryStoreOptions {
  settings: AgentDirectorySettings;
  /** The upstream the proxy forwards to: the directory reads it the same way (HTTP origin or service binding). */
  proxy: ProxyConfig;
  /** Mastra's API prefix (`/api`). */
  prefix: string;
  /** The agent names rules and limits list: each one the listing lacks is asked of its agent card at load. */
  names: readonly string[];
  kv?: KVNamespace | null;
  /** Stands in for the global fetch over an HTTP upstream (tests). */
  fetch?: typeof fetch;
  now?: () => number;
  logger: Logger;
}

/** The directory's counters (`/metrics`, tests, benchmarks). */
export interface DirectoryCounters {
  fetches: number;
  failures: number;
  kvReads: number;
  kvWrites: number;
  /** Agent cards asked about a spelling the directory did not know, at request time. */
  lookups: number;
}

/** Why the last load or refresh could not produce a listing. */
export type DirectoryFailure = FetchFailure;

export interface DirectoryStatus {
  /** `fresh`, `stale` (past TTL, still used), `expired` (past the stale bound, not used), `empty` (none yet). */
  state: "fresh" | "stale" | "expired" | "empty";
  /** The last attempt failed: rules match only the names they list until one succeeds. */
  failing: boolean;
  reason: DirectoryFailure | null;
  ageSeconds: number | null;
  loadedFrom: "upstream" | "kv" | null;
  agents: number;
  spellings: number;
  /** Names rules list that the upstream says name no agent (or could not be asked about). */
  unresolved: string[];
  /** How the directory was fetched: with the gateway's own assertion, or with no credential. */
  credential: "assertion" | "none";
}

interface KvRecord {
  v: 1;
  fetchedAt: number;
  agents: [string, [string, string][]][];
  aliases: [string, string][];
  unresolved: string[];
}

/** What the directory holds besides the listing: the names rules list that no agent answers to. */
interface Held {
  directory: AgentDirectory;
  unresolved: string[];
}

/** Spellings asked about at request time and found to name nothing are not asked again for a TTL; at most this many remembered. */
const MAX_ABSENT = 1024;
/** At most this many request-time card lookups at once in an isolate; past it a spelling is decided with what is known. */
const MAX_LOOKUPS_IN_FLIGHT = 4;

/**
 * The upstream's agent directory in three layers, as the JWKS (keys/remote-store.ts), with the
 * same engine (keys/remote-cache.ts): isolate memory → Workers KV (`JWKS_CACHE`, key
 * `agents:v1:<upstream>:<hash>`) → the upstream's own `GET <prefix>/agents?partial=true` plus one
 * agent card per name the rules list that the listing lacks. Freshness is keys/freshness.ts's rule
 * (a directory "has" every kid): fresh within TTL; past it used while one background refresh runs
 * in `waitUntil`, at most once per cooldown; past the stale bound, or with nothing held, a request
 * that needs it waits for a KV read and one upstream read, each bounded by the timeout; a failed
 * load closes the door for a cooldown, during which requests are decided at once without the
 * directory.
 */
export class AgentDirectoryStore {
  readonly #o: AgentDirectoryStoreOptions;
  readonly #cache: RemoteCache<Held>;
  readonly #now: () => number;
  #lastFailure: DirectoryFailure | null = null;
  #lookups = 0;
  readonly #absent = new Map<string, number>();
  /** Spellings whose card could not be read, with the time until which they are not asked about again. */
  readonly #failed = new Map<string, number>();
  #lookupsInFlight = 0;

  constructor(options: AgentDirectoryStoreOptions) {
    this.#o = options;
    const now = (this.#now = options.now ?? Date.now);
    const s = options.settings;
    this.#cache = new RemoteCache<Held>({
      // A load is a KV read, the list and the cards (in parallel), each bounded by the timeout.
      timing: { ttlMs: s.ttlMs, maxStaleMs: s.maxStaleMs, cooldownMs: s.cooldownMs, inFlightMs: s.timeoutMs * 3 },
      kvTimeoutMs: s.timeoutMs,
      kv: options.kv,
      key: () => directoryCacheKey(options.proxy, options.prefix, options.names, s.bounds),
      load: () => this.#load(),
      revive: (record) => {
        const { agents, aliases, unresolved, fetchedAt } = record as unknown as KvRecord;
        if (!Array.isArray(agents)) return null;
        const listing: AgentListing = { agents: agents.map(([id, subAgents]) => ({ id, subAgents })), aliases: aliases ?? [] };
        return { directory: new AgentDirectory(listing, fetchedAt, s.coverParents), unresolved: unresolved ?? [] };
      },
      has: () => true,
      now,
      logger: options.logger,
      event: "agents",
    });
  }

  /** Counters a test, `/metrics` or a benchmark reads: the hot path touches none of them. */
  get counters(): DirectoryCounters {
    const c = this.#cache.counters;
    return { fetches: c.originFetches, failures: c.originFailures, kvReads: c.kvReads, kvWrites: c.kvWrites, lookups: this.#lookups };
  }

  /**
   * The directory held, when it is fresh: the hot path (no await, no I/O). Undefined when
   * {@link get} must be asked.
   */
  peek(): AgentDirectory | undefined {
    return this.#cache.fresh()?.value.directory;
  }

  /**
   * The directory to decide a request with, or null when there is none to be had now (the
   * request is then decided by the names rules list). A stale one is returned at once and
   * refreshed in the background.
   */
  async get(io: IoContext): Promise<AgentDirectory | null> {
    const answer = await this.#cache.resolve("", io);
    return "value" in answer ? answer.value.directory : null;
  }

  /**
   * Asks the upstream what a spelling the directory does not know means (its agent card), so a
   * registry key that is not an id — a parent's, say — is covered like its id. `known`: the
   * directory has learnt it; `absent`: it names no agent (remembered for a TTL, so a flood of
   * made-up names costs the upstream what forwarding them would); `undecided`: it could not be
   * asked — more than {@link MAX_LOOKUPS_IN_FLIGHT} lookups at once, or the card failed (not asked
   * again for a cooldown) — and the caller must treat it as possibly any agent (fail closed).
   */
  async lookup(directory: AgentDirectory, spelling: string): Promise<"known" | "absent" | "undecided"> {
    const now = this.#now();
    const absentUntil = this.#absent.get(spelling);
    if (absentUntil !== undefined && absentUntil > now) return "absent";
    const failedUntil = this.#failed.get(spelling);
    if (failedUntil !== undefined && failedUntil > now) return "undecided";
    if (this.#lookupsInFlight >= MAX_LOOKUPS_IN_FLIGHT || spelling.length > this.#o.settings.bounds.maxNameLength) return "undecided";
    this.#lookupsInFlight++;
    this.#lookups++;
    try {
      const id = await this.#agentCard(spelling);
      if (id === null) {
        this.#remember(this.#absent, spelling, now + this.#o.settings.ttlMs);
        return "absent";
      }
      directory.learn(spelling, id);
      return directory.knows(spelling) ? "known" : "undecided";
    } catch (error) {
      this.#remember(this.#failed, spelling, now + this.#o.settings.cooldownMs);
      this.#o.logger.log("warn", "agents.lookup_failed", { reason: reasonOf(error), detail: describe(error) });
      return "undecided";
    } finally {
      this.#lookupsInFlight--;
    }
  }

  status(): DirectoryStatus {
    const held = this.#cache.held;
    const age = held ? this.#now() - held.fetchedAt : null;
    const s = this.#o.settings;
    return {
      state: age === null ? "empty" : age <= s.ttlMs ? "fresh" : age <= s.maxStaleMs ? "stale" : "expired",
      failing: this.#lastFailure !== null,
      reason: this.#lastFailure,
      ageSeconds: age === null ? null : Math.max(0, Math.floor(age / 1000)),
      loadedFrom: held ? (held.loadedFrom === "origin" ? "upstream" : "kv") : null,
      agents: held?.value.directory.agentCount ?? 0,
      spellings: held?.value.directory.spellingCount ?? 0,
      unresolved: held?.value.unresolved ?? [],
      credential: this.#o.proxy.assertion ? "assertion" : "none",
    };
  }

  /** One load from the upstream: the list, then a card per listed name it lacks. */
  async #load(): Promise<{ value: Held; record: Omit<KvRecord, "v" | "fetchedAt"> }> {
    const startedAt = this.#now();
    let held: Held;
    try {
      const agents = await this.#agentList();
      const probe = new AgentDirectory({ agents, aliases: [] }, startedAt);
      const aliases: [string, string][] = [];
      const unresolved: string[] = [];
      await Promise.all(
        this.#o.names
          .filter((name) => !probe.knows(name))
          .map(async (name) => {
            const id = await this.#agentCard(name).catch(() => null);
            if (id === null) unresolved.push(name);
            else aliases.push([name, id]);
          }),
      );
      held = { directory: new AgentDirectory({ agents, aliases }, startedAt, this.#o.settings.coverParents), unresolved: unresolved.sort() };
    } catch (error) {
      this.#lastFailure = reasonOf(error);
      const had = this.#cache.held;
      this.#o.logger.log("warn", "agents.directory_unavailable", {
        reason: this.#lastFailure,
        status: error instanceof OriginFetchError ? error.status : undefined,
        detail: describe(error),
        fallback: had && startedAt - had.fetchedAt <= this.#o.settings.maxStaleMs ? "stale-directory" : "rule-names-only",
      });
      throw error;
    }
    this.#lastFailure = null;
    this.#absent.clear();
    this.#failed.clear();
    this.#o.logger.log("info", "agents.directory_loaded", { agents: held.directory.agentCount, spellings: held.directory.spellingCount, unresolved: held.unresolved });
    if (held.unresolved.length) {
      this.#o.logger.log("warn", "agents.names_unresolved", { names: held.unresolved, message: "rules name agents the upstream does not know (a typo, or an agent not deployed yet)" });
    }
    const listing = held.directory.listing;
    return {
      value: held,
      record: {
        agents: listing.agents.map((a) => [a.id, a.subAgents.map(([k, id]) => [k, id])]),
        aliases: listing.aliases.map(([n, id]) => [n, id]),
        unresolved: held.unresolved,
      },
    };
  }

  async #agentList(): Promise<ListedAgent[]> {
    const agents = parseAgentList(await this.#read("/agents?partial=true"), this.#o.settings.bounds);
    if (typeof agents === "string") throw new OriginFetchError(agents.includes("more than") ? "too-large" : "invalid", agents);
    return agents;
  }

  /** The id an agent card gives for `name`, or null when no agent has that name. */
  async #agentCard(name: string): Promise<string | null> {
    let body: unknown;
    try {
      body = await this.#read(`/.well-known/${encodeURIComponent(name)}/agent-card.json`);
    } catch (error) {
      if (error instanceof OriginFetchError && error.reason === "not-found") return null;
      throw error;
    }
    const id = agentCardId(body, this.#o.settings.bounds);
    if (id === null) throw new OriginFetchError("invalid", "the agent card names no agent id");
    return id;
  }

  /**
   * GET one read route of the upstream (HTTP origin or service binding, as the proxy reaches it),
   * with the gateway's own assertion when it signs them. A 401/403 means the upstream does not
   * accept that credential (docs/authorization.md); a 404 of the list, that `MASTRA_API_PREFIX` is wrong.
   */
  async #read(route: string): Promise<unknown> {
    const { proxy, prefix, settings } = this.#o;
    const url = proxy.base + (prefix === "/" ? "" : prefix) + route;
    const headers: Record<string, string> = {};
    if (proxy.assertion) {
      headers["x-gateway-assertion"] = await mintServiceAssertion(proxy.assertion.key, DIRECTORY_SERVICE, proxy.assertion.audience, { method: "GET", url }, { now: this.#now() });
    }
    const upstream = proxy.upstream;
    const fetcher = upstream.kind === "binding" ? (input: string, init: RequestInit) => upstream.fetcher.fetch(input, init) : (this.#o.fetch ?? fetch);
    return fetchJson(url, { headers, timeoutMs: settings.timeoutMs, maxBytes: settings.maxBytes, fetch: fetcher });
  }

  #remember(map: Map<string, number>, spelling: string, until: number): void {
    if (map.size >= MAX_ABSENT) map.clear();
    map.set(spelling, until);
  }
}

/**
 * The KV key of one upstream's directory: `agents:v1:<upstream base><prefix>:<hash>`. The hash
 * covers what shapes the record (the upstream, over a binding or not, the prefix, the names asked
 * about, the bounds), so gateways of different upstreams or rules sharing one namespace never
 * read each other's directory.
 */
export async function directoryCacheKey(proxy: ProxyConfig, prefix: string, names: readonly string[], bounds: DirectoryBounds): Promise<string> {
  const material = JSON.stringify([proxy.upstream.kind, proxy.base, prefix, [...names].sort(), bounds]);
  const hex = await keyDigest(material);
  return `agents:v1:${proxy.base.slice(0, 200)}${prefix === "/" ? "" : prefix}:${hex}`;
}

function reasonOf(error: unknown): DirectoryFailure {
  return error instanceof OriginFetchError ? error.reason : "unreachable";
}

/** What to look at when a read fails this way. */
const HINTS: Partial<Record<FetchFailure, string>> = {
  "not-found": " (no agent list there: MASTRA_API_PREFIX?)",
  refused: " (the upstream does not accept the gateway's own credential: see docs/authorization.md)",
};

function describe(error: unknown): string {
  if (!(error instanceof Error)) return "unknown error";
  return (error.message + ((error instanceof OriginFetchError && HINTS[error.reason]) || "")).slice(0, 200);
}
