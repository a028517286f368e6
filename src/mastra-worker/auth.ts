import {
  ConfigError,
  MastraAuthClerk,
  MastraAuthGateway,
  type MastraAuthClerkOptions,
  type MastraAuthGatewayOptions,
  type MastraAuthRequest,
} from "../lib.js";

/**
 * Who authenticates requests to a Mastra Worker:
 * - `"clerk"`: the Worker is reached directly; {@link MastraAuthClerk} verifies Clerk session
 *   tokens (keys from the `CLERK_*` variables, JWKS cached in `env.JWKS_CACHE`).
 * - `"gateway"`: the Worker sits behind the mastra-edge-auth gateway (a service binding or
 *   `MASTRA_URL`); {@link MastraAuthGateway} accepts only requests carrying the gateway's signed
 *   assertion (`GATEWAY_ASSERTION_SECRET`), so a direct call is 401 even with a valid Clerk token.
 * - `"mastra"`: leave `server.auth` as the Mastra instance configured it (nothing installed).
 */
export type MastraWorkerAuthMode = "clerk" | "gateway" | "mastra";

/** The `MastraAuthProvider` contract (`@mastra/core/server`), structurally. */
export interface MastraAuthProviderLike {
  authenticateToken(token: string, request: MastraAuthRequest): Promise<unknown>;
  authorizeUser(user: never, request: MastraAuthRequest): boolean | Promise<boolean>;
}

/** What a custom provider factory is given: the request-independent `waitUntil` of the isolate. */
export interface ProviderContext {
  waitUntil: (promise: Promise<unknown>) => void;
}

export type MastraWorkerAuth<Env> = MastraWorkerAuthMode | ((env: Env, context: ProviderContext) => MastraAuthProviderLike);

/** Options for the installed provider. `env`, `kv` and `waitUntil` are supplied by the Worker. */
export type ClerkProviderOptions = Omit<MastraAuthClerkOptions, "env" | "waitUntil">;
/** Options for the installed provider. `env` is supplied by the Worker. */
export type GatewayProviderOptions = Omit<MastraAuthGatewayOptions, "env">;

export interface AuthSelection<Env> {
  auth?: MastraWorkerAuth<Env>;
  clerk?: ClerkProviderOptions;
  gateway?: GatewayProviderOptions;
}

/** The mode in force: the `auth` option, else `MASTRA_AUTH` of env, else none chosen (null). */
export function chosenMode<Env>(selection: AuthSelection<Env>, env: Env): MastraWorkerAuth<Env> | null {
  if (selection.auth !== undefined) return selection.auth;
  const raw = (env as { MASTRA_AUTH?: unknown } | undefined)?.MASTRA_AUTH;
  if (raw === undefined || raw === "") return null;
  const value = typeof raw === "string" ? raw.trim().toLowerCase() : raw;
  if (value === "clerk" || value === "gateway" || value === "mastra") return value;
  throw new ConfigError("MASTRA_AUTH", `must be "clerk", "gateway" or "mastra", got ${JSON.stringify(String(raw).slice(0, 32))}`);
}

/**
 * The provider to install as `server.auth`, or null to keep the Mastra instance's own.
 * `existing` is the `server.auth` the user's Mastra already has. Rules:
 * - a mode chosen explicitly (option or `MASTRA_AUTH`) and an `existing` provider conflict:
 *   ConfigError, rather than silently replacing one of them;
 * - nothing chosen: keep `existing` when there is one, else install `"clerk"`.
 */
export function providerFor<Env>(selection: AuthSelection<Env>, env: Env, existing: unknown, context: ProviderContext): MastraAuthProviderLike | null {
  const mode = chosenMode(selection, env);
  if (mode === "mastra") return null;
  if (mode === null && existing) return null;
  if (mode !== null && existing) {
    throw new ConfigError(
      "auth",
      `the Mastra instance already has server.auth and the Worker was asked for ${typeof mode === "string" ? `"${mode}"` : "a provider factory"}: remove one, or choose "mastra" to keep server.auth`,
    );
  }
  if (typeof mode === "function") return mode(env, context);
  if (mode === "gateway") return new MastraAuthGateway({ ...selection.gateway, env: env as MastraAuthGatewayOptions["env"] });
  return new MastraAuthClerk({
    ...selection.clerk,
    env: env as MastraAuthClerkOptions["env"],
    // The key store's KV writes and background refreshes outlive the response that caused them.
    waitUntil: context.waitUntil,
  });
}
