import { PathError } from "../core/errors.js";

export { PathError };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The one spelling of a path that is both matched against rules and forwarded upstream, so no
 * other spelling of a protected path can be taken for a public one (the confusion Envoy's
 * `normalize_path` and `merge_slashes` exist for):
 * - percent-encoded unreserved characters are decoded (`%41` → `A`, `%2e` → `.`), other escapes
 *   are upper-cased and kept;
 * - an encoded `/` or `\` (`%2F`, `%5C`) or NUL is refused: the upstream might decode it into a
 *   separator after we matched;
 * - repeated slashes are merged; `.` and `..` segments are resolved (never above the root).
 */
export function normalizePath(rawPath: string): string {
  if (!rawPath.startsWith("/")) throw new PathError("path must start with /");
  let decoded = "";
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i]!;
    if (ch === "\\") throw new PathError("backslash in path");
    if (ch !== "%") {
      decoded += ch;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new PathError("malformed percent-encoding in path");
    const code = Number.parseInt(hex, 16);
    if (code === 0x2f || code === 0x5c) throw new PathError("encoded slash or backslash in path");
    if (code === 0x00) throw new PathError("encoded NUL in path");
    const char = String.fromCharCode(code);
    decoded += UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    i += 2;
  }
  const out: string[] = [];
  for (const segment of decoded.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  const trailing = decoded.length > 1 && decoded.endsWith("/") && out.length > 0;
  return `/${out.join("/")}${trailing ? "/" : ""}`;
}
