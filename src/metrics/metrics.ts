import type { KeyStoreCounters } from "../keys/types.js";
import type { LogFields, Logger, LogLevel } from "../core/log.js";

/** Counters the verifier keeps on its own hot path (plain integer increments). */
export interface VerifierCounters {
  cacheHits: number;
  cacheMisses: number;
}

/**
 * Per-isolate counters in the style of Envoy's `jwt_authn` stats. Most are derived from events the
 * gateway already logs (a rejection, a JWKS fetch, an upstream error), so counting adds no second
 * code path; the hot-path ones (cache hits, allowed) are integers the owners increment.
 */
export class GatewayMetrics {
  allowed = 0;
  publicRequests = 0;
  corsPreflight = 0;
  readonly denied = new Map<string, number>();
  readonly upstreamErrors = new Map<string, number>();
  constructor(private readonly analytics?: AnalyticsEngineDataset | null) {}

  /** Records one event; called by {@link metricsLogger} for every log call, whatever its level. */
  observe(event: string, fields: LogFields = {}): void {
    switch (event) {
      case "auth.rejected":
      case "auth.forbidden": {
        const reason = String(fields.reason ?? "unknown");
        this.denied.set(reason, (this.denied.get(reason) ?? 0) + 1);
        this.#write("denied", reason, fields);
        break;
      }
      case "ratelimit.exceeded": {
        this.denied.set("rate-limited", (this.denied.get("rate-limited") ?? 0) + 1);
        this.#write("denied", "rate-limited", fields);
        break;
      }
      case "cors.preflight":
        this.corsPreflight++;
        break;
      case "upstream.error":
      case "upstream.timeout": {
        const kind = event === "upstream.timeout" ? "timeout" : "unreachable";
        this.upstreamErrors.set(kind, (this.upstreamErrors.get(kind) ?? 0) + 1);
        this.#write("upstream_error", kind, fields);
        break;
      }
    }
  }

  recordAllowed(method: string, path: string): void {
    this.allowed++;
    this.#write("allowed", "", { method, path });
  }

  /** Workers Analytics Engine: one data point per decision, when the `AUTH_ANALYTICS` binding exists. */
  #write(outcome: string, reason: string, fields: LogFields): void {
    if (!this.analytics) return;
    try {
      this.analytics.writeDataPoint({
        blobs: [outcome, reason, String(fields.method ?? ""), String(fields.path ?? "").slice(0, 256)],
        doubles: [1],
        indexes: [outcome],
      });
    } catch {
      // Analytics are best effort: a failing dataset must never fail a request.
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  render(keys: KeyStoreCounters, verifier: VerifierCounters): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, samples: [Record<string, string> | null, number][]) => {
      lines.push(`# HELP jwt_authn_${name} ${help}`, `# TYPE jwt_authn_${name} counter`);
      for (const [labels, value] of samples) {
        const l = labels ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
        lines.push(`jwt_authn_${name}${l} ${value}`);
      }
    };
    counter("allowed_total", "Requests authenticated and authorised.", [[null, this.allowed]]);
    counter("public_total", "Requests to public paths (no token needed).", [[null, this.publicRequests]]);
    counter("denied_total", "Requests rejected, by reason.", [...this.denied].sort().map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]));
    counter("cors_preflight_total", "CORS preflights answered at the edge.", [[null, this.corsPreflight]]);
    counter("jwks_fetch_success_total", "JWKS origin fetches that produced a usable key set.", [[null, keys.originFetches - keys.originFailures]]);
    counter("jwks_fetch_failed_total", "JWKS origin fetches that failed.", [[null, keys.originFailures]]);
    counter("jwks_stale_served_total", "Verifications served with keys past their TTL.", [[null, keys.staleServed]]);
    counter("jwks_kv_reads_total", "JWKS reads from Workers KV.", [[null, keys.kvReads]]);
    counter("jwt_cache_hit_total", "Tokens answered from the verified-token cache.", [[null, verifier.cacheHits]]);
    counter("jwt_cache_miss_total", "Tokens fully verified.", [[null, verifier.cacheMisses]]);
    counter("upstream_errors_total", "Upstream failures, by kind.", [...this.upstreamErrors].sort().map(([kind, n]) => [{ kind }, n] as [Record<string, string>, number]));
    return `${lines.join("\n")}\n`;
  }
}

/** A logger that feeds {@link GatewayMetrics} before passing each line on. */
export function metricsLogger(metrics: GatewayMetrics, inner: Logger): Logger {
  return {
    log(level: LogLevel, event: string, fields?: LogFields) {
      metrics.observe(event, fields);
      inner.log(level, event, fields);
    },
  };
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
