import { JwksFetchError } from "../core/errors.js";

export interface OriginFetchOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** A JWKS larger than this is not a JWKS. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * One GET of the JWKS document, bounded in time and size. No retry here: the store decides when
 * another attempt may happen (cooldown), which is what keeps an outage from becoming a storm.
 */
export async function fetchJwksDocument(url: string, options: OriginFetchOptions): Promise<unknown> {
  let response: Response;
  try {
    response = await options.fetch(url, {
      method: "GET",
      headers: { Accept: "application/json", ...options.headers },
      // A JWKS endpoint has no business redirecting; following one could lead anywhere.
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const name = (error as Error)?.name;
    throw new JwksFetchError(name === "TimeoutError" || name === "AbortError" ? `timed out after ${options.timeoutMs} ms` : `network error (${name ?? "unknown"})`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new JwksFetchError(`HTTP ${response.status}`, response.status);
  }
  const length = Number(response.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) {
    await response.body?.cancel();
    throw new JwksFetchError(`body too large (${length} bytes)`);
  }
  let text: string;
  try {
    text = await response.text();
  } catch {
    throw new JwksFetchError("body could not be read");
  }
  if (text.length > MAX_BODY_BYTES) throw new JwksFetchError("body too large");
  try {
    return JSON.parse(text);
  } catch {
    throw new JwksFetchError("body is not JSON");
  }
}
