/**
 * The answers a Mastra Worker gives itself (everything else is Mastra's). Same shape as the
 * gateway's: `{"error": <stable code>, "message": …}`, JSON, never cached.
 */

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** `GET /healthz`: alive, and how many times this isolate built Mastra (1 once it served a call). */
export function health(mastraBuilds: number): Response {
  return json({ status: "ok", mastraBuilds });
}

/** A configuration problem found while building: the operator's to fix, named in `message`. */
export function misconfigured(message: string): Response {
  return json({ error: "misconfigured", message }, 500);
}

/**
 * The user's build function failed (or Mastra's server did not initialise). Retryable: the
 * failure is not cached, the next request builds again.
 */
export function mastraUnavailable(): Response {
  return json({ error: "mastra_unavailable", message: "the Mastra app could not be built; retry" }, 503, { "retry-after": "1" });
}
