// Types of pool.mjs (vitest.config.ts imports it).
import type { cloudflareTest } from "@cloudflare/vitest-pool-workers";

type PoolOptions = Awaited<ReturnType<Extract<Parameters<typeof cloudflareTest>[0], (...args: never[]) => unknown>>>;

export const ROOT: string;
export const ISSUER: string;
export const JWKS_URL: string;
export const ASSERTION_SECRET: string;
export const TEMPLATE_ALIASES: Record<string, string>;
export function templatePoolOptions(): Promise<PoolOptions>;
export function gatewayPoolOptions(projectName: string): Promise<PoolOptions>;
