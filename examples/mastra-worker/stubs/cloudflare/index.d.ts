export default class Cloudflare {
  constructor(options?: unknown);
  d1: { database: { query(...args: unknown[]): Promise<{ result: unknown }> } };
}
