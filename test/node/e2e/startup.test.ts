// The gateway is built while the isolate starts (src/index.ts, issue #14), before any request:
// what that build has to say must still reach the logs, which collect what an invocation writes.
// End to end: the deployed bundle in workerd, a misconfigured variable, a real request.

import { afterEach, describe, expect, it } from "vitest";
import { startGateway, type RunningGateway } from "./support/gateway.js";

let gateway: RunningGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe("a gateway built at start-up", () => {
  it("a configuration error found while the isolate starts is logged by the first request, and every request answers 500 naming the variable", async () => {
    gateway = await startGateway({ vars: { CLERK_ISSUER: "https://clerk.example.test", CLERK_JWKS_URI: "https://clerk.example.test/.well-known/jwks.json", JWKS_MAX_STALE_S: "soon", LOG_LEVEL: "info" } });
    // Ready means the script was evaluated and the gateway built; its line is held, not lost.
    expect(gateway.logs.filter((l) => l.event === "config.invalid")).toEqual([]);

    const first = await fetch(`${gateway.url}/api/agents`);
    expect(first.status).toBe(500);
    expect(await first.json()).toMatchObject({ error: "misconfigured", variable: "JWKS_MAX_STALE_S" });
    const logged = await gateway.whenLogged((l) => l.event === "config.invalid");
    expect(logged).toMatchObject({ level: "error", variable: "JWKS_MAX_STALE_S" });

    const second = await fetch(`${gateway.url}/healthz`);
    expect(second.status).toBe(500);
    await second.arrayBuffer();
    await gateway.whenLogged((l) => l.event === "auth.rejected" && l.path === "/healthz");
    // Said once, not once per request.
    expect(gateway.logs.filter((l) => l.event === "config.invalid")).toHaveLength(1);
  });

  it("a valid configuration logs nothing at start-up and answers its first request", async () => {
    gateway = await startGateway({ vars: { CLERK_ISSUER: "https://clerk.example.test", CLERK_JWKS_URI: "https://clerk.example.test/.well-known/jwks.json", LOG_LEVEL: "info" } });
    const response = await fetch(`${gateway.url}/api/agents`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ reason: "session-token-missing" });
    await gateway.whenLogged((l) => l.event === "auth.rejected");
    expect(gateway.logs.filter((l) => l.level === "error")).toEqual([]);
  });
});
