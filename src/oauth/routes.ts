import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { discoveryRoutes } from "./discovery.ts";
import { jwksRoute } from "./jwks.ts";

/** The authorization server: /.well-known/* and /v1/oauth/*. */
export function oauthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route("/", discoveryRoutes(deps));
  app.route("/", jwksRoute(deps));
  return app;
}
