import { Hono } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { authenticateClient } from "./client-auth.ts";
import { noStore, OAuthError, oauthEndpoint } from "./errors.ts";
import { authorizationCodeGrant } from "./grants/authorization-code.ts";
import { clientCredentialsGrant } from "./grants/client-credentials.ts";
import { refreshTokenGrant } from "./grants/refresh-token.ts";
import type { GrantHandler } from "./grants/types.ts";
import { readOAuthParams } from "./params.ts";

const GRANTS: Record<string, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
};

/** POST /v1/oauth/token (RFC 6749 §3.2). */
export function tokenRoute(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post(
    OAUTH_PATHS.token,
    oauthEndpoint(async (c) => {
      const params = await readOAuthParams(c);
      const { client } = await authenticateClient(c, deps.revocations.clients, params, { allowPublic: true });
      const grantType = params.grant_type;
      if (!grantType) throw new OAuthError("invalid_request", "grant_type is required.");
      const handler = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
      if (!handler) throw new OAuthError("unsupported_grant_type", `grant_type ${grantType} is not supported.`);
      if (!client.grantTypes.includes(grantType)) {
        throw new OAuthError("unauthorized_client", `This client may not use grant_type ${grantType}.`);
      }
      const body = await handler({ c, deps, client, params });
      deps.metrics.tokenIssued(grantType);
      noStore(c);
      return c.json(body);
    }),
  );
  return app;
}
