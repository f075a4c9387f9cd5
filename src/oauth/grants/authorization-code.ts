import { recordAudit } from "../../audit/audit.ts";
import { recordChange, transaction } from "../../db/changes.ts";
import { consumeAuthorizationCode } from "../codes.ts";
import { OAuthError } from "../errors.ts";
import { PKCE_VALUE, verifyPkceS256 } from "../pkce.ts";
import { issueAccessToken, issueIdToken, issueRefreshToken } from "../issued-tokens.ts";
import { audienceForGrant } from "../resources.ts";
import { bearerResponse, type GrantHandler, type TokenResponse } from "./types.ts";

export const authorizationCodeGrant: GrantHandler = async ({ c, deps, client, params }) => {
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = params;
  if (!code) throw new OAuthError("invalid_request", "code is required.");
  if (!redirectUri) throw new OAuthError("invalid_request", "redirect_uri is required.");
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required (PKCE).");
  if (!PKCE_VALUE.test(verifier)) throw new OAuthError("invalid_request", "code_verifier must be 43 to 128 unreserved characters.");

  deps.audit.assertRoom();
  const accessKey = await deps.keys.signingKey("access");
  const idKey = await deps.keys.signingKey("id");
  const issuer = deps.config.issuer;
  // Refusals are returned, not thrown, so that the transaction commits them:
  // a code is burnt by any exchange attempt of its own client, and a reuse's revocations stick.
  type Issued = { response: TokenResponse; userId: string; grantId: string };
  const outcome = await transaction(deps.prisma, async (tx): Promise<Issued | OAuthError> => {
    const consumed = await consumeAuthorizationCode(tx, code, client.id);
    if (consumed.outcome === "unknown") return new OAuthError("invalid_grant", "The authorization code is invalid.");
    // Another client's attempt leaves the code alone: a thief must not spend it for the app it was issued to.
    if (consumed.outcome === "other-client") return new OAuthError("invalid_grant", "The authorization code was issued to another client.");
    const row = consumed.code;
    if (consumed.outcome === "reused") {
      // RFC 6749 §4.1.2: a code used twice may have been stolen: revoke what the first use issued,
      // the refresh-token family it started and every access token minted along that family.
      const now = new Date();
      const family = await tx.refreshToken.findMany({
        where: { codeId: row.id },
        select: { accessTokenJti: true, accessTokenExpiresAt: true },
      });
      await tx.refreshToken.updateMany({ where: { codeId: row.id, revokedAt: null }, data: { revokedAt: now } });
      const issued = [{ accessTokenJti: row.accessTokenJti, accessTokenExpiresAt: row.accessTokenExpiresAt }, ...family];
      const live = new Map<string, Date>();
      for (const t of issued) {
        if (t.accessTokenJti && t.accessTokenExpiresAt && t.accessTokenExpiresAt > now) live.set(t.accessTokenJti, t.accessTokenExpiresAt);
      }
      for (const [jti, expiresAt] of live) {
        await recordChange(tx, { kind: "token.revoked", subject: jti, clientId: client.clientId, expiresAt });
      }
      await recordAudit(tx, {
        action: "code.reused",
        userId: row.userId,
        clientId: row.clientId,
        grantId: row.grantId,
        detail: "authorization code used twice; tokens from its first use revoked",
      });
      c.var.log.warn({ clientId: client.clientId }, "authorization code reused: tokens from its first use revoked");
      return new OAuthError("invalid_grant", "The authorization code was already used.");
    }
    if (row.expiresAt <= new Date()) return new OAuthError("invalid_grant", "The authorization code expired.");
    if (row.redirectUri !== redirectUri) return new OAuthError("invalid_grant", "redirect_uri does not match the authorization request.");
    if (!verifyPkceS256(verifier, row.codeChallenge))
      return new OAuthError("invalid_grant", "code_verifier does not match code_challenge.");
    const grant = await tx.grant.findUnique({ where: { id: row.grantId } });
    if (!grant || grant.revokedAt) return new OAuthError("invalid_grant", "The user's consent was revoked.");

    const target = audienceForGrant(issuer, row.audience, params.resource);
    if (!target.ok) return new OAuthError("invalid_target", target.description);
    const scopes = row.scopes;
    const audience = target.audience;
    const access = issueAccessToken(accessKey, issuer, { client, userId: row.userId, grantId: grant.id, scopes, audience });
    // Remembered so that a second use of the code can revoke it.
    await tx.authorizationCode.update({
      where: { id: row.id },
      data: { accessTokenJti: access.jti, accessTokenExpiresAt: access.expiresAt },
    });
    const response = bearerResponse(access, scopes);
    if (client.refreshTokens) {
      response.refresh_token = await issueRefreshToken(tx, { grantId: grant.id, scopes, codeId: row.id, audience, accessToken: access });
    }
    if (scopes.includes("openid")) {
      response.id_token = await issueIdToken(idKey, issuer, {
        client,
        userId: row.userId,
        nonce: row.nonce,
        authTime: row.authTime,
        accessToken: access.accessToken,
      });
    }
    // The first use of a new connection shows at once under Connected apps (later uses are batched).
    await tx.grant.update({ where: { id: grant.id }, data: { lastUsedAt: new Date() } });
    return { response, userId: row.userId, grantId: grant.id };
  });
  if (outcome instanceof OAuthError) throw outcome;
  const { response, userId, grantId } = outcome;
  deps.audit.push({
    action: "token.issued",
    userId,
    clientId: client.id,
    grantId,
    detail: `grant_type=authorization_code scope=${response.scope}${response.refresh_token ? " +refresh_token" : ""}`,
  });
  return response;
};
