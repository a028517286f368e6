import type { KeyStoreCounters } from "../keys/types.js";

/** Kinds of upstream failure (proxy/forward.ts's `UpstreamFailure`; the stats object is its observer). */
type UpstreamFailure = "timeout" | "unreachable";

/** The agent directory's counters (proxy/agent-directory-store.ts keeps them; the stats object renders them). */
interface DirectoryCounters {
  fetches: number;
  failures: number;
  kvReads: number;
  lookups: number;
}

/** Counters the verifier keeps on its own hot path (plain integer increments). */
export interface VerifierCounters {
  cacheHits: number;
  cacheMisses: number;
}

/** The verified-token cache's size and bounds (verify/token-cache.ts `stats()`). */
export interface TokenCacheStats {
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
}

/**
 * The gateway's per-isolate counters, declared once here (like Envoy's `ALL_JWT_AUTHN_FILTER_STATS`
 * in `stats.h`) and incremented by the gateway's pipeline at the line that makes each decision —
 * never derived from log event names, so renaming a log line cannot change `/metrics`. The key
 * store and the verifier keep their own integer counters (`KeyStoreCounters`,
 * `VerifierCounters`), read here when rendering.
 */
export class GatewayStats {
  allowed = 0;
  publicRequests = 0;
  corsPreflight = 0;
  /** Rejections by reason code (401, 403, 429, 503, 500 and 400 alike). */
  readonly denied = new Map<string, number>();
  readonly upstreamErrors = new Map<UpstreamFailure, number>();
  /** Requests naming an agent decided without the upstream's agent directory (none to be had): rules matched only the names they list. */
  agentDirectoryFallbacks = 0;
  constructor(private readonly analytics?: AnalyticsEngineDataset | null) {}

  allow(method: string, path: string): void {
    this.allowed++;
    this.#write("allowed", "", method, path);
  }

  publicRequest(): void {
    this.publicRequests++;
  }

  preflight(): void {
    this.corsPreflight++;
  }

  deny(reason: string, method: string, path: string): void {
    this.denied.set(reason, (this.denied.get(reason) ?? 0) + 1);
    this.#write("denied", reason, method, path);
  }

  agentDirectoryFallback(): void {
    this.agentDirectoryFallbacks++;
  }

  upstreamFailed(kind: UpstreamFailure, method: string, path: string): void {
    this.upstreamErrors.set(kind, (this.upstreamErrors.get(kind) ?? 0) + 1);
    this.#write("upstream_error", kind, method, path);
  }

  /** Workers Analytics Engine: one data point per decision, when the `AUTH_ANALYTICS` binding exists. */
  #write(outcome: string, reason: string, method: string, path: string): void {
    if (!this.analytics) return;
    try {
      this.analytics.writeDataPoint({ blobs: [outcome, reason, method, path.slice(0, 256)], doubles: [1], indexes: [outcome] });
    } catch {
      // Analytics are best effort: a failing dataset must never fail a request.
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  render(keys: KeyStoreCounters, verifier: VerifierCounters, tokenCache?: TokenCacheStats, directory?: DirectoryCounters | null): string {
    const lines: string[] = [];
    const gauge = (name: string, help: string, value: number) => lines.push(`# HELP jwt_authn_${name} ${help}`, `# TYPE jwt_authn_${name} gauge`, `jwt_authn_${name} ${value}`);
    const counter = (name: string, help: string, samples: [Record<string, string> | null, number][]) => {
      lines.push(`# HELP jwt_authn_${name} ${help}`, `# TYPE jwt_authn_${name} counter`);
      for (const [labels, value] of samples) {
        const l = labels ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
        lines.push(`jwt_authn_${name}${l} ${value}`);
      }
    };
    const labelled = (map: ReadonlyMap<string, number>, label: string) =>
      [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([value, n]) => [{ [label]: value }, n] as [Record<string, string>, number]);
    counter("allowed_total", "Requests authenticated and authorised.", [[null, this.allowed]]);
    counter("public_total", "Requests to public paths (no token needed).", [[null, this.publicRequests]]);
    counter("denied_total", "Requests rejected, by reason.", labelled(this.denied, "reason"));
    counter("cors_preflight_total", "CORS preflights answered at the edge.", [[null, this.corsPreflight]]);
    counter("jwks_fetch_success_total", "JWKS origin fetches that produced a usable key set.", [[null, keys.originFetches - keys.originFailures]]);
    counter("jwks_fetch_failed_total", "JWKS origin fetches that failed.", [[null, keys.originFailures]]);
    counter("jwks_stale_served_total", "Verifications served with keys past their TTL.", [[null, keys.staleServed]]);
    counter("jwks_kv_reads_total", "JWKS reads from Workers KV.", [[null, keys.kvReads]]);
    counter("jwt_cache_hit_total", "Tokens answered from the verified-token cache.", [[null, verifier.cacheHits]]);
    counter("jwt_cache_miss_total", "Tokens fully verified.", [[null, verifier.cacheMisses]]);
    counter("upstream_errors_total", "Upstream failures, by kind.", labelled(this.upstreamErrors, "kind"));
    if (tokenCache) {
      gauge("jwt_cache_entries", `Verified tokens held (at most ${tokenCache.maxEntries}).`, tokenCache.entries);
      gauge("jwt_cache_bytes", `Estimated bytes the verified-token cache holds (at most ${tokenCache.maxBytes}).`, tokenCache.bytes);
    }
    if (directory) {
      counter("agent_directory_fetch_total", "Loads of the upstream's agent list.", [[null, directory.fetches]]);
      counter("agent_directory_fetch_failed_total", "Loads of the upstream's agent list that failed.", [[null, directory.failures]]);
      counter("agent_directory_kv_reads_total", "Agent directory reads from Workers KV.", [[null, directory.kvReads]]);
      counter("agent_directory_lookups_total", "Agent cards asked about a spelling the directory did not know.", [[null, directory.lookups]]);
      counter("agent_directory_fallback_total", "Requests naming an agent decided without the directory (rules matched only the names they list).", [[null, this.agentDirectoryFallbacks]]);
    }
    return `${lines.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Compares a presented secret with the configured one in time independent of where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
