// The checked-in route table (src/routes/mastra-routes.ts) against the pinned @mastra/server's own
// route list and permission derivation, route by route: upgrading Mastra fails here until the
// table is regenerated with `node scripts/gen-mastra-routes.mjs`.

import { SERVER_ROUTES, getEffectivePermission } from "@mastra/server/server-adapter";
import { describe, expect, it } from "vitest";
import { buildEntries, generate, loadMastra, OUTPUT, OUTSIDE_ROUTES } from "../../scripts/gen-mastra-routes.mjs";
import { readFileSync } from "node:fs";
import { mastraRoutes, outsideRoutes } from "../../src/routes/packed.js";
import { RouteTable, targetOf, UNKNOWN_TARGET } from "../../src/routes/table.js";

type ServerRoute = { method: string; path: string; requiresAuth?: boolean };
const live = SERVER_ROUTES as unknown as ServerRoute[];

describe("Mastra's route table", () => {
  it("has every route of @mastra/server, in its order, with Mastra's own permission and public flag", () => {
    expect(mastraRoutes().length).toBe(live.length);
    live.forEach((route, i) => {
      const entry = mastraRoutes()[i]!;
      const key = `${route.method} ${route.path}`;
      expect([key, `${entry.method} ${entry.path}`]).toEqual([key, key]);
      expect([key, entry.permission]).toEqual([key, getEffectivePermission(route as never) ?? null]);
      expect([key, entry.public === true]).toEqual([key, route.requiresAuth === false]);
    });
  });

  it("is what the generator writes from the installed @mastra/server (not stale)", async () => {
    expect(readFileSync(OUTPUT, "utf8")).toBe(await generate());
  });

  it("decodes from its compact form to exactly the generator's entries (no field lost or invented)", async () => {
    const { adapter } = await loadMastra();
    expect(mastraRoutes()).toEqual(buildEntries(adapter.SERVER_ROUTES, adapter));
    expect(outsideRoutes()).toEqual(OUTSIDE_ROUTES);
    // The vocabulary listed beside the table is the table's own (a table of the same routes given as objects derives it).
    const all = [...mastraRoutes(), ...outsideRoutes()];
    const pinned = new RouteTable("/api");
    const derived = new RouteTable("/api", mastraRoutes(), outsideRoutes());
    expect([...pinned.resources].sort()).toEqual([...new Set(all.map((r) => r.resource))].sort());
    expect([...pinned.actions].sort()).toEqual([...new Set(all.flatMap((r) => r.actions))].sort());
    expect([...derived.resources].sort()).toEqual([...pinned.resources].sort());
    expect([...derived.actions].sort()).toEqual([...pinned.actions].sort());
    expect(derived.routes).toEqual(pinned.routes);
    // The fields the compact form leaves out when the permission says them are really derived.
    expect(mastraRoutes().find((r) => r.path === "/a2a/:agentId" && r.method === "POST")).toMatchObject({ resource: "a2a", actions: ["write", "execute"], targets: { agent: ":agentId" } });
    expect(mastraRoutes().find((r) => r.path === "/auth/me")).toMatchObject({ permission: null, resource: "auth", actions: ["read"], public: true });
    expect(mastraRoutes().find((r) => r.path === "/agents/providers")?.permission).toEqual(["agents:read"]);
  });

  it("derives permissions as Mastra documents it (an independent spot check)", () => {
    const permission = (method: string, path: string) => mastraRoutes().find((r) => r.method === method && r.path === path)?.permission;
    expect(permission("GET", "/agents")).toBe("agents:read");
    expect(permission("POST", "/agents/:agentId/generate")).toBe("agents:execute");
    expect(permission("POST", "/agents/:agentId/stream/vnext")).toBe("agents:execute");
    expect(permission("DELETE", "/memory/threads/:threadId")).toBe("memory:delete");
    expect(permission("PATCH", "/memory/threads/:threadId")).toBe("memory:write");
    expect(permission("POST", "/memory/threads")).toBe("memory:write");
    expect(permission("POST", "/v1/responses")).toBe("agents:execute"); // requiresPermission wins over v1:write
    expect(permission("GET", "/.well-known/:agentId/agent-card.json")).toBe("a2a:read");
    expect(permission("POST", "/auth/credentials/sign-in")).toBe(null); // public
  });

  it("classifies each route's own path to that route, under any prefix", () => {
    for (const prefix of ["/api", "/mastra/v2", "/"]) {
      const table = new RouteTable(prefix);
      for (const route of table.routes) {
        if (route.path.endsWith("*")) continue;
        const path = route.fullPath.replace(/:([A-Za-z]+)/g, (_, name: string) => `${name}-value`);
        const method = route.method === "ALL" ? "POST" : route.method;
        const found = table.classify(method, path).match?.route;
        expect([method, path, found && `${found.method} ${found.path}`]).toEqual([method, path, `${route.method} ${route.path}`]);
      }
    }
  });

  it("names each route's target, from the path or the body", () => {
    const table = new RouteTable("/api");
    const agent = (method: string, path: string) => {
      const match = table.classify(method, path).match;
      return match ? targetOf(match, "agent") : undefined;
    };
    expect(agent("POST", "/api/agents/weatherAgent/generate/vnext")).toBe("weatherAgent");
    expect(agent("POST", "/api/agents/weather%20agent/stream")).toBe("weather agent");
    expect(agent("POST", "/api/a2a/weatherAgent")).toBe("weatherAgent");
    expect(agent("GET", "/api/.well-known/weatherAgent/agent-card.json")).toBe("weatherAgent");
    expect(agent("HEAD", "/api/agents/weatherAgent/")).toBe("weatherAgent");
    expect(agent("POST", "/api/agents/weatherAgent/tools/get-weather/execute")).toBe("weatherAgent");
    // Named in the body: unknown until the body is read.
    expect(agent("POST", "/api/v1/responses")).toBe(UNKNOWN_TARGET);
    expect(agent("GET", "/api/v1/responses/resp_1")).toBe(UNKNOWN_TARGET);
    expect(agent("GET", "/api/agents")).toBe(null);
    expect(agent("POST", "/api/custom/thing")).toBe(undefined);
    expect(table.classify("POST", "/api/custom/thing").underPrefix).toBe(true);
    expect(table.classify("GET", "/health").match?.route.public).toBe(true);
    expect(table.classify("GET", "/healthz")).toEqual({ match: null, underPrefix: false });
  });
});
