/**
 * `operation`, or a rejection once `ms` pass first. A KV call that never settles must not hold a
 * request (or its waitUntil) forever: past the timeout it counts as failed, which for a read is a
 * cache miss and for a write a lost write (the key store and the agent directory alike).
 */
export function bounded<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let cancel = () => {};
  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    cancel = () => clearTimeout(timer);
  });
  return Promise.race([operation, deadline]).finally(() => cancel());
}
