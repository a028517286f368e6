// The gateway in front of a Mastra *Worker*: the upstream is a second Worker in the same workerd
// process, bound to the gateway as `MASTRA` (a service binding, as `[[services]]` in wrangler.toml).
// The stand-in echoes what it received and can stream; two Node functions bound to it let the test
// see every request it got (SEEN) and decide when its stream may go on (GATE).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../../scripts/dev-issuer.mjs";
import { COMPATIBILITY_DATE, startGateway, type RunningGateway } from "./support/gateway.js";
import type { Issuer, MintOptions } from "./support/stack.js";

const ECHO_WORKER = /* js */ `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    const seen = { method: request.method, url: request.url, path: url.pathname, search: url.search, headers: Object.fromEntries(request.headers), body };
    await env.SEEN.fetch("http://seen/", { method: "POST", body: JSON.stringify(seen) });
    if (url.pathname.endsWith("/stream")) {
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      const text = new TextEncoder();
      const run = async () => {
        await writer.write(text.encode("data: chunk-1\\n\\n"));
        // Parks until the test, having received chunk-1 at the client, opens the gate.
        await env.GATE.fetch("http://gate/");
        await writer.write(text.encode("data: chunk-2\\n\\n"));
        await writer.close();
      };
      run().catch((error) => writer.abort(error));
      return new Response(readable, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    }
    return Response.json(seen, { headers: { "x-upstream": "echo" } });
  },
};
`;

interface Seen {
  method: string;
  url: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
}

const ADMIN: MintOptions = {
  sub: "user_admin",
  sid: "sess_binding",
  ttlSeconds: 600,
  org: { id: "org_acme", slug: "acme", role: "admin", permissions: ["org:agents:run"] },
};

let issuer: Issuer;
let keyDir: string;
let gateway: RunningGateway;
const seen: Seen[] = [];

/** A gate the test opens; `reached` resolves when the echo worker starts waiting at it. */
function createGate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  return { open, opened, arrived, reached };
}
let gate = createGate();

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), "mea-e2e-key-"));
  issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "issuer-key.json") });
  gateway = await startGateway({
    vars: {
      CLERK_ISSUER: issuer.issuer,
      CLERK_JWKS_URI: issuer.jwksUrl,
      // The binding wins over the URL; only the URL's base path is used. Port 1 refuses
      // connections, so a request that went over HTTP instead would come back 502.
      MASTRA_URL: "http://127.0.0.1:1/mastra",
      PUBLIC_PATHS: "/api/auth/*",
      LOG_LEVEL: "error",
    },
    serviceBindings: { MASTRA: "mastra" },
    workers: [
      {
        name: "mastra",
        modules: true,
        script: ECHO_WORKER,
        compatibilityDate: COMPATIBILITY_DATE,
        serviceBindings: {
          SEEN: async (request) => {
            seen.push(JSON.parse(await request.text()));
            return new Response(null, { status: 204 });
          },
          GATE: async () => {
            gate.reached();
            await gate.opened;
            return new Response(null, { status: 204 });
          },
        },
      },
    ],
  });
});

afterAll(async () => {
  gate.open();
  await gateway?.close();
  await issuer?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

describe("service binding MASTRA", () => {
  it("forwards method, path (under the base path), query and body; sets identity; strips spoofed headers", async () => {
    const mark = seen.length;
    const payload = JSON.stringify({ messages: "What is the weather in Oslo?", padding: "x".repeat(200_000) });
    const res = await fetch(`${gateway.url}/api/agents/weatherAgent/generate?x=1&y=a%20b&y=2`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await issuer.mint(ADMIN)}`,
        "content-type": "application/json",
        "X-Clerk-User-Id": "user_spoofed",
        x_clerk_org_role: "org:owner",
        "x-clerk-anything": "spoofed",
        "X-Forwarded-For": "203.0.113.9",
        Forwarded: "for=203.0.113.9",
        "x-real-ip": "203.0.113.9",
        "x-passthrough": "kept",
      },
      body: payload,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-upstream")).toBe("echo");
    const echoed = (await res.json()) as Seen;
    expect(seen.slice(mark)).toEqual([echoed]);
    expect(echoed.method).toBe("POST");
    expect(echoed.path).toBe("/mastra/api/agents/weatherAgent/generate");
    expect(echoed.search).toBe("?x=1&y=a%20b&y=2");
    expect(echoed.body).toBe(payload);
    const h = echoed.headers;
    expect(h["x-clerk-user-id"]).toBe("user_admin");
    expect(h["x-clerk-session-id"]).toBe("sess_binding");
    expect(h["x-clerk-org-id"]).toBe("org_acme");
    expect(h["x-clerk-org-role"]).toBe("org:admin");
    expect(h["x-clerk-org-permissions"]).toBe("org:agents:run");
    expect(h["x_clerk_org_role"]).toBeUndefined();
    expect(h["x-clerk-anything"]).toBeUndefined();
    expect(h["forwarded"]).toBeUndefined();
    expect(h["x-real-ip"]).toBeUndefined();
    expect(h["x-forwarded-for"] ?? "").not.toContain("203.0.113.9");
    expect(h["x-passthrough"]).toBe("kept");
    expect(h["content-type"]).toBe("application/json");
  });

  it("a request without a token never reaches the bound Worker; a public one does, with no identity", async () => {
    const mark = seen.length;
    const denied = await fetch(`${gateway.url}/api/agents`, { headers: { "x-clerk-user-id": "user_admin" } });
    expect(denied.status).toBe(401);
    expect(seen.slice(mark)).toEqual([]);

    const open = await fetch(`${gateway.url}/api/auth/capabilities`, { headers: { "x-clerk-user-id": "user_admin" } });
    expect(open.status).toBe(200);
    const [echoed] = seen.slice(mark);
    expect(echoed!.path).toBe("/mastra/api/auth/capabilities");
    expect(Object.keys(echoed!.headers).filter((k) => k.startsWith("x-clerk-"))).toEqual([]);
  });

  it("streams chunk by chunk: chunk-1 reaches the client while the bound Worker is still parked", async () => {
    gate = createGate();
    const res = await fetch(`${gateway.url}/api/agents/weatherAgent/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${await issuer.mint(ADMIN)}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    expect(first.value).toBe("data: chunk-1\n\n");
    // The echo worker cannot have written chunk-2 yet: it is waiting for this test.
    await gate.arrived;
    gate.open();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    expect(rest).toBe("data: chunk-2\n\n");
  });
});
