// Types of scripts/lib/bundle-budget.mjs.

export declare const BUNDLE_BUDGET_KIB: number;

export interface Contributor {
  /** A source file, or `<package> (package)` for a dependency's files summed. */
  name: string;
  /** Bytes it left in the bundle, before gzip. */
  bytes: number;
  /** Of the bundle's bytes. */
  share: number;
}

export declare function largestContributors(contributions: { path: string; bytes: number }[], top?: number): Contributor[];
export declare function describeContributors(rows: Contributor[]): string;
