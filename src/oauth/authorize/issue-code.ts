import type { Db } from "../../db/index.ts";
import { createAuthorizationCode } from "../codes.ts";
import { findLiveGrant, grantAccess } from "../../consent/grants.ts";
import { grantCovers } from "./consent.ts";
import type { AuthorizationRequest } from "./validate.ts";

/**
 * Records consent (a new or widened grant) and creates a code, in one
 * transaction. With `requireCovered` (consent skipped because of an earlier
 * grant), the grant is re-read inside the transaction and nothing is issued
 * if it no longer covers the scopes (revoked in the meantime): returns null.
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
    if (requireCovered && !grantCovers(await findLiveGrant(tx, session.userId, req.client.id), scopes)) return null;
    const grant = await grantAccess(tx, { userId: session.userId, client: req.client, scopes });
    return createAuthorizationCode(tx, {
      grantId: grant.id,
      clientRowId: req.client.id,
      userId: session.userId,
      redirectUri: req.redirectUri,
      scopes,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      authTime: session.createdAt,
    });
  });
}
