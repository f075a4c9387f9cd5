import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { sha256 } from "../auth/tokens.ts";
import { recordAudit } from "../audit/audit.ts";
import { authenticateClient } from "./client-auth.ts";
import { noStore, OAuthError, oauthEndpoint } from "./errors.ts";
import { revokeGrant } from "./grants.ts";
import { readOAuthParams } from "./params.ts";
import { verifyAccessTokenJwt } from "./tokens.ts";

/**
 * POST /v1/oauth/revoke (RFC 7009). A refresh token ends its whole grant; an
 * access token stops working on its next use. Unknown tokens, and tokens of
 * other clients, get the same 200 so that nothing can be learnt by probing.
 */
export function revokeRoute(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post("/v1/oauth/revoke", oauthEndpoint(async (c) => {
    const params = await readOAuthParams(c);
    const { client } = await authenticateClient(c, deps.prisma, params, { allowPublic: true });
    const token = params.token;
    if (!token) throw new OAuthError("invalid_request", "token is required.");
    const hint = params.token_type_hint;
    const tryRefresh = async () => {
      const row = await deps.prisma.refreshToken.findUnique({ where: { tokenHash: sha256(token) }, include: { grant: true } });
      if (!row || row.grant.clientId !== client.id) return false;
      await deps.prisma.$transaction((tx) => revokeGrant(tx, row.grantId, "refresh token revoked by the client"));
      return true;
    };
    const tryAccess = async () => {
      let jti: string;
      try {
        jti = (await verifyAccessTokenJwt(deps.keys, deps.config.issuer, token)).jti;
      } catch {
        return false; // invalid or expired: nothing left to revoke
      }
      await deps.prisma.$transaction(async (tx) => {
        const row = await tx.accessToken.findUnique({ where: { jti } });
        if (!row || row.clientId !== client.id || row.revokedAt) return;
        await tx.accessToken.update({ where: { jti }, data: { revokedAt: new Date() } });
        await recordAudit(tx, {
          action: "token.revoked",
          userId: row.userId,
          clientId: client.id,
          grantId: row.grantId,
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
  }));
  return app;
}
