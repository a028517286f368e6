import { verifyToken } from "@clerk/backend";

interface Env {
  /** Backend API origin serving `/v1/jwks` (the bench points it at a loopback stand-in). */
  CLERK_API_URL: string;
  CLERK_SECRET_KEY: string;
  MASTRA_URL: string;
}

/**
 * What a user would write without this project: take the bearer token, `verifyToken` it with
 * @clerk/backend (JWKS from the Backend API, cached by the library in module memory), and forward
 * the request with the user id. Kept as small as it can be so that the comparison is fair to it.
 */
export default {
  async fetch(request, env) {
    const match = /^Bearer (\S+)$/i.exec(request.headers.get("authorization") ?? "");
    if (!match) return Response.json({ error: "unauthorized" }, { status: 401 });
    let sub: string;
    try {
      const claims = await verifyToken(match[1]!, { secretKey: env.CLERK_SECRET_KEY, apiUrl: env.CLERK_API_URL });
      sub = claims.sub;
    } catch (error) {
      return Response.json({ error: "unauthorized", reason: (error as { reason?: string }).reason ?? "unknown", detail: String((error as Error)?.message).slice(0, 200) }, { status: 401 });
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-clerk-user-id", sub);
    return fetch(new URL(url.pathname + url.search, env.MASTRA_URL), { method: request.method, headers, body: request.body });
  },
} satisfies ExportedHandler<Env>;
