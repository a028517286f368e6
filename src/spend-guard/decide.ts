import { json } from "../http/responses.js";
import type { Identity } from "../identity/identity.js";
import type { IoContext } from "../keys/types.js";
import type { RouteRequest } from "../routes/selector.js";
import { matchLimits, type CompiledLimit, type LimitKey, type SpendGuardConfig } from "./config.js";
import type { HitResult, SpendCounterStub } from "./windows.js";

/** A limit that applies to this request, with the budget it spends from. */
interface Applied {
  limit: CompiledLimit;
  key: string;
}

type Verdict =
  | { denied: null; state: string }
  | { denied: Applied; retryAfterS: number; state: string };

/** What the spend guard answers for one request. */
export type SpendDecision =
  /** No limit applies: nothing to add to the answer. */
  | { outcome: "unlimited" }
  /** Counted and within every limit: the answer carries these RateLimit headers. */
  | { outcome: "allowed"; headers: Record<string, string> }
  /** Over a limit (429), or not countable (503, fail closed). `log` is the rejection's log line. */
  | { outcome: "denied"; response: Response; log: { event: string; fields: Record<string, string | number | null> } };

/**
 * RATE_LIMITS and QUOTAS for one request. The gateway runs it after authentication and
 * AUTH_RULES, so a 401 or 403 never spends a budget; it sees public requests with no identity,
 * and counts those only under `ip` limits. Every limit matching the request applies; the request
 * passes only if all of them have room. A route no limit matches costs one scan of the compiled
 * patterns.
 *
 * Responses on a limited route carry `RateLimit-Policy` (every applied limit) and `RateLimit`
 * (the limits whose state is known: exact for the Durable Object, only "none left" for the
 * Rate Limiting binding, which answers yes or no) — draft-ietf-httpapi-ratelimit-headers.
 */
export async function checkSpend(
  config: SpendGuardConfig,
  request: { method: string; path: string; identity: Identity | null; headers: Headers; route?: RouteRequest },
  nowMs: number,
  io: IoContext,
): Promise<SpendDecision> {
  if (config.limits.length === 0) return UNLIMITED;
  const matched = matchLimits(config.limits, request.method, request.path, request.route);
  if (matched.length === 0) return UNLIMITED;

  const { identity } = request;
  const applied: Applied[] = [];
  for (const limit of matched) {
    const key = budgetKey(limit.key, identity, request.headers);
    if (key !== null) applied.push({ limit, key });
  }
  if (applied.length === 0) return UNLIMITED;

  let verdict: Verdict;
  try {
    verdict = await decide(applied, config, nowMs, io);
  } catch (error) {
    // Fail closed: an uncountable request on a costly route is not let through for free.
    return {
      outcome: "denied",
      response: json({ error: "rate_limiter_unavailable", message: "the request could not be counted against its limits; retry shortly" }, 503, { "retry-after": "1" }),
      log: { event: "ratelimit.unavailable", fields: { status: 503, reason: "rate-limiter-unavailable", name: (error as Error)?.name ?? null, method: request.method, path: request.path } },
    };
  }

  const policy = applied.map((a) => a.limit.policy).join(", ");
  if (verdict.denied) {
    const { limit, key } = verdict.denied;
    const headers: Record<string, string> = { "retry-after": String(verdict.retryAfterS), "ratelimit-policy": policy };
    if (verdict.state) headers.ratelimit = verdict.state;
    return {
      outcome: "denied",
      response: json({ error: "rate_limited", limit: limit.limit, period: limit.period, policy: limit.id }, 429, headers),
      log: {
        event: "ratelimit.exceeded",
        fields: {
          status: 429,
          reason: "rate-limited",
          policy: limit.id,
          key: limit.key,
          method: request.method,
          path: request.path,
          user: identity?.userId ?? null,
          org: limit.key === "org" && key.startsWith("org:") ? key.slice(4) : null,
        },
      },
    };
  }
  const headers: Record<string, string> = { "ratelimit-policy": policy };
  if (verdict.state) headers.ratelimit = verdict.state;
  return { outcome: "allowed", headers };
}

const UNLIMITED: SpendDecision = { outcome: "unlimited" };

/**
 * The budget a request spends from, or null when the limit does not apply to it (a user, org or
 * session limit on an anonymous public request). A user outside any organisation is an
 * organisation of one under an `org` limit, and a token without `sid` a session of its user:
 * never a shared bucket, never a way around the limit.
 */
export function budgetKey(kind: LimitKey, identity: Identity | null, headers: Headers): string | null {
  if (kind === "ip") return `ip:${headers.get("cf-connecting-ip") ?? "unknown"}`;
  if (!identity) return null;
  if (kind === "org" && identity.orgId) return `org:${identity.orgId}`;
  if (kind === "session" && identity.sessionId) return `session:${identity.sessionId}`;
  // A machine spends its own budget (issue #13): an M2M token by its machine id, an organization's
  // API key by its organization; an OAuth token or a user's API key spends its user's.
  if (identity.userId !== null) return `user:${identity.userId}`;
  return identity.machineId !== null ? `machine:${identity.machineId}` : `subject:${identity.subject ?? identity.claims.sub}`;
}

async function decide(applied: Applied[], config: SpendGuardConfig, nowMs: number, io: IoContext): Promise<Verdict> {
  // The bindings first: they are cheap and local, and a request they refuse never reaches the
  // exact counters, so it does not spend a daily quota.
  const approximate = applied.filter((a) => a.limit.binding !== null);
  if (approximate.length) {
    const outcomes = await Promise.all(approximate.map((a) => a.limit.binding!.limit({ key: `${a.limit.id}|${a.key}` })));
    const refused = approximate.filter((_, i) => !outcomes[i]!.success);
    if (refused.length) {
      const worst = refused.reduce((a, b) => (b.limit.period > a.limit.period ? b : a));
      // The binding says neither how many are left nor when its window ends: none are left, and a
      // full period is the longest the wait can be.
      return { denied: worst, retryAfterS: worst.limit.period, state: refused.map((a) => `"${a.limit.id}";r=0;t=${a.limit.period}`).join(", ") };
    }
  }

  const exact = applied.filter((a) => a.limit.binding === null);
  if (!exact.length) return { denied: null, state: "" };
  const counter = config.counter!;
  const groups = new Map<string, Applied[]>();
  for (const a of exact) {
    const group = groups.get(a.key);
    if (group) group.push(a);
    else groups.set(a.key, [a]);
  }
  const calls = [...groups].map(([key, group]) => {
    const stub = counter.get(counter.idFromName(key)) as SpendCounterStub;
    const windows = group.map((a) => ({ name: a.limit.id, limit: a.limit.limit, period: a.limit.period }));
    return { group, stub, result: stub.hit(windows, nowMs) as Promise<HitResult> };
  });
  const results = await Promise.all(calls.map((call) => call.result));
  const refusedAnywhere = results.some((r) => !r.allowed);

  const items: string[] = [];
  let worst: { applied: Applied; resetS: number } | null = null;
  for (const [i, result] of results.entries()) {
    const call = calls[i]!;
    const refunded = refusedAnywhere && result.allowed;
    if (refunded) {
      // Another key's object refused the request: give back what this one counted. Best effort,
      // after the answer; a lost refund costs the caller one request, never lets one through.
      const refund = Promise.resolve(call.stub.refund(result.windows.map((w) => ({ name: w.name, start: w.start })))).catch(() => {});
      io.waitUntil?.(refund);
    }
    for (const w of result.windows) {
      items.push(`"${w.name}";r=${refunded ? w.remaining + 1 : w.remaining};t=${w.resetS}`);
      if (!w.allowed && (!worst || w.resetS > worst.resetS)) {
        worst = { applied: call.group.find((a) => a.limit.id === w.name)!, resetS: w.resetS };
      }
    }
  }
  const state = items.join(", ");
  return worst ? { denied: worst.applied, retryAfterS: Math.max(1, worst.resetS), state } : { denied: null, state };
}

