/**
 * Every spelling under which Mastra finds an agent, as learnt from the upstream: a pure model,
 * built from the upstream's own agent list (`GET <prefix>/agents`) and the agent cards it serves;
 * the loader that fetches and caches them is proxy/agent-directory-store.ts.
 *
 * Mastra resolves the `:agentId` of a route with `getAgentFromSystem`
 * (node_modules/@mastra/server/dist/server/handlers/agents.js): an agent whose `id` is the name,
 * else the one registered under that key (`Mastra#getAgentById`), else the first agent whose
 * sub-agents include that key (`agent.listAgents()[name]`), else a stored agent of that id. The
 * list gives each agent's id and each sub-agent's key and id, stored agents included; a registry
 * key that differs from the id is not in it (the list is keyed by id), so the edge asks the agent
 * card (`GET <prefix>/.well-known/<name>/agent-card.json`, whose `name` is the agent's id) what a
 * name it does not know means.
 *
 * A spelling that could mean several agents (an id of one, a sub-agent key under another) means
 * all of them here: a rule naming any of them matches it (fail closed).
 */

/**
 * The reads the agent directory makes, as an upstream checks them (it does not know the gateway's
 * API prefix, so by suffix): `GET …/agents` and `GET …/.well-known/<name>/agent-card.json`. The
 * gateway's service principal is accepted on these only (mastra/upstream.ts).
 */
export function isDirectoryRead(method: string, pathname: string): boolean {
  return (method === "GET" || method === "HEAD") && (/\/agents$/.test(pathname) || /\/\.well-known\/[^/]+\/agent-card\.json$/.test(pathname));
}

/** One agent as the upstream lists it: its id, and each sub-agent by the key its parent gives it. */
export interface ListedAgent {
  readonly id: string;
  readonly subAgents: readonly (readonly [key: string, id: string])[];
}

/** What the directory is built from (and what is cached in KV). */
export interface AgentListing {
  readonly agents: readonly ListedAgent[];
  /** Names the agent cards resolved: name → the agent's id (a registry key that is not the id). */
  readonly aliases: readonly (readonly [name: string, id: string])[];
}

/** How much of an agent list the edge accepts: a larger list is refused whole, never truncated (a cut list would miss spellings). */
export interface DirectoryBounds {
  /** Agents (code and stored) in the list. Default 1000. */
  maxAgents: number;
  /** Sub-agents of one agent. Default 100. */
  maxSubAgents: number;
  /** Length of one key or id. Default 256. */
  maxNameLength: number;
}

export const DEFAULT_DIRECTORY_BOUNDS: Readonly<DirectoryBounds> = { maxAgents: 1000, maxSubAgents: 100, maxNameLength: 256 };

/**
 * Reads `GET <prefix>/agents`'s answer — `{ [id]: { id, name, agents: { [key]: { id, name } }, … } }`
 * (`LIST_AGENTS_ROUTE` in @mastra/server) — into agents and their sub-agents. Returns why it is
 * unusable as a string: not that shape, or over a bound.
 */
export function parseAgentList(body: unknown, bounds: DirectoryBounds = DEFAULT_DIRECTORY_BOUNDS): ListedAgent[] | string {
  if (!isObject(body)) return "the agent list is not a JSON object";
  const entries = Object.entries(body);
  if (entries.length > bounds.maxAgents) return `the agent list has ${entries.length} agents, more than ${bounds.maxAgents}`;
  const agents: ListedAgent[] = [];
  for (const [listedAs, value] of entries) {
    if (!isObject(value)) return "an agent of the list is not an object";
    const id = value.id === undefined ? listedAs : value.id;
    if (!isName(id, bounds)) return "an agent of the list has no usable id";
    const subAgents: [string, string][] = [];
    if (value.agents !== undefined) {
      if (!isObject(value.agents)) return `the sub-agents of "${id.slice(0, 60)}" are not an object`;
      const subs = Object.entries(value.agents);
      if (subs.length > bounds.maxSubAgents) return `"${id.slice(0, 60)}" has ${subs.length} sub-agents, more than ${bounds.maxSubAgents}`;
      for (const [key, sub] of subs) {
        const subId = isObject(sub) ? sub.id : undefined;
        if (!isName(key, bounds) || !isName(subId, bounds)) return `a sub-agent of "${id.slice(0, 60)}" has no usable key or id`;
        subAgents.push([key, subId]);
      }
    }
    // Mastra keys the list by id (`agent.id || key`), so the key it is listed under adds no spelling.
    agents.push({ id, subAgents });
  }
  return agents;
}

/** The id an agent card names (`name` is `agent.id` in @mastra/server's `getAgentCardByIdHandler`), or null. */
export function agentCardId(body: unknown, bounds: DirectoryBounds = DEFAULT_DIRECTORY_BOUNDS): string | null {
  return isObject(body) && isName(body.name, bounds) ? body.name : null;
}

/** How one spelling reaches an agent a rule names: for the log line of a refusal. */
export interface Coverage {
  /** The agent the rule names (by its id). */
  agent: string;
  /** `alias` (the same agent by another name), or `delegates` (the spelling's agent can run it as a sub-agent). */
  how: "alias" | "delegates";
  /** The chain of sub-agent keys from the spelling's agent to the named one (`helper`), when it delegates. */
  path: string[];
}

/**
 * The spellings of every agent, and who can delegate to whom. Immutable once built; what it
 * computes per rule (the spellings a rule's names cover) is memoised by the rule's name set, so a
 * request with the directory in memory costs a Map lookup and a Set lookup.
 */
export class AgentDirectory {
  /** Epoch ms of the upstream fetch the listing came from (possibly by another isolate, via KV). */
  readonly fetchedAt: number;
  readonly listing: AgentListing;
  /** A rule about an agent also covers every agent that can delegate to it (its parents, transitively). */
  readonly coverParents: boolean;
  /** Spelling → the ids it may mean. */
  readonly #means = new Map<string, Set<string>>();
  /** Agent id → [parent id, the key the parent gives it]. */
  readonly #parents = new Map<string, [string, string][]>();
  #covered = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();
  /** Names learnt after the listing (an agent card asked about a spelling the listing lacks). */
  #learnt = 0;

  constructor(listing: AgentListing, fetchedAt: number, coverParents = true) {
    this.listing = listing;
    this.fetchedAt = fetchedAt;
    this.coverParents = coverParents;
    for (const agent of listing.agents) {
      this.#add(agent.id, agent.id);
      for (const [key, id] of agent.subAgents) {
        this.#add(key, id);
        this.#add(id, id);
        let parents = this.#parents.get(id);
        if (!parents) this.#parents.set(id, (parents = []));
        if (!parents.some(([p, k]) => p === agent.id && k === key)) parents.push([agent.id, key]);
      }
    }
    for (const [name, id] of listing.aliases) this.#add(name, id);
  }

  #add(spelling: string, id: string): void {
    let ids = this.#means.get(spelling);
    if (!ids) this.#means.set(spelling, (ids = new Set()));
    ids.add(id);
  }

  /**
   * Adds what an agent card said a name means (a registry key that is not the id), after the
   * listing was built. The memoised coverage is dropped: it is rebuilt on next use.
   */
  learn(name: string, id: string, maxLearnt = 1024): boolean {
    if (this.#learnt >= maxLearnt || this.resolve(name).has(id)) return false;
    this.#learnt++;
    this.#add(name, id);
    this.#covered = new WeakMap();
    return true;
  }

  /** Agents listed (code and stored), and spellings known. */
  get agentCount(): number {
    return this.listing.agents.length;
  }
  get spellingCount(): number {
    return this.#means.size;
  }

  /** The upstream has told the edge what this name means (it names an agent, by id, key, sub-agent key or alias). */
  knows(spelling: string): boolean {
    return this.#means.has(spelling);
  }

  /** The ids a spelling may mean; empty when the directory does not know it. */
  resolve(spelling: string): ReadonlySet<string> {
    return this.#means.get(spelling) ?? EMPTY;
  }

  /** A rule naming `names` matches a request spelling its agent `spelling`. */
  covers(names: ReadonlySet<string>, spelling: string): boolean {
    return names.has(spelling) || this.coveredBy(names).has(spelling);
  }

  /**
   * Every spelling a rule naming `names` covers: the names themselves, every spelling of the
   * agents they may mean, and — with `coverParents` — every spelling of an agent that can delegate
   * to one of them, transitively (its generate, stream and network can run the sub-agent).
   */
  coveredBy(names: ReadonlySet<string>): ReadonlySet<string> {
    let covered = this.#covered.get(names);
    if (covered) return covered;
    const agents = this.#agentsCoveredBy(names);
    const spellings = new Set(names);
    for (const [spelling, ids] of this.#means) {
      for (const id of ids) {
        if (agents.has(id)) {
          spellings.add(spelling);
          break;
        }
      }
    }
    covered = spellings;
    this.#covered.set(names, covered);
    return covered;
  }

  /** The ids a rule's names mean (a name the directory does not know is taken as an id), plus their parents when covered. */
  #agentsCoveredBy(names: ReadonlySet<string>): Set<string> {
    const agents = new Set<string>();
    for (const name of names) {
      agents.add(name);
      for (const id of this.resolve(name)) agents.add(id);
    }
    if (!this.coverParents) return agents;
    const queue = [...agents];
    while (queue.length) {
      for (const [parent] of this.#parents.get(queue.pop()!) ?? []) {
        if (!agents.has(parent)) {
          agents.add(parent);
          queue.push(parent);
        }
      }
    }
    return agents;
  }

  /**
   * Why a rule naming `names` covers `spelling` — the agent it names and, when the spelling's agent
   * delegates to it, the sub-agent keys on the way — or null when it names the spelling itself or
   * does not cover it. For a refusal's log line: computed off the hot path.
   */
  explain(names: ReadonlySet<string>, spelling: string): Coverage | null {
    if (names.has(spelling) || !this.covers(names, spelling)) return null;
    const named = new Set<string>();
    for (const name of names) {
      named.add(name);
      for (const id of this.resolve(name)) named.add(id);
    }
    const start = [...this.resolve(spelling)];
    for (const id of start) if (named.has(id)) return { agent: id, how: "alias", path: [] };
    // Breadth first from the named agents up to the spelling's agents, remembering the keys.
    const via = new Map<string, { child: string; key: string }>();
    const queue = [...named];
    const targets = new Set(start);
    while (queue.length) {
      const id = queue.shift()!;
      if (targets.has(id)) {
        const path: string[] = [];
        let at = id;
        for (let step = via.get(at); step; step = via.get(at)) {
          path.push(step.key);
          at = step.child;
        }
        return { agent: at, how: "delegates", path };
      }
      for (const [parent, key] of this.#parents.get(id) ?? []) {
        if (!via.has(parent) && !named.has(parent)) {
          via.set(parent, { child: id, key });
          queue.push(parent);
        }
      }
    }
    return null;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isName(value: unknown, bounds: DirectoryBounds): value is string {
  return typeof value === "string" && value !== "" && value.length <= bounds.maxNameLength;
}
