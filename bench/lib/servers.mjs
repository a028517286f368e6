// The outside world of the benchmarks, all on 127.0.0.1: a Clerk stand-in serving the JWKS (and
// counting every fetch, so key traffic is measured where it arrives), the upstream (its own
// process), and the token set.

import { fork } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { join } from "node:path";
import { generateSigningKey, mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
import { BENCH } from "./build.mjs";

export const SECRET_KEY = "sk_test_bench";

/** Serves `/.well-known/jwks.json` and the Backend API's `/v1/jwks` for one key; counts requests per path. */
export async function startKeyServer(key) {
  const jwks = JSON.stringify({ keys: [key.publicJwk] });
  const counts = { "/.well-known/jwks.json": 0, "/v1/jwks": 0, other: 0 };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://bench.invalid").pathname;
    if (path === "/.well-known/jwks.json" || (path === "/v1/jwks" && req.headers.authorization === `Bearer ${SECRET_KEY}`)) {
      counts[path]++;
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(jwks) });
      res.end(jwks);
      return;
    }
    counts.other++;
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"errors":[{"code":"not_found"}]}');
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    issuer: url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    counts,
    /** Origin JWKS fetches of either kind so far. */
    fetches: () => counts["/.well-known/jwks.json"] + counts["/v1/jwks"],
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Forks bench/upstream-server.mjs and waits for its port. */
export async function startUpstream() {
  const child = fork(join(BENCH, "upstream-server.mjs"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const [message] = await Promise.race([
    once(child, "message"),
    once(child, "exit").then(([code]) => {
      throw new Error(`upstream server exited with ${code}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${message.port}`,
    pid: child.pid,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.disconnect();
      await exited;
    },
  };
}

/** The bench's RS256 signing key (a Clerk-shaped kid), with its SPKI PEM for `@clerk/backend`'s `jwtKey`. */
export async function newSigningKey() {
  const key = await generateSigningKey({ kid: "ins_bench2xQ7mK9pLr4vT1nW8sY3zB6c" });
  const pem = createPublicKey({ key: key.publicJwk, format: "jwk" }).export({ type: "spki", format: "pem" });
  return { ...key, pem, jwks: { keys: [key.publicJwk] } };
}

/** `count` distinct Clerk-shaped v2 session tokens (org, role, permissions, email), valid for `ttlSeconds`. */
export async function mintTokens(key, { issuer, count, ttlSeconds = 3600 }) {
  const tokens = [];
  for (let i = 0; i < count; i++) {
    tokens.push(
      await mintClerkToken(key, {
        issuer,
        sub: `user_bench${String(i).padStart(6, "0")}`,
        ttlSeconds,
        org: { id: "org_bench", slug: "bench", role: "admin", permissions: ["org:agents:run", "org:agents:read", "org:workflows:run"] },
        email: `user${i}@bench.example`,
        emailVerified: true,
      }),
    );
  }
  return tokens;
}
