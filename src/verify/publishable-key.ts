import { ConfigError } from "../core/errors.js";

export interface PublishableKeyInfo {
  instanceType: "test" | "live";
  /** Clerk Frontend API host, e.g. `clerk.example.com` or `foo-bar-1.clerk.accounts.dev`. */
  frontendApiHost: string;
  /** `https://<host>`: the `iss` of the instance's session tokens. */
  issuer: string;
  /** `https://<host>/.well-known/jwks.json`. */
  jwksUrl: string;
}

const PREFIX = /^pk_(test|live)_([A-Za-z0-9+/=_-]+)$/;
// A bare DNS host name, optionally with a port: nothing that could smuggle a path or userinfo.
const HOST = /^(?=.{1,253}(?::\d{1,5})?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$/;

/**
 * Decodes a Clerk publishable key: `pk_test_`/`pk_live_` followed by base64 of
 * `<frontend-api-host>$` (the same format `@clerk/shared`'s `parsePublishableKey` reads).
 */
export function parsePublishableKey(key: string, variable = "CLERK_PUBLISHABLE_KEY"): PublishableKeyInfo {
  const match = PREFIX.exec(key.trim());
  if (!match) {
    throw new ConfigError(variable, "is not a Clerk publishable key (expected pk_test_… or pk_live_…)");
  }
  let decoded: string;
  try {
    decoded = atob(match[2]!.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    throw new ConfigError(variable, "is not valid base64 after the pk_test_/pk_live_ prefix");
  }
  if (!decoded.endsWith("$")) {
    throw new ConfigError(variable, "does not decode to a Frontend API host ending in '$'");
  }
  const host = decoded.slice(0, -1);
  if (!HOST.test(host)) {
    throw new ConfigError(variable, "decodes to something that is not a host name");
  }
  const issuer = `https://${host}`;
  return {
    instanceType: match[1] as "test" | "live",
    frontendApiHost: host,
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
  };
}
