import { recordAudit } from "../../audit/audit.ts";
import { sha256 } from "../../auth/tokens.ts";
import { transaction } from "../../db/changes.ts";
import { OAuthError } from "../errors.ts";
import { revokeGrant } from "../grants.ts";
import { parseScope } from "../params.ts";
import { PROTOCOL_SCOPES } from "../scopes.ts";
import { issueAccessToken, issueRefreshToken } from "../tokens.ts";
import { bearerResponse, type GrantHandler, type TokenResponse } from "./types.ts";

export const refreshTokenGrant: GrantHandler = async ({ c, deps, client, params }) => {
  const presented = params.refresh_token;
  if (!presented) throw new OAuthError("invalid_request", "refresh_token is required.");
  const requested = params.scope !== undefined ? parseScope(params.scope) : null;
  deps.audit.assertRoom();
  const accessKey = await deps.keys.signingKey("access");

  // Refusals are returned so that the transaction commits them (reuse revokes the grant).
  type Issued = { response: TokenResponse; userId: string; grantId: string };
  const outcome = await transaction(deps.prisma, async (tx): Promise<Issued | OAuthError> => {
    const token = await tx.refreshToken.findUnique({ where: { tokenHash: sha256(presented) }, include: { grant: true } });
    if (!token) return new OAuthError("invalid_grant", "The refresh token is invalid.");
    if (token.grant.clientId !== client.id) return new OAuthError("invalid_grant", "The refresh token was issued to another client.");
    if (token.revokedAt || token.grant.revokedAt) return new OAuthError("invalid_grant", "The refresh token was revoked.");
    // An already-rotated token came back: someone holds a copy. End the whole grant (RFC 9700 §4.14.2).
    const reuseDetected = async () => {
      await revokeGrant(tx, token.grantId, "refresh token reuse detected");
      await recordAudit(tx, {
        action: "refresh_token.reused",
        userId: token.grant.userId,
        clientId: client.id,
        grantId: token.grantId,
        detail: "a rotated refresh token was presented again; the grant was revoked",
      });
      c.var.log.warn({ clientId: client.clientId, grantId: token.grantId }, "refresh token reuse: grant revoked");
      return new OAuthError("invalid_grant", "The refresh token was already used; access has been revoked.");
    };
    const now = new Date();
    if (token.rotatedAt) return reuseDetected();
    // Refusals that are the client's mistake leave the token usable: only a
    // token that passes every check is spent.
    if (token.idleExpiresAt <= now || token.absoluteExpiresAt <= now) {
      return new OAuthError("invalid_grant", "The refresh token expired.");
    }
    // What the token may still carry: the user may have narrowed the grant and
    // the developer the client's scopes since it was issued.
    const allowed = token.scopes.filter(
      (s) => token.grant.scopes.includes(s) && (client.scopes.includes(s) || (PROTOCOL_SCOPES as readonly string[]).includes(s)),
    );
    let scopes = allowed;
    if (requested) {
      const extra = requested.filter((s) => !allowed.includes(s));
      if (extra.length) return new OAuthError("invalid_scope", `The refresh token does not cover: ${extra.join(" ")}.`);
      scopes = requested;
    }
    // Rotate atomically: of two requests with the same token only one wins.
    const { count } = await tx.refreshToken.updateMany({ where: { id: token.id, rotatedAt: null }, data: { rotatedAt: now } });
    if (count === 0) return reuseDetected();

    const access = issueAccessToken(accessKey, deps.config.issuer, { client, userId: token.grant.userId, grantId: token.grantId, scopes });
    const response = bearerResponse(access, scopes);
    if (client.refreshTokens) {
      // The new token keeps the family's scopes and absolute expiry; only the idle window restarts.
      response.refresh_token = await issueRefreshToken(tx, {
        grantId: token.grantId,
        scopes: allowed,
        codeId: token.codeId,
        absoluteExpiresAt: token.absoluteExpiresAt,
        accessToken: access,
      });
    }
    return { response, userId: token.grant.userId, grantId: token.grantId };
  });
  if (outcome instanceof OAuthError) throw outcome;
  const { response, userId, grantId } = outcome;
  deps.audit.grantUsed(grantId);
  deps.audit.push({ action: "token.issued", userId, clientId: client.id, grantId, detail: `grant_type=refresh_token scope=${response.scope}` });
  return response;
};
