import type { Db } from "../db/index.ts";
import type { AccessToken, OAuthClient } from "../generated/prisma/client.ts";
import type { KeyStore } from "./keys.ts";
import { InvalidTokenError, verifyAccessTokenJwt, type AccessTokenClaims } from "./tokens.ts";

export interface LiveAccessToken {
  claims: AccessTokenClaims;
  record: AccessToken;
  client: OAuthClient;
  scopes: string[];
}

/**
 * A valid JWT is not enough: the token itself, its grant and its client must
 * still be live, so that any revocation takes effect on the very next request.
 * Checked against the database each time (one indexed query).
 */
export async function checkAccessToken(db: Db, keys: KeyStore, issuer: string, token: string): Promise<LiveAccessToken> {
  const claims = await verifyAccessTokenJwt(keys, issuer, token);
  const record = await db.accessToken.findUnique({
    where: { jti: claims.jti },
    include: { client: true, grant: { select: { revokedAt: true, userId: true } } },
  });
  if (!record || record.revokedAt) throw new InvalidTokenError("The access token was revoked.");
  if (record.client.revokedAt) throw new InvalidTokenError("The client of this access token was revoked.");
  if (record.grantId && (!record.grant || record.grant.revokedAt)) {
    throw new InvalidTokenError("The user revoked this app's access.");
  }
  if (record.userId !== claims.sub || record.client.clientId !== claims.client_id) {
    throw new InvalidTokenError("The access token does not match its record.");
  }
  const { client, grant: _grant, ...rest } = record;
  return { claims, record: rest, client, scopes: claims.scope.split(" ").filter(Boolean) };
}
