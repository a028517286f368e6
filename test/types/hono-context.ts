// c.var.auth is the normalised identity, typed, through clerkAuth and the guards.
import { Hono } from "hono";
import { clerkAuth, getAuth, requireAuth, requireOrgRole, requirePermission, requireRule, type AuthEnv, type Identity } from "mastra-edge-auth";

const app = new Hono<AuthEnv>();
app.use("*", clerkAuth({ publishableKey: "pk_test_x", allowAnonymous: true }));
app.get("/me", requireAuth(), (c) => {
  const auth: Identity | null = c.var.auth;
  const same: Identity | null = getAuth(c);
  // @ts-expect-error may be null (anonymous requests pass with allowAnonymous)
  const userId: string = c.var.auth.userId;
  return c.json({ auth, same, userId });
});
app.get("/admin", requireOrgRole(["admin", "org:owner"]), requirePermission("org:agents:run"), requireRule({ require: { emailVerified: true } }), (c) => c.json(c.var.auth?.orgPermissions ?? []));

// @ts-expect-error a rule's requirements are checked: emailVerified may only be true
requireRule({ require: { emailVerified: false } });
// @ts-expect-error unknown options are refused
clerkAuth({ publishableKey: "pk_test_x", allowAnonymus: true });

export default app;
