// The normalised identity of a Clerk v2 token, differentially: org permissions unpacked from
// `fea`/`o.per`/`o.fpm` must be exactly what @clerk/shared's own jwtPayloadParser unpacks (what
// @clerk/backend's auth object reports), for generated claims of every shape — wide masks, odd
// scopes, junk — since AUTH_RULES' orgPermissions and requirePermission grant on them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { __experimental_JWTPayloadToAuthObjectProperties as clerkAuthObject } from "@clerk/shared/jwtPayloadParser";
import { toIdentity, type ClerkClaims } from "../../src/identity/identity.js";
import { checkProperty, describeBudget, type RunBudget, timeoutFor } from "../support/fast-check.js";

const RUNS: RunBudget = { maxRuns: 3000, timeMs: 3_000, minRuns: 300 };

function claimsWith(fea: string | undefined, per: string, fpm: string): ClerkClaims {
  return { sub: "user_1", iss: "https://clerk.test.example", exp: 2, iat: 1, nbf: 1, v: 2, ...(fea === undefined ? {} : { fea }), o: { id: "org_1", rol: "admin", per, fpm } };
}

/** Clerk's answer, or "throws" where its parser does (a fea element without a colon). */
function clerkPermissions(claims: ClerkClaims): string[] | "throws" {
  try {
    return (clerkAuthObject(claims as never).orgPermissions as string[] | undefined) ?? [];
  } catch {
    return "throws";
  }
}

describe("v2 org permissions, differential against @clerk/shared's jwtPayloadParser", () => {
  it.each([
    ["one org feature, two bits", "o:agents", "read,run", "3", ["org:agents:read", "org:agents:run"]],
    ["ou:/uo: scopes count for the org, u: does not", "u:billing,ou:agents,uo:tools", "run", "1,1", ["org:agents:run", "org:tools:run"]],
    ["a scope merely containing o does not", "xo:agents,oo:tools,o:real", "run", "1", ["org:real:run"]],
    ["a mask wider than 53 bits", "o:wide", Array.from({ length: 60 }, (_, i) => `p${i}`).join(","), (2n ** 59n).toString(), ["org:wide:p59"]],
    ["a non-decimal mask grants nothing for its feature", "o:a,o:b", "run", "1x,1", ["org:b:run"]],
    ["a feature value with a colon keeps it", "o:a:b", "run", "1", ["org:a:b:run"]],
    ["an element without a colon: nothing (Clerk's parser throws)", "o:agents,agents", "run", "1", []],
  ] as const)("%s", (_label, fea, per, fpm, expected) => {
    const claims = claimsWith(fea, per, fpm);
    expect(toIdentity(claims).orgPermissions).toEqual(expected);
    const clerk = clerkPermissions(claims);
    expect(clerk === "throws" ? [] : clerk).toEqual(expected);
  });

  it(`generated claims: the same permissions, or none where Clerk's parser throws (${describeBudget(RUNS)})`, async () => {
    const scope = fc.constantFrom("o", "u", "ou", "uo", "xo", "oo", "", "O");
    const element = fc.oneof(
      { weight: 8, arbitrary: fc.tuple(scope, fc.constantFrom("agents", "tools", "a:b", "", "w")).map(([s, v]) => `${s}:${v}`) },
      { weight: 1, arbitrary: fc.constantFrom("agents", " ", "o") },
    );
    const fea = fc.option(fc.tuple(fc.array(element, { maxLength: 5 }), fc.constantFrom(",", ", ")).map(([xs, sep]) => xs.join(sep)), { nil: undefined });
    const per = fc.array(fc.constantFrom("read", "run", "manage", "x"), { minLength: 1, maxLength: 6 }).map((xs) => xs.join(","));
    const mask = fc.oneof(fc.nat(70).map(String), fc.bigInt(0n, 2n ** 70n).map(String), fc.constantFrom("", "1x", "-1", " 3", "007"));
    const fpm = fc.array(mask, { minLength: 1, maxLength: 5 }).map((xs) => xs.join(","));
    await checkProperty(
      fc.asyncProperty(fea, per, fpm, async (f, p, m) => {
        const claims = claimsWith(f, p, m);
        const clerk = clerkPermissions(claims);
        expect(toIdentity(claims).orgPermissions, JSON.stringify({ f, p, m })).toEqual(clerk === "throws" ? [] : clerk);
      }),
      "v2 permissions",
      RUNS,
    );
  }, timeoutFor(RUNS));
});
