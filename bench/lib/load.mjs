// Load generation: autocannon for throughput (its latency histogram has 1 ms resolution), and a
// serial keep-alive client for latency with microsecond resolution (one request at a time, so
// the figure is the Worker's own added time, not queueing).

import { Agent, request } from "node:http";
import autocannon from "autocannon";
import { percentile } from "./stats.mjs";

/**
 * One autocannon run; fails loudly on any non-2xx or error, so a broken subject cannot look fast.
 * `tokens`: a different bearer token on each request, in order (with `ratePerS` to bound the rate).
 * `amount`: a number of requests instead of a duration.
 */
export async function throughput(url, { headers, connections, durationS, amount, tokens, ratePerS }) {
  let next = 0;
  const options = { url, headers, connections, ...(amount ? { amount } : { duration: durationS }) };
  if (ratePerS) options.overallRate = ratePerS;
  if (tokens) {
    options.requests = [
      {
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }),
      },
    ];
  }
  const result = await autocannon(options);
  if (result.non2xx || result.errors || result.timeouts) {
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts under load`);
  }
  return {
    durationS: result.duration,
    rps: result.requests.total / result.duration,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

/** `count` requests one after another on one keep-alive connection; per-request times in µs. */
export async function serialLatency(url, { headers, count }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const one = () =>
    new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, headers, agent }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const elapsedUs = Number(process.hrtime.bigint() - start) / 1000;
          if (res.statusCode !== 200) reject(new Error(`${url}: status ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`));
          else resolve(elapsedUs);
        });
      });
      req.on("error", reject);
      req.end();
    });
  try {
    const samples = [];
    for (let i = 0; i < count; i++) samples.push(await one());
    return { p50Us: percentile(samples, 50), p99Us: percentile(samples, 99), count };
  } finally {
    agent.destroy();
  }
}
