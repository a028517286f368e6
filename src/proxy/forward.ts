import { ASSERTION_HEADER, mintAssertion } from "../assertion/assertion.js";
import type { Logger } from "../core/log.js";
import { removeQueryCredentials, type ExtractedToken } from "../credentials/token.js";
import { json } from "../http/responses.js";
import type { Identity } from "../identity/identity.js";
import type { ProxyConfig } from "./config.js";
import { dropHopByHop, upstreamHeaders } from "./headers.js";

export interface ForwardInput {
  request: Request;
  /** The normalised path: the one that was authorised is the one that is forwarded. */
  path: string;
  identity: Identity | null;
  /** The credential that was verified, if any: the only one that may travel upstream. */
  credential: ExtractedToken | null;
  /** The request URL, when the caller has parsed it already (one parse per request). */
  url?: URL;
}

export type UpstreamFailure = "timeout" | "unreachable";

/** Told of each upstream failure where forward() decides it (the gateway's counters). */
export interface UpstreamObserver {
  upstreamFailed(kind: UpstreamFailure, method: string, path: string): void;
}

/**
 * Sends one request to the upstream and streams its answer back. Bodies are passed as streams in
 * both directions (an SSE or `\x1E` workflow stream reaches the client chunk by chunk). The
 * upstream URL is built from the configured base only, so no absolute-URL or Host trick can
 * reach another origin. No retry: `@mastra/client-js` already retries 5xx, even for POST.
 */
export async function forward(input: ForwardInput, config: ProxyConfig, logger: Logger, observer?: UpstreamObserver): Promise<Response> {
  const { request, path, identity } = input;
  const incoming = input.url ?? new URL(request.url);
  // The normalised path came out of a URL parser, so it holds no "?" or "#": plain concatenation
  // onto the configured base cannot change the origin.
  const target = config.base + path + removeQueryCredentials(incoming.search);

  const websocket = (request.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
  const headers = upstreamHeaders(request.headers, {
    identity,
    credential: input.credential,
    identityHeaders: config.identityHeaders,
    reserved: config.reserved,
    forwardAuthorization: config.forwardAuthorization,
    clientIp: request.headers.get("cf-connecting-ip"),
    proto: incoming.protocol.replace(":", ""),
    host: incoming.host,
    websocket,
    studio: config.studioHosts.size > 0 && config.studioHosts.has(incoming.hostname),
  });
  if (identity && config.assertion) {
    headers.set(ASSERTION_HEADER, await mintAssertion(config.assertion.key, identity, config.assertion.audience, { method: request.method, url: target }));
  }

  // Aborts the upstream call when the header deadline passes. A client going away needs no
  // listener here: the runtime cancels the request's subrequests and its body pump itself (the
  // e2e abort tests in test/node/e2e/failures.test.ts), and the listener cost ~6% of throughput.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException("upstream header timeout", "TimeoutError"));
  }, config.timeoutMs);

  const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
  const init: RequestInit = {
    method: request.method,
    headers,
    body: hasBody ? request.body : null,
    redirect: "manual",
    signal: controller.signal,
  };

  let response: Response;
  try {
    response = config.upstream.kind === "binding" ? await config.upstream.fetcher.fetch(target, init) : await fetch(target, init);
  } catch (error) {
    const name = (error as Error)?.name ?? "Error";
    if (timedOut) {
      logger.log("warn", "upstream.timeout", { method: request.method, path, timeoutMs: config.timeoutMs });
      observer?.upstreamFailed("timeout", request.method, path);
      return json({ error: "gateway_timeout", message: `the upstream sent no response headers within ${config.timeoutMs} ms` }, 504);
    }
    if (request.signal?.aborted) {
      logger.log("info", "upstream.client_aborted", { method: request.method, path });
      // Nobody is listening any more; the status only shows in logs.
      return json({ error: "client_closed_request" }, 499);
    }
    logger.log("warn", "upstream.error", { method: request.method, path, error: name });
    observer?.upstreamFailed("unreachable", request.method, path);
    return json({ error: "bad_gateway", message: "the upstream could not be reached" }, 502);
  } finally {
    clearTimeout(timer);
  }

  if (websocket && response.status === 101 && response.webSocket) return response;
  // Most answers need no change: returned as they came, with no copy of the headers and no new
  // Response around the body (a re-wrap cost ~8% of throughput, commit 167fcb9). Their headers
  // stay immutable; whoever adds to them (CORS, the spend guard) copies.
  if (!needsRewrite(response)) return response;
  const out = new Response(response.body, response);
  const outgoing = out.headers;
  dropHopByHop(outgoing);
  // The edge gzips text/plain, JSON and the like on its way to a client that accepts it
  // (Cloudflare's front line does it, and Miniflare mimics it), and a compressor holds small writes
  // back: a `\x1E` workflow stream (text/plain) would reach the client in one lump at the end. A
  // body the upstream streams (no Content-Length) is marked identity-encoded so the edge passes it
  // through as it comes; sized bodies are still compressed.
  if (response.body && !outgoing.has("content-length") && !outgoing.has("content-encoding")) outgoing.set("content-encoding", "identity");
  return out;
}

/**
 * Whether the upstream's answer must be copied: a hop-by-hop header the runtime would pass on
 * (`Proxy-*`, or a name listed in `Connection`), or a streamed body to mark identity-encoded.
 * `Connection: keep-alive|close`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade` and
 * `Transfer-Encoding` are framing the runtime's HTTP server replaces with its own on the way out
 * (workerd writes none of them from a Worker's response; checked on the wire), and a Node
 * upstream sends the first two on every answer: copying for them alone would copy every time.
 */
function needsRewrite(response: Response): boolean {
  const headers = response.headers;
  for (const name of headers.keys()) {
    if (name.startsWith("proxy-")) return true;
    if (name === "connection" && !CONNECTION_FRAMING_ONLY.test(headers.get(name)!)) return true;
  }
  return response.body !== null && !headers.has("content-length") && !headers.has("content-encoding");
}
const CONNECTION_FRAMING_ONLY = /^[ \t]*(?:keep-alive|close)[ \t]*$/i;
