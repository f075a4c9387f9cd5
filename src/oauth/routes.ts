import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { authorizeRoutes } from "./authorize.ts";
import { discoveryRoutes } from "./discovery.ts";
import { jwksRoute } from "./jwks.ts";
import { AllowedOrigins, corsForPublicClients } from "./cors.ts";
import { introspectRoute } from "./introspect.ts";
import { revokeRoute } from "./revoke.ts";
import { tokenRoute } from "./token.ts";
import { userinfoRoute } from "./userinfo.ts";

/** The authorization server: /.well-known/* and /v1/oauth/*. */
export function oauthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route("/", discoveryRoutes(deps));
  app.route("/", jwksRoute(deps));
  app.route("/", authorizeRoutes(deps));
  const origins = new AllowedOrigins(deps);
  app.use("/v1/oauth/token", corsForPublicClients(origins, "POST"));
  app.use("/v1/oauth/revoke", corsForPublicClients(origins, "POST"));
  app.use("/v1/oauth/userinfo", corsForPublicClients(origins, "GET, POST"));
  app.route("/", tokenRoute(deps));
  app.route("/", revokeRoute(deps));
  app.route("/", introspectRoute(deps));
  app.route("/", userinfoRoute(deps));
  return app;
}
