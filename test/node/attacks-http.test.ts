// The header tricks of the attack catalogue (test/worker/attacks.test.ts) that only raw HTTP can
// send: repeated Authorization or Cookie header lines, exactly as bytes on the wire, to the gateway
// bundled by wrangler and run in workerd, in front of the real Mastra demo server.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "./e2e/support/stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

/** One raw HTTP/1.1 request; resolves with the status and the JSON body once the server closes. */
async function raw(headerLines: string[], path = "/api/agents/weatherAgent/generate"): Promise<{ status: number; body: Record<string, unknown> }> {
  const { port } = stack.gateway;
  const payload = JSON.stringify({ messages: "Weather in London?" });
  const request = [
    `POST ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(payload)}`,
    "Connection: close",
    ...headerLines,
    "",
    payload,
  ].join("\r\n");
  const socket = connect(port, "127.0.0.1");
  socket.end(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  const [head, ...rest] = text.split("\r\n\r\n");
  let body = rest.join("\r\n\r\n");
  if (/transfer-encoding: chunked/i.test(head!)) body = dechunk(body);
  return { status, body: JSON.parse(body) };
}

function dechunk(text: string): string {
  let out = "";
  let rest = text;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

function generateCalls() {
  return stack.upstream.requests.filter((r) => r.path === "/api/agents/weatherAgent/generate").length;
}

describe("repeated headers on the wire", () => {
  it("a valid request is proxied (the raw client works)", async () => {
    const before = generateCalls();
    const { status } = await raw([`Authorization: Bearer ${await stack.token({ sub: "user_raw" })}`]);
    expect(status).toBe(200);
    expect(generateCalls()).toBe(before + 1);
  });

  it.each([
    ["two Authorization lines, both valid tokens", async () => [`Authorization: Bearer ${await stack.token({ sub: "user_a" })}`, `Authorization: Bearer ${await stack.token({ sub: "user_b" })}`]],
    ["two Authorization lines, differently cased names", async () => [`authorization: Bearer ${await stack.token({ sub: "user_a" })}`, `AUTHORIZATION: Bearer ${await stack.token({ sub: "user_b" })}`]],
    ["the same valid token twice", async () => {
      const t = await stack.token({ sub: "user_a" });
      return [`Authorization: Bearer ${t}`, `Authorization: Bearer ${t}`];
    }],
    ["a valid token then an empty Bearer", async () => [`Authorization: Bearer ${await stack.token({ sub: "user_a" })}`, "Authorization: Bearer"]],
    ["two Cookie lines with different __session tokens", async () => [`Cookie: __client_uat=1; __session=${await stack.token({ sub: "user_a" })}`, `Cookie: __session=${await stack.token({ sub: "user_b" })}`]],
  ])("%s → 401 token-invalid, Mastra never called", async (_label, lines) => {
    const before = generateCalls();
    const { status, body } = await raw(await lines());
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "token-invalid" });
    expect(generateCalls()).toBe(before);
  });

  it("a header token and a different cookie token: the header wins (as @clerk/backend), its identity is forwarded", async () => {
    const before = stack.upstream.requests.length;
    const { status } = await raw([`Authorization: Bearer ${await stack.token({ sub: "user_header" })}`, `Cookie: __session=${await stack.token({ sub: "user_cookie" })}`]);
    expect(status).toBe(200);
    const seen = stack.upstream.requests.slice(before);
    expect(seen.map((r) => r.headers["x-clerk-user-id"])).toEqual(["user_header"]);
  });
});
