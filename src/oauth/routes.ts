import { Hono } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { authorizeRoutes, type AuthorizeViews } from "./authorize/routes.ts";
import { discoveryRoutes } from "./discovery.ts";
import { jwksRoute } from "./jwks.ts";
import { corsForPublicClients, type AllowedOrigins } from "./cors.ts";
import { introspectRoute } from "./introspect.ts";
import { registerRoutes } from "./register.ts";
import { revokeRoute } from "./revoke.ts";
import { tokenRoute } from "./token.ts";
import { userinfoRoute } from "./userinfo.ts";

/**
 * The authorization server: /.well-known/* and /v1/oauth/*. Its pages (consent,
 * errors) come from src/pages through `views`; `origins` are the browser origins
 * allowed to call the token, revocation and userinfo endpoints.
 */
export function oauthRoutes(deps: OAuthDeps, views: AuthorizeViews, origins: AllowedOrigins): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route("/", discoveryRoutes(deps));
  app.route("/", jwksRoute(deps));
  app.route("/", authorizeRoutes(deps, views));
  app.use(OAUTH_PATHS.token, corsForPublicClients(origins, "POST"));
  app.use(OAUTH_PATHS.revoke, corsForPublicClients(origins, "POST"));
  app.use(OAUTH_PATHS.userinfo, corsForPublicClients(origins, "GET, POST"));
  app.route("/", tokenRoute(deps));
  app.route("/", revokeRoute(deps));
  app.route("/", introspectRoute(deps));
  app.route("/", userinfoRoute(deps));
  // CLIENT_REGISTRATION=off: not mounted, so the registration endpoint answers 404 like any unknown path.
  if (deps.config.clientRegistration.open) app.route("/", registerRoutes(deps));
  return app;
}
