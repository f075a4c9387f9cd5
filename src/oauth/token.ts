import { type Context, Hono } from "hono";
import { sha256 } from "../lib/crypto.ts";
import { addressLimitKey, requestAddress, TrustedProxies } from "../lib/client-address.ts";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { authenticateClient } from "./client-auth.ts";
import { noStore, OAuthError, oauthEndpoint, tooManyRequests } from "./errors.ts";
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
export function tokenRoute(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const proxies = new TrustedProxies(deps.config.trustProxy);
  app.post(
    OAUTH_PATHS.token,
    oauthEndpoint(async (c) => {
      const params = await readOAuthParams(c);
      const { client, method } = await authenticateClient(c, deps.revocations.clients, params, { allowPublic: true });
      // Counted in memory (src/lib/window-limiter.ts): no statement on this path.
      const wait = deps.rateLimits.tokenPerClient.take(method === "none" ? publicClientSubject(c, client.id, proxies) : client.id);
      if (wait) throw tooManyRequests(`This client sent too many token requests; retry in ${wait} seconds.`, wait);
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

/**
 * Anyone can name a public client (it has no secret), so its requests count
 * per client and address: strangers cannot spend the budget of its users.
 * The address is hashed, as the sign-in limits store theirs.
 */
function publicClientSubject(c: Context, clientRowId: string, proxies: TrustedProxies): string {
  return `${clientRowId}:${sha256(addressLimitKey(requestAddress(c, proxies)))}`;
}
