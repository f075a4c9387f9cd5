import type { DbTx } from "../db/index.ts";
import type { AuthorizationCode } from "../generated/prisma/client.ts";
import { randomToken, sha256 } from "../lib/crypto.ts";
import { CODE_TTL_MS } from "../lib/lifetimes.ts";

export interface NewAuthorizationCode {
  grantId: string;
  clientRowId: string;
  userId: string;
  redirectUri: string;
  scopes: string[];
  codeChallenge: string;
  nonce?: string | null;
  /** the resource the tokens are for (src/oauth/resources.ts); null: the default */
  audience: string | null;
  authTime: Date;
}

/** A random one-time code; only its hash is stored. */
export async function createAuthorizationCode(tx: DbTx, input: NewAuthorizationCode): Promise<string> {
  const code = randomToken();
  await tx.authorizationCode.create({
    data: {
      codeHash: sha256(code),
      grantId: input.grantId,
      clientId: input.clientRowId,
      userId: input.userId,
      redirectUri: input.redirectUri,
      scopes: input.scopes,
      codeChallenge: input.codeChallenge,
      codeChallengeMethod: "S256",
      nonce: input.nonce ?? null,
      audience: input.audience,
      authTime: input.authTime,
      expiresAt: new Date(Date.now() + CODE_TTL_MS),
    },
  });
  return code;
}

export type ConsumedCode =
  | { outcome: "ok"; code: AuthorizationCode }
  | { outcome: "unknown" }
  /** issued to another client: left as it was, so that a thief cannot spend it for its rightful client */
  | { outcome: "other-client" }
  /** the code was used before: the caller must revoke what the first use issued */
  | { outcome: "reused"; code: AuthorizationCode };

/**
 * Marks a code used by the client presenting it, atomically: of two
 * concurrent exchanges only one gets "ok". Only the client it was issued to
 * can spend it (or be told of a reuse).
 */
export async function consumeAuthorizationCode(tx: DbTx, code: string, clientRowId: string): Promise<ConsumedCode> {
  const codeHash = sha256(code);
  const { count } = await tx.authorizationCode.updateMany({
    where: { codeHash, clientId: clientRowId, usedAt: null },
    data: { usedAt: new Date() },
  });
  const row = await tx.authorizationCode.findUnique({ where: { codeHash } });
  if (!row) return { outcome: "unknown" };
  if (row.clientId !== clientRowId) return { outcome: "other-client" };
  return count === 1 ? { outcome: "ok", code: row } : { outcome: "reused", code: row };
}
