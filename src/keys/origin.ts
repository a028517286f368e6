import { readCapped } from "../core/read-capped.js";
import { OriginFetchError } from "../core/errors.js";

export interface OriginFetchOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  /** The most bytes of body read. */
  maxBytes: number;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
}

/**
 * One GET of a JSON document (the JWKS, the upstream's agent list or an agent card), bounded in
 * time (the whole answer, body included) and in size (read as a stream, never buffered past the
 * bound). Throws {@link OriginFetchError} with why. No retry here: the caller decides when another
 * attempt may happen (cooldown), which is what keeps an outage from becoming a storm.
 */
export async function fetchJson(url: string, options: OriginFetchOptions): Promise<unknown> {
  // Called as a plain function: workerd's global fetch (the default over an HTTP upstream) throws
  // "Illegal invocation" when called as a method of another object (options.fetch(...)).
  const { timeoutMs, maxBytes, fetch: send } = options;
  const signal = AbortSignal.timeout(timeoutMs);
  const fail = (reason: ConstructorParameters<typeof OriginFetchError>[0], detail: string, status?: number) => new OriginFetchError(reason, detail, status);
  let response: Response;
  try {
    // An origin has no business redirecting; following one could lead anywhere.
    response = await send(url, { method: "GET", headers: { accept: "application/json", ...options.headers }, redirect: "manual", signal });
  } catch (error) {
    throw signal.aborted ? fail("timeout", `timed out after ${timeoutMs} ms`) : fail("unreachable", `network error (${(error as Error)?.name ?? "unknown"})`);
  }
  const status = response.status;
  if (!response.ok || Number(response.headers.get("content-length") ?? "0") > maxBytes) {
    await response.body?.cancel().catch(() => {});
    if (response.ok) throw fail("too-large", `body larger than ${maxBytes} bytes`);
    throw fail(status === 404 ? "not-found" : status === 401 || status === 403 ? "refused" : "upstream-error", `HTTP ${status}`, status);
  }
  let text: string | null;
  try {
    text = response.body ? await readCapped(response.body, maxBytes) : "";
  } catch {
    throw signal.aborted ? fail("timeout", `no whole body within ${timeoutMs} ms`) : fail("unreachable", "body could not be read");
  }
  if (text === null) throw fail("too-large", `body larger than ${maxBytes} bytes`);
  try {
    return JSON.parse(text);
  } catch {
    throw fail("invalid", "body is not JSON");
  }
}

