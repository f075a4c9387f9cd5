import type { Db } from "../../db/index.ts";
import { createAuthorizationCode } from "../codes.ts";
import { grantAccess, lockLiveGrant } from "../../consent/grants.ts";
import { grantCovers, isProtocolScope } from "./consent.ts";
import type { AuthorizationRequest } from "./validate.ts";

/**
 * Records consent (a new or widened grant) and creates a code, in one
 * transaction. With `requireCovered` (consent skipped because of an earlier
 * grant), the grant is re-read inside the transaction and nothing is issued
 * if it no longer covers the scopes (revoked in the meantime): returns null.
 * The grant stays locked until commit, so a revocation cannot slip between
 * that check and the code (see lockLiveGrant).
 *
 * The client row is read again under a share lock: a developer's change that
 * removed a requested scope (or a revocation) since the request was validated
 * either committed first, and nothing is issued (null), or waits for this
 * transaction and then narrows the grant and the code made here.
 * The code's auth_time is the session's start: when the user signed in.
 */
export async function issueCode(
  prisma: Db,
  req: AuthorizationRequest,
  session: { userId: string; createdAt: Date },
  scopes: string[],
  requireCovered: boolean,
): Promise<string | null> {
  return prisma.$transaction(async (tx) => {
    const [client] = await tx.$queryRaw<{ scopes: string[] }[]>`
      SELECT "scopes" FROM "OAuthClient" WHERE "id" = ${req.client.id} AND "revokedAt" IS NULL FOR SHARE`;
    if (!client || scopes.some((s) => !isProtocolScope(s) && !client.scopes.includes(s))) return null;
    if (requireCovered && !grantCovers(await lockLiveGrant(tx, session.userId, req.client.id), scopes)) return null;
    const grant = await grantAccess(tx, { userId: session.userId, client: req.client, scopes });
    return createAuthorizationCode(tx, {
      grantId: grant.id,
      clientRowId: req.client.id,
      userId: session.userId,
      redirectUri: req.redirectUri,
      scopes,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      audience: req.audience ?? null,
      authTime: session.createdAt,
    });
  });
}
