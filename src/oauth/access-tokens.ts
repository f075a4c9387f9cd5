import type { Db } from "../db/index.ts";
import type { KeyStore } from "./keys.ts";
import { InvalidTokenError, verifyAccessTokenJwt, type AccessTokenClaims } from "./tokens.ts";

export interface LiveAccessToken {
  claims: AccessTokenClaims;
  /** the OAuthClient row id and its public client_id */
  clientRowId: string;
  clientId: string;
  grantId: string | null;
  scopes: string[];
}

interface TokenState {
  userId: string;
  grantId: string | null;
  revokedAt: Date | null;
  clientRowId: string;
  clientId: string;
  clientRevokedAt: Date | null;
  grantRevokedAt: Date | null;
}

/**
 * A valid JWT is not enough: the token itself, its grant and its client must
 * still be live, so that any revocation takes effect on the very next request.
 * Checked against the database each time, in one indexed query (this runs on
 * every API call; Prisma would send three).
 */
export async function checkAccessToken(db: Db, keys: KeyStore, issuer: string, token: string): Promise<LiveAccessToken> {
  const claims = await verifyAccessTokenJwt(keys, issuer, token);
  const rows = await db.$queryRaw<TokenState[]>`
    SELECT t."userId", t."grantId", t."revokedAt",
           c."id" AS "clientRowId", c."clientId", c."revokedAt" AS "clientRevokedAt",
           g."revokedAt" AS "grantRevokedAt"
    FROM "AccessToken" t
    JOIN "OAuthClient" c ON c."id" = t."clientId"
    LEFT JOIN "Grant" g ON g."id" = t."grantId"
    WHERE t."jti" = ${claims.jti}`;
  const row = rows[0];
  if (!row || row.revokedAt) throw new InvalidTokenError("The access token was revoked.");
  if (row.clientRevokedAt) throw new InvalidTokenError("The client of this access token was revoked.");
  if (row.grantId && row.grantRevokedAt) throw new InvalidTokenError("The user revoked this app's access.");
  if (row.userId !== claims.sub || row.clientId !== claims.client_id) {
    throw new InvalidTokenError("The access token does not match its record.");
  }
  return {
    claims,
    clientRowId: row.clientRowId,
    clientId: row.clientId,
    grantId: row.grantId,
    scopes: claims.scope.split(" ").filter(Boolean),
  };
}
