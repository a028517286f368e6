import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { promisify } from "node:util";

import { verifyToken } from "@clerk/backend";
import { __experimental_JWTPayloadToAuthObjectProperties as clerkAuthProps } from "@clerk/shared/jwtPayloadParser";
import { buildPublishableKey, parsePublishableKey } from "@clerk/shared/keys";
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportSPKI,
  importJWK,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DEV_SECRET_KEY, startDevIssuer } from "../../scripts/dev-issuer.mjs";
import {
  encodeOrgPermissionsV2,
  generateSigningKey,
  importSigningKey,
  mintClerkToken,
  publishableKeyFor,
} from "../../scripts/lib/clerk-token.mjs";
import { loadOrCreateDevKey, PROJECT_ROOT } from "../../scripts/lib/dev-key.mjs";

const run = promisify(execFile);

type Issuer = Awaited<ReturnType<typeof startDevIssuer>>;

/**
 * The decoding Clerk's `@clerk/shared` jwtPayloadParser applies to v2 org
 * claims, written out independently so the encoder is checked against the
 * algorithm rather than against itself.
 */
function decodeV2Permissions(payload: Record<string, any>): string[] {
  const per: string[] = payload.o.per.split(",");
  const features = (payload.fea as string).split(",").filter((f) => f.startsWith("o:")).map((f) => f.slice(2));
  const fpm = (payload.o.fpm as string)
    .split(",")
    .map((n) => parseInt(n, 10).toString(2).padStart(per.length, "0").split("").map(Number).reverse());
  const out: string[] = [];
  features.forEach((feature, fi) => {
    fpm[fi]!.forEach((bit, pi) => {
      if (bit === 1 && pi < per.length) out.push(`org:${feature}:${per[pi]}`);
    });
  });
  return out;
}

async function fetchJwks(issuer: Issuer): Promise<JSONWebKeySet> {
  const res = await fetch(issuer.jwksUrl);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

async function verifyWithIssuer(issuer: Issuer, token: string) {
  return jwtVerify(token, createLocalJWKSet(await fetchJwks(issuer)), {
    issuer: issuer.issuer,
    algorithms: ["RS256"],
    typ: "JWT",
  });
}

function decodePayload(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
}

let dir: string;
let keyFile: string;
let issuer: Issuer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dev-issuer-test-"));
  keyFile = join(dir, "issuer-key.json");
  issuer = await startDevIssuer({ port: 0, keyFile });
});

afterAll(async () => {
  await issuer?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("dev issuer HTTP surface", () => {
  it("serves a Frontend-API-shaped JWKS of public members only", async () => {
    const res = await fetch(issuer.jwksUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toMatch(/^public, max-age=\d+/);
    const body = await res.json();
    expect(body.keys).toHaveLength(1);
    expect(Object.keys(body.keys[0]).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    expect(body.keys[0]).toMatchObject({ kid: issuer.key.kid, kty: "RSA", alg: "RS256", use: "sig" });
    expect(issuer.key.kid).toMatch(/^ins_[0-9A-Za-z]{27}$/);
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(issuer.jwksUrl).toBe(`${issuer.issuer}/.well-known/jwks.json`);
  });

  it("mints a default v2 session token that verifies against its JWKS", async () => {
    const token = await issuer.mint();
    const { payload, protectedHeader } = await verifyWithIssuer(issuer, token);
    expect(protectedHeader).toEqual({ alg: "RS256", kid: issuer.key.kid, typ: "JWT" });
    expect(Object.keys(payload).sort()).toEqual(["azp", "exp", "fva", "iat", "iss", "jti", "nbf", "sid", "sub", "v"]);
    expect(payload).toMatchObject({ azp: "http://localhost:3000", fva: [0, -1], iss: issuer.issuer, sub: "user_dev", v: 2 });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.iat! - payload.nbf!).toBe(10);
    expect(payload.sid).toMatch(/^sess_[0-9A-Za-z]{27}$/);
    expect(payload.jti).toMatch(/^[0-9a-f]{20}$/);
  });

  it("rejects a token signed by another key under the same kid", async () => {
    const impostor = await generateSigningKey({ kid: issuer.key.kid });
    const token = await mintClerkToken(impostor, { issuer: issuer.issuer });
    await expect(verifyWithIssuer(issuer, token)).rejects.toMatchObject({ code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
  });

  it("guards the Backend API JWKS with the dev secret key", async () => {
    const missing = await fetch(`${issuer.url}/v1/jwks`);
    expect(missing.status).toBe(401);
    expect((await missing.json()).errors[0].code).toBe("clerk_key_invalid");

    const wrong = await fetch(`${issuer.url}/v1/jwks`, { headers: { authorization: "Bearer sk_test_other" } });
    expect(wrong.status).toBe(401);

    const ok = await fetch(`${issuer.url}/v1/jwks`, { headers: { authorization: `Bearer ${DEV_SECRET_KEY}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(await fetchJwks(issuer));
  });

  it("answers CORS preflight and token requests from another origin", async () => {
    const preflight = await fetch(`${issuer.url}/token`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("content-type");

    const res = await fetch(`${issuer.url}/token?sub=user_cors`, { headers: { origin: "http://localhost:5173" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { token } = await res.json();
    expect((await verifyWithIssuer(issuer, token)).payload.sub).toBe("user_cors");
  });

  it("maps GET /token query parameters onto the claims", async () => {
    const q = new URLSearchParams([
      ["sub", "user_1"],
      ["org", "org_1"],
      ["role", "admin"],
      ["perm", "org:agents:run,org:agents:read"],
      ["perm", "org:threads:read"],
      ["email", "a@example.com"],
      ["email_verified", "1"],
      ["ttl", "3600"],
      ["pending", "1"],
    ]);
    const { token } = await (await fetch(`${issuer.url}/token?${q}`)).json();
    const { payload } = await verifyWithIssuer(issuer, token);
    expect(payload).toMatchObject({
      sub: "user_1",
      email: "a@example.com",
      email_verified: true,
      sts: "pending",
      o: { id: "org_1", slg: "org_1", rol: "admin" },
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(decodeV2Permissions(payload).sort()).toEqual(["org:agents:read", "org:agents:run", "org:threads:read"]);
  });

  it("mints from POST /token options and reports bad input as 400", async () => {
    const res = await fetch(`${issuer.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sub: "user_post", version: 1, org: { id: "org_9", role: "basic_member" }, now: 1_700_000_000 }),
    });
    expect(res.status).toBe(200);
    const payload = decodePayload((await res.json()).token);
    expect(payload).toMatchObject({ sub: "user_post", iat: 1_700_000_000, org_id: "org_9", org_role: "org:basic_member" });

    const badJson = await fetch(`${issuer.url}/token`, { method: "POST", body: "{nope" });
    expect(badJson.status).toBe(400);
    const badPerm = await fetch(`${issuer.url}/token?org=org_1&perm=agents.run`);
    expect(badPerm.status).toBe(400);
    expect((await badPerm.json()).error).toContain("org:<feature>:<permission>");
    const permWithoutOrg = await fetch(`${issuer.url}/token?perm=org:agents:run`);
    expect(permWithoutOrg.status).toBe(400);
  });

  it("refuses to listen beyond loopback", async () => {
    await expect(startDevIssuer({ port: 0, host: "0.0.0.0", keyFile })).rejects.toThrow(/refuses to bind/);
  });
});

describe("signing key persistence", () => {
  it("reuses the stored key across restarts and keeps the file private", async () => {
    const again = await startDevIssuer({ port: 0, keyFile });
    try {
      expect(again.key.kid).toBe(issuer.key.kid);
      expect(again.keyCreated).toBe(false);
      const token = await issuer.mint({ issuer: again.issuer });
      await expect(verifyWithIssuer(again, token)).resolves.toBeTruthy();
    } finally {
      await again.close();
    }
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
  });

  it("settles on one key when first uses race", async () => {
    const racy = join(dir, "race", "issuer-key.json");
    const results = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateDevKey(racy)));
    expect(new Set(results.map((r) => r.key.kid)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const stored = JSON.parse(await readFile(racy, "utf8"));
    expect(stored.kid).toBe(results[0]!.key.kid);
  });

  it("round-trips through importSigningKey", async () => {
    const generated = await generateSigningKey();
    const imported = await importSigningKey({ kid: generated.kid, privateJwk: generated.privateJwk });
    expect(imported.publicJwk).toEqual(generated.publicJwk);
    const token = await mintClerkToken(imported, { issuer: "http://issuer.test" });
    const jwks = createLocalJWKSet({ keys: [generated.publicJwk] });
    await expect(jwtVerify(token, jwks, { issuer: "http://issuer.test" })).resolves.toBeTruthy();
  });
});

describe("Clerk claim shapes", () => {
  it("encodes v2 org permissions so Clerk's decoding yields them exactly", async () => {
    const permissions = [
      "org:agents:run",
      "org:agents:read",
      "org:threads:read",
      "org:threads:delete",
      "org:billing:manage",
      "org:agents:run",
    ];
    const token = await issuer.mint({ org: { id: "org_1", slug: "acme", role: "org:admin", permissions } });
    const payload = decodePayload(token);
    expect(payload.o).toEqual({ id: "org_1", slg: "acme", rol: "admin", per: "run,read,delete,manage", fpm: "3,6,8" });
    expect(payload.fea).toBe("o:agents,o:threads,o:billing");
    expect(decodeV2Permissions(payload).sort()).toEqual([...new Set(permissions)].sort());
  });

  it("keeps permissions exact beyond 53 distinct names (no float overflow)", async () => {
    const permissions = Array.from({ length: 60 }, (_, i) => `org:f${i % 2}:p${i}`);
    const payload = decodePayload(await issuer.mint({ org: { id: "org_big", permissions } }));
    expect(clerkAuthProps(payload as any).orgPermissions?.sort()).toEqual([...permissions].sort());
  });

  it("omits permission claims for an org membership without permissions", () => {
    expect(encodeOrgPermissionsV2([])).toEqual({ fea: "", per: "", fpm: "" });
    return issuer.mint({ org: { id: "org_1", role: "member" } }).then((token) => {
      const payload = decodePayload(token);
      expect(payload.o).toEqual({ id: "org_1", slg: "org_1", rol: "member" });
      expect(payload).not.toHaveProperty("fea");
    });
  });

  it("produces the v1 shape on request", async () => {
    const token = await issuer.mint({
      version: 1,
      org: { id: "org_1", slug: "acme", role: "admin", permissions: ["org:agents:run", "org:agents:run"] },
    });
    const { payload } = await verifyWithIssuer(issuer, token);
    expect(payload).toMatchObject({ org_id: "org_1", org_role: "org:admin", org_slug: "acme", org_permissions: ["org:agents:run"] });
    expect(payload).not.toHaveProperty("v");
    expect(payload).not.toHaveProperty("o");
    expect(payload).not.toHaveProperty("fea");
  });

  it("merges extra claims and header overrides for attack tests", async () => {
    const token = await issuer.mint({
      claims: { exp: undefined, metadata: { plan: "pro" } },
      header: { kid: "ins_unknown", alg: "RS512" },
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: "RS512", kid: "ins_unknown", typ: "JWT" });
    const payload = decodePayload(token);
    expect(payload).not.toHaveProperty("exp");
    expect(payload.metadata).toEqual({ plan: "pro" });
    await expect(verifyWithIssuer(issuer, token)).rejects.toThrow();
  });

  it("builds publishable keys in Clerk's format", () => {
    expect(publishableKeyFor("foo-bar-13.clerk.accounts.dev")).toBe(buildPublishableKey("foo-bar-13.clerk.accounts.dev"));
    expect(publishableKeyFor("clerk.example.com", { live: true })).toBe(buildPublishableKey("clerk.example.com"));
    expect(parsePublishableKey(publishableKeyFor("127.0.0.1:8790"))).toEqual({
      instanceType: "development",
      frontendApi: "127.0.0.1:8790",
    });
  });
});

describe("@clerk/backend accepts the minted tokens", () => {
  let pem: string;
  beforeAll(async () => {
    pem = await exportSPKI((await importJWK(issuer.key.publicJwk, "RS256")) as CryptoKey);
  });

  it("verifies a v2 token with jwtKey and decodes the same org role and permissions", async () => {
    const permissions = ["org:agents:run", "org:agents:read", "org:threads:read"];
    const token = await issuer.mint({
      sub: "user_1",
      azp: "http://localhost:5173",
      pending: true,
      org: { id: "org_1", slug: "acme", role: "admin", permissions },
    });
    const payload = await verifyToken(token, { jwtKey: pem, authorizedParties: ["http://localhost:5173"] });
    const auth = clerkAuthProps(payload as any);
    expect(auth).toMatchObject({ userId: "user_1", orgId: "org_1", orgSlug: "acme", orgRole: "org:admin", sessionStatus: "pending" });
    expect(auth.orgPermissions?.sort()).toEqual([...permissions].sort());
    expect(auth.factorVerificationAge).toEqual([0, -1]);
  });

  it("decodes a v1 token to the same authorization", async () => {
    const token = await issuer.mint({ version: 1, org: { id: "org_1", role: "admin", permissions: ["org:agents:run"] } });
    const auth = clerkAuthProps((await verifyToken(token, { jwtKey: pem })) as any);
    expect(auth).toMatchObject({ orgId: "org_1", orgRole: "org:admin", orgPermissions: ["org:agents:run"] });
  });

  it("fetches the key from the fake Backend API with the dev secret key", async () => {
    const token = await issuer.mint({ sub: "user_bapi" });
    const payload = await verifyToken(token, { secretKey: DEV_SECRET_KEY, apiUrl: issuer.url, skipJwksCache: true });
    expect(payload.sub).toBe("user_bapi");
  });

  it("rejects a token for another authorized party", async () => {
    const token = await issuer.mint({ azp: "http://evil.localhost" });
    await expect(verifyToken(token, { jwtKey: pem, authorizedParties: ["http://localhost:3000"] })).rejects.toMatchObject({
      reason: "token-invalid-authorized-parties",
    });
  });
});

describe("token CLI", () => {
  const cli = join(PROJECT_ROOT, "scripts", "token.mjs");

  it("prints only a verifiable token, generating the key when missing", async () => {
    const fresh = join(dir, "cli", "issuer-key.json");
    const { stdout, stderr } = await run(process.execPath, [
      cli, "--key-file", fresh, "--issuer", "http://127.0.0.1:1",
      "--sub", "user_1", "--org", "org_1", "--role", "admin", "--email-verified",
      "--perm", "org:agents:run", "--perm", "org:agents:read",
    ]);
    expect(stderr).toMatch(/generated dev signing key ins_/);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = stdout.trim();
    const cliIssuer = await startDevIssuer({ port: 0, keyFile: fresh });
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(await fetchJwks(cliIssuer)), {
        issuer: "http://127.0.0.1:1",
      });
      expect(payload).toMatchObject({ sub: "user_1", email_verified: true, o: { id: "org_1", rol: "admin" } });
      expect(payload.exp! - payload.iat!).toBe(3600);
      expect(decodeV2Permissions(payload as JWTPayload & Record<string, any>).sort()).toEqual(["org:agents:read", "org:agents:run"]);
    } finally {
      await cliIssuer.close();
    }
  });

  it("works as $(npm run -s token) with the default dev issuer", async () => {
    const { stdout } = await run("npm", ["run", "-s", "token", "--", "--key-file", keyFile, "--v1", "--ttl", "120"], {
      cwd: PROJECT_ROOT,
    });
    const token = stdout.trim();
    expect(token.split(".")).toHaveLength(3);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await fetchJwks(issuer)), { issuer: "http://127.0.0.1:8790" });
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(payload).not.toHaveProperty("v");
  });

  it("documents its 3600 s default and rejects misuse without printing a token", async () => {
    const help = await run(process.execPath, [cli, "--help"]);
    expect(help.stdout).toMatch(/default 3600 s/);
    const misuse = run(process.execPath, [cli, "--key-file", keyFile, "--perm", "org:agents:run"]);
    await expect(misuse).rejects.toMatchObject({ code: 2, stdout: "" });
    await expect(run(process.execPath, [cli, "--key-file", keyFile, "--ttl", "soon"])).rejects.toMatchObject({ code: 2 });
  });
});

/** Free loopback ports, held open together so they are distinct, then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import("node:net").Server>((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Live (non-zombie) processes whose command line mentions marker. */
async function processesMentioning(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).replaceAll("\0", " ");
      if (cmdline.includes(marker)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

describe("npm run dev", () => {
  it("serves the whole loop offline and leaves no process behind on SIGTERM", async () => {
    const [issuerPort, upstreamPort, gatewayPort] = await freePorts(3);
    const child = spawn(process.execPath, [join(PROJECT_ROOT, "scripts", "dev.mjs")], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        DEV_ISSUER_PORT: String(issuerPort),
        DEV_UPSTREAM_PORT: String(upstreamPort),
        DEV_GATEWAY_PORT: String(gatewayPort),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        for (const stream of [child.stdout, child.stderr]) {
          createInterface({ input: stream }).on("line", (line) => {
            output.push(line);
            if (line.startsWith("[dev] ready:")) resolve(line);
          });
        }
        void exited.then((code) => reject(new Error(`dev exited (${code}) before ready:\n${output.join("\n")}`)));
      });
      expect(ready).toContain(`gateway http://127.0.0.1:${gatewayPort} (healthz 200)`);
      expect(ready).toContain(`upstream demo Mastra on http://127.0.0.1:${upstreamPort}`);
      // Off the default issuer port, the printed token commands name the issuer they need.
      expect(output.join("\n")).toContain(`curl -s -H "Authorization: Bearer $(npm run -s token -- --issuer http://127.0.0.1:${issuerPort} --sub user_1)" http://127.0.0.1:${gatewayPort}/auth/me`);

      const issuerUrl = `http://127.0.0.1:${issuerPort}`;
      const { token } = await (await fetch(`${issuerUrl}/token?sub=user_loop&org=org_1&role=admin&perm=org:agents:read`)).json();
      const me = await fetch(`http://127.0.0.1:${gatewayPort}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ userId: "user_loop", orgId: "org_1", orgRole: "org:admin", orgPermissions: ["org:agents:read"] });

      const anonymous = await fetch(`http://127.0.0.1:${gatewayPort}/auth/me`);
      expect(anonymous.status).toBe(401);
    } finally {
      child.kill("SIGTERM");
      expect(await exited).toBe(143);
    }
    // wrangler's launcher and CLI carry `--port N`, workerd carries `127.0.0.1:N`.
    expect(await processesMentioning(`--port ${gatewayPort}`)).toEqual([]);
    expect(await processesMentioning(`127.0.0.1:${gatewayPort}`)).toEqual([]);
    expect(await processesMentioning(`--port ${upstreamPort}`)).toEqual([]);
  }, 120_000);
});
