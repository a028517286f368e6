// The targets, checked against one run's results. A target whose section did not run is
// "not measured", never "met".

export function evaluateTargets(r) {
  const t = [];
  const add = (id, target, value, met, note = "") => t.push({ id, target, value, met, note });
  const o = r.overhead;
  if (o) {
    add("throughput", "gateway ≥ 0.9× pass-through req/s", `${o.ratios.gatewayVsPassthroughRps.toFixed(2)}×`, o.ratios.gatewayVsPassthroughRps >= 0.9);
    add("latency", "added p50 ≤ 0.2 ms", `${(o.ratios.gatewayAddedP50Us / 1000).toFixed(3)} ms`, o.ratios.gatewayAddedP50Us <= 200);
  }
  const v = r.verify?.workerd;
  if (v) {
    add("hot", "hot verify ≥ 5× jose.jwtVerify ops/s", `${v.ratios.hotVsJose.toFixed(2)}×`, v.ratios.hotVsJose >= 5);
    add("cold", "cold verify ≤ 1.2× bare crypto.subtle.verify cost", `${v.ratios.coldCostVsSubtleFromToken.toFixed(2)}×`, v.ratios.coldCostVsSubtleFromToken <= 1.2, "bare = split + decode + one RSA verify");
    const clerk = Math.min(v.ratios.hotVsClerkJwtKey, v.ratios.hotVsClerkJwks);
    add("clerk", "≥ 3× @clerk/backend verifyToken ops/s", `${clerk.toFixed(2)}× (hot), ${v.ratios.coldVsClerkJwks.toFixed(2)}× (cold)`, clerk >= 3, "hot: the gateway's path for a token seen before");
  }
  const k = r.keys;
  if (k) {
    const hot = k.warmIsolate;
    add("hot-path-io", "0 KV reads, 0 origin fetches on the hot path", `${hot.kvReads} KV reads, ${hot.originFetches} origin fetches in ${hot.requests.toLocaleString("en-US")} requests`, hot.kvReads === 0 && hot.originFetches === 0);
    // A refresh starts on the first request after the TTL, so a window of W s holds W/TTL of them, ±1.
    const expected = k.ttl.windowS / k.ttl.ttlS;
    add(
      "ttl",
      "1 origin fetch per isolate per TTL",
      `${k.ttl.originFetches} in ${k.ttl.windowS} s at TTL ${k.ttl.ttlS} s with new tokens (${k.ttlHot.originFetches} with cached tokens only); ${k.coldIsolateWarmKv.originFetches} on a cold isolate with warm KV`,
      Math.abs(k.ttl.originFetches - expected) <= 1 && k.coldIsolateWarmKv.originFetches === 0,
    );
  }
  const s = r.start;
  if (s) {
    const kib = s.bundles.gateway.gzipBytes / 1024;
    add("bundle", "bundle ≤ 60 KiB gzipped", `${kib.toFixed(1)} KiB`, kib <= 60);
  }
  return t;
}
