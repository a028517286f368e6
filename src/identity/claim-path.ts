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
