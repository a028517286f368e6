/**
 * Every name an agent or a workflow answers to inside one Mastra instance, found the way Mastra
 * finds it — so a rule about `weatherAgent` holds when a request names it `helper`. Mastra is read
 * structurally (nothing from `@mastra/core` is imported: the Worker bundle must not carry it).
 *
 * Mastra resolves a route's `:agentId` (and `/v1/responses`' `agent_id`) with `getAgentFromSystem`
 * (`@mastra/server`, `server/handlers/agents.js`): `mastra.getAgentById(name)` (an agent whose id
 * is the name, else the one registered under that key), else the first registered agent whose
 * `listAgents()` has a sub-agent under that key, else a stored agent by id (`getEditor().agent`).
 * A `:workflowId` with `listWorkflowsFromSystem` (`server/handlers/workflows.js`):
 * `mastra.getWorkflowById(name)` (id, else key), else the first registered agent whose
 * `listWorkflows()` has one under that key.
 */

/** The parts of a Mastra `Agent` read here. */
interface AgentLike {
  id?: unknown;
  listAgents?(options?: { requestContext?: unknown }): unknown;
  listWorkflows?(options?: { requestContext?: unknown }): unknown;
}

/** The parts of a `Mastra` instance read here. */
export interface MastraLike {
  getAgentById?(id: string): unknown;
  listAgents?(): unknown;
  getEditor?(): { agent?: { getById?(id: string): unknown } } | undefined | null;
  getWorkflowById?(id: string): unknown;
  listWorkflows?(): unknown;
}

/** Bounds the walk of a (possibly dynamic, possibly cyclic) agent graph. */
const MAX_AGENTS = 1000;

/**
 * The names of the agent a request names as `name`: the name itself, the agent's id, every key it
 * is registered under and every key under which an agent lists it as a sub-agent — and the same
 * with `coverParents` (the default, as the gateway's `AGENT_RULES_COVER_PARENTS`) for each agent
 * it can delegate to (its sub-agents, transitively), so that a rule about a sub-agent also holds
 * on the agents that can run it. Just `[name]` when Mastra knows no such
 * agent (it answers 404). Sub-agents given as a function are listed with `requestContext`, as the
 * agent lists them when it runs.
 */
export async function agentNames(mastra: MastraLike, name: string, requestContext?: unknown, coverParents = true): Promise<readonly string[]> {
  const registered = entries(safely(() => mastra.listAgents?.()));
  const found = await findAgent(mastra, registered, name);
  if (!found) return [name];

  // Every key each agent (by id) is known under: registration keys and sub-agent keys.
  const keys = new Map<string, Set<string>>();
  const known = (agent: AgentLike, key: string) => {
    const id = idOf(agent);
    if (id === null) return;
    let set = keys.get(id);
    if (!set) keys.set(id, (set = new Set([id])));
    set.add(key);
  };
  const children = new Map<string, AgentLike[]>();
  const seen = new Set<string>();
  const queue: AgentLike[] = [];
  const visit = (agent: AgentLike) => {
    const id = idOf(agent);
    if (id === null || seen.has(id) || seen.size >= MAX_AGENTS) return;
    seen.add(id);
    queue.push(agent);
  };
  for (const [key, agent] of registered) {
    known(agent, key);
    visit(agent);
  }
  visit(found);
  while (queue.length) {
    const agent = queue.shift()!;
    const subs = entries(await settle(() => agent.listAgents?.({ requestContext })));
    children.set(idOf(agent)!, subs.map(([, sub]) => sub));
    for (const [key, sub] of subs) {
      known(sub, key);
      visit(sub);
    }
  }

  // The agent and everything it can delegate to.
  const names = new Set([name]);
  const reached = new Set<string>();
  const pending = [found];
  while (pending.length) {
    const agent = pending.pop()!;
    const id = idOf(agent);
    if (id === null || reached.has(id)) continue;
    reached.add(id);
    for (const n of keys.get(id) ?? [id]) names.add(n);
    if (coverParents) pending.push(...(children.get(id) ?? []));
  }
  return [...names];
}

/**
 * The names of the workflow a request names as `name`: the name, the workflow's id, the keys it is
 * registered under, and the keys under which agents list it. Just `[name]` when Mastra knows none.
 * (An agent that can run a workflow is not covered by a rule about the workflow: name the agent.)
 */
export async function workflowNames(mastra: MastraLike, name: string, requestContext?: unknown): Promise<readonly string[]> {
  const registered = entries(safely(() => mastra.listAgents?.()));
  let found: AgentLike | null = null;
  const byId = safely(() => mastra.getWorkflowById?.(name));
  if (isAgent(byId)) found = byId;
  for (const [, agent] of found ? [] : registered) {
    // Mastra lists an agent's workflows here without a request context; so does this.
    const listed = (entries(await settle(() => agent.listWorkflows?.())).find(([key]) => key === name) ?? [])[1];
    if (listed) {
      found = listed;
      break;
    }
  }
  const id = found ? idOf(found) : null;
  if (id === null) return [name];
  const names = new Set([name, id]);
  for (const [key, workflow] of entries(safely(() => mastra.listWorkflows?.()))) if (idOf(workflow) === id) names.add(key);
  for (const [, agent] of registered) {
    for (const [key, workflow] of entries(await settle(() => agent.listWorkflows?.({ requestContext })))) if (idOf(workflow) === id) names.add(key);
  }
  return [...names];
}

/** The agent Mastra runs for `name`, in `getAgentFromSystem`'s order, or null. */
async function findAgent(mastra: MastraLike, registered: readonly [string, AgentLike][], name: string): Promise<AgentLike | null> {
  const byId = safely(() => mastra.getAgentById?.(name));
  if (isAgent(byId)) return byId;
  for (const [, agent] of registered) {
    // Mastra lists sub-agents here without a request context; so does this.
    const sub = (entries(await settle(() => agent.listAgents?.())).find(([key]) => key === name) ?? [])[1];
    if (sub) return sub;
  }
  const stored = await settle(() => mastra.getEditor?.()?.agent?.getById?.(name));
  return isAgent(stored) ? stored : null;
}

function entries(value: unknown): [string, AgentLike][] {
  if (!value || typeof value !== "object") return [];
  return Object.entries(value as Record<string, unknown>).filter((e): e is [string, AgentLike] => isAgent(e[1]));
}

function isAgent(value: unknown): value is AgentLike {
  return !!value && typeof value === "object";
}

function idOf(agent: AgentLike): string | null {
  return typeof agent.id === "string" && agent.id !== "" ? agent.id : null;
}

function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Awaits what Mastra returns (a value or a promise); a throw or rejection is nothing, as Mastra skips it. */
async function settle(read: () => unknown): Promise<unknown> {
  try {
    return await read();
  } catch {
    return undefined;
  }
}
