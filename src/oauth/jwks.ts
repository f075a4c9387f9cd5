import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";

export function jwksRoute(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/v1/oauth/jwks", async (c) => {
    c.header("Cache-Control", "public, max-age=300");
    c.header("Access-Control-Allow-Origin", "*");
    return c.json(await deps.keys.jwks(), 200, { "Content-Type": "application/jwk-set+json" });
  });
  return app;
}
