import { Hono } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { sha256 } from "../lib/crypto.ts";
import { authenticateClient } from "./client-auth.ts";
import { noStore, OAuthError, oauthEndpoint } from "./errors.ts";
import { readOAuthParams } from "./params.ts";
import { InvalidTokenError } from "./issued-tokens.ts";
import { resourceUrl } from "./resources.ts";

/**
 * POST /v1/oauth/introspect (RFC 7662), for confidential clients, about their
 * own tokens only: another client's token answers inactive, as does anything
 * revoked, expired or unknown.
 */
export function introspectRoute(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const inactive = { active: false };
  app.post(
    OAUTH_PATHS.introspect,
    oauthEndpoint(async (c) => {
      const params = await readOAuthParams(c);
      const { client } = await authenticateClient(c, deps.revocations.clients, params, { allowPublic: false });
      const token = params.token;
      if (!token) throw new OAuthError("invalid_request", "token is required.");
      noStore(c);
      if (token.split(".").length === 3) {
        try {
          // A token for any of our resources: the resource server asking learns which from `aud`.
          const live = await deps.accessTokens.check(token, "any");
          if (live.clientRowId !== client.id) return c.json(inactive);
          const { claims } = live;
          return c.json({
            active: true,
            token_type: "Bearer",
            scope: claims.scope,
            client_id: claims.client_id,
            sub: claims.sub,
            iss: claims.iss,
            aud: claims.aud,
            exp: claims.exp,
            iat: claims.iat,
            jti: claims.jti,
            ...(claims.grant_id ? { grant_id: claims.grant_id } : {}),
          });
        } catch (err) {
          if (err instanceof InvalidTokenError) return c.json(inactive);
          throw err;
        }
      }
      const row = await deps.prisma.refreshToken.findUnique({ where: { tokenHash: sha256(token) }, include: { grant: true } });
      const now = new Date();
      if (
        !row ||
        row.grant.clientId !== client.id ||
        row.revokedAt ||
        row.rotatedAt ||
        row.grant.revokedAt ||
        row.idleExpiresAt <= now ||
        row.absoluteExpiresAt <= now ||
        client.revokedAt
      ) {
        return c.json(inactive);
      }
      return c.json({
        active: true,
        token_type: "refresh_token",
        scope: row.scopes.join(" "),
        client_id: client.clientId,
        sub: row.grant.userId,
        iss: deps.config.issuer,
        aud: row.audience ?? resourceUrl(deps.config.issuer),
        exp: Math.floor(Math.min(row.idleExpiresAt.getTime(), row.absoluteExpiresAt.getTime()) / 1000),
        iat: Math.floor(row.createdAt.getTime() / 1000),
        grant_id: row.grantId,
      });
    }),
  );
  return app;
}
