#!/usr/bin/env node
// Prints one dev session token on stdout and nothing else, so that
// `curl -H "Authorization: Bearer $(npm run -s token -- --sub user_1)" ...` works.

import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { DEFAULT_DEV_ISSUER, mintClerkToken } from "./lib/clerk-token.mjs";
import { DEFAULT_KEY_FILE, loadOrCreateDevKey } from "./lib/dev-key.mjs";

const CLI_DEFAULT_TTL = 3600;

const HELP = `Usage: npm run -s token -- [options]

Mints a Clerk-shaped session token (v2 claims unless --v1) signed with the dev
issuer's key (${DEFAULT_KEY_FILE}, generated if missing) and prints only the token.

  --sub <id>            user id (default user_dev)
  --sid <id>            session id (default: random sess_...)
  --org <id>            active organization id (e.g. org_1)
  --slug <slug>         organization slug (default: the org id)
  --role <role>         organization role, "admin" or "org:admin" (default member; needs --org)
  --perm <perm>         organization permission org:<feature>:<perm>; repeatable or comma-separated (needs --org)
  --email <address>     adds an "email" claim
  --email-verified      adds "email_verified": true
  --pending             session status "pending" (sts claim)
  --v1                  Clerk v1 claim shape (org_id, org_role, org_permissions; no "v")
  --ttl <seconds>       lifetime; default ${CLI_DEFAULT_TTL} s for convenient curl use
                        (Clerk's own tokens live 60 s); --ttl=-60 mints an expired token
  --azp <origin>        authorized party (default http://localhost:3000)
  --issuer <url>        iss claim (default ${DEFAULT_DEV_ISSUER}, where npm run dev serves the issuer)
  --claims <json>       extra claims merged into the payload, e.g. '{"metadata":{"plan":"pro"}}'
  --key-file <path>     signing key file (default ${DEFAULT_KEY_FILE}, relative to the project root)
  -h, --help            this text
`;

class UsageError extends Error {}

export function optionsFromArgs(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      sub: { type: "string" },
      sid: { type: "string" },
      org: { type: "string" },
      slug: { type: "string" },
      role: { type: "string" },
      perm: { type: "string", multiple: true },
      email: { type: "string" },
      "email-verified": { type: "boolean" },
      pending: { type: "boolean" },
      v1: { type: "boolean" },
      ttl: { type: "string" },
      azp: { type: "string" },
      issuer: { type: "string" },
      claims: { type: "string" },
      "key-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { help: true };

  const options = { issuer: values.issuer ?? DEFAULT_DEV_ISSUER, ttlSeconds: CLI_DEFAULT_TTL };
  if (values.ttl !== undefined) {
    if (!/^-?\d+$/.test(values.ttl)) throw new UsageError("--ttl must be an integer number of seconds");
    options.ttlSeconds = Number(values.ttl);
  }
  if (values.sub !== undefined) options.sub = values.sub;
  if (values.sid !== undefined) options.sid = values.sid;
  if (values.azp !== undefined) options.azp = values.azp;
  if (values.email !== undefined) options.email = values.email;
  if (values["email-verified"]) options.emailVerified = true;
  if (values.pending) options.pending = true;
  if (values.v1) options.version = 1;
  const permissions = (values.perm ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  if (values.org !== undefined) {
    options.org = { id: values.org, permissions };
    if (values.slug !== undefined) options.org.slug = values.slug;
    if (values.role !== undefined) options.org.role = values.role;
  } else if (permissions.length > 0 || values.role !== undefined || values.slug !== undefined) {
    throw new UsageError("--role, --slug and --perm describe an organization membership: add --org <id>");
  }
  if (values.claims !== undefined) {
    let claims;
    try {
      claims = JSON.parse(values.claims);
    } catch (err) {
      throw new UsageError(`--claims is not valid JSON: ${err.message}`);
    }
    if (claims === null || typeof claims !== "object" || Array.isArray(claims)) {
      throw new UsageError("--claims must be a JSON object");
    }
    options.claims = claims;
  }
  return { keyFile: values["key-file"] ?? DEFAULT_KEY_FILE, options };
}

async function main() {
  let parsed;
  try {
    parsed = optionsFromArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`token: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  const { key, path, created } = await loadOrCreateDevKey(parsed.keyFile);
  if (created) process.stderr.write(`token: generated dev signing key ${key.kid} in ${path}\n`);
  process.stdout.write(`${await mintClerkToken(key, parsed.options)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`token: ${err.message}\n`);
    process.exit(1);
  });
}
