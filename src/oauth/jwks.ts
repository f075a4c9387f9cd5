import { Hono } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";

export function jwksRoute(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(OAUTH_PATHS.jwks, async (c) => {
    c.header("Cache-Control", "public, max-age=300");
    c.header("Access-Control-Allow-Origin", "*");
    return c.json(await deps.keys.jwks(), 200, { "Content-Type": "application/jwk-set+json" });
  });
  return app;
}
