/**
 * Reads a dotted path (`email`, `metadata.plan`, `o.rol`) from verified claims. Own properties
 * only: a path like `constructor.name` must not reach into the prototype chain.
 */
export function readClaim(source: unknown, path: string): unknown {
  let value: unknown = source;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A claim path as settings write it: dot-separated names of letters, digits, `_`, `:` and `-`. */
export const CLAIM_PATH = /^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*$/;

export function isClaimPath(value: unknown): value is string {
  return typeof value === "string" && CLAIM_PATH.test(value);
}
