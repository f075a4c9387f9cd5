import { Hono } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { sha256 } from "../lib/crypto.ts";
import { recordAudit } from "../audit/audit.ts";
import { recordChange, transaction } from "../db/changes.ts";
import { authenticateClient } from "./client-auth.ts";
import { noStore, OAuthError, oauthEndpoint } from "./errors.ts";
import { revokeGrant } from "../consent/grants.ts";
import { readOAuthParams } from "./params.ts";
import { verifyAccessTokenJwt } from "./issued-tokens.ts";
import { tokenFacts } from "./access-tokens.ts";

/**
 * POST /v1/oauth/revoke (RFC 7009). A refresh token ends its whole grant; an
 * access token stops working on its next use. Unknown tokens, and tokens of
 * other clients, get the same 200 so that nothing can be learnt by probing.
 */
export function revokeRoute(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post(
    OAUTH_PATHS.revoke,
    oauthEndpoint(async (c) => {
      const params = await readOAuthParams(c);
      const { client } = await authenticateClient(c, deps.revocations.clients, params, { allowPublic: true });
      const token = params.token;
      if (!token) throw new OAuthError("invalid_request", "token is required.");
      const hint = params.token_type_hint;
      const tryRefresh = async () => {
        const row = await deps.prisma.refreshToken.findUnique({ where: { tokenHash: sha256(token) }, include: { grant: true } });
        if (!row || row.grant.clientId !== client.id) return false;
        await transaction(deps.prisma, (tx) => revokeGrant(tx, row.grantId, "refresh token revoked by the client"));
        return true;
      };
      const tryAccess = async () => {
        let claims: Awaited<ReturnType<typeof verifyAccessTokenJwt>>;
        try {
          claims = await verifyAccessTokenJwt(deps.keys, deps.config.issuer, token);
        } catch {
          return false; // invalid or expired: nothing left to revoke
        }
        if (claims.client_id !== client.clientId) return true; // another client's: the same 200, nothing done
        const facts = tokenFacts(claims, client.id);
        const grantId = facts.grantId;
        // Already revoked (here, or by its grant or client): nothing more to record.
        if (deps.revocations.view.refusal(facts)) return true;
        await transaction(deps.prisma, async (tx) => {
          // Recorded by exception until the token would have expired anyway.
          await recordChange(tx, {
            kind: "token.revoked",
            subject: claims.jti,
            clientId: client.clientId,
            expiresAt: new Date(claims.exp * 1000),
          });
          await recordAudit(tx, {
            action: "token.revoked",
            userId: claims.sub,
            clientId: client.id,
            grantId,
            detail: "access token revoked by the client",
          });
        });
        return true;
      };
      const looksLikeJwt = token.split(".").length === 3;
      if (hint === "access_token" || (hint !== "refresh_token" && looksLikeJwt)) {
        if (!(await tryAccess())) await tryRefresh();
      } else if (!(await tryRefresh())) {
        await tryAccess();
      }
      noStore(c);
      return c.body(null, 200);
    }),
  );
  return app;
}
