import type { DbTx } from "../db/index.ts";
import type { Grant, OAuthClient } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { recordChange } from "../db/changes.ts";
import { revocationRuleExpiry } from "../lib/lifetimes.ts";
import { recordWebhookEvent } from "../webhooks/events.ts";

/** The user's live grant to a client (a connected app), if any. */
export function findLiveGrant(db: DbTx, userId: string, clientRowId: string): Promise<Grant | null> {
  return db.grant.findFirst({
    where: { userId, clientId: clientRowId, revokedAt: null },
    orderBy: { createdAt: "desc" },
  });
}

/**
 * The user's live grant to a client, read under locks held until the
 * transaction ends: consents of one user to one client take their turns (an
 * advisory lock, so that two first consents cannot both create a grant, nor
 * two widenings each drop the other's scopes), and the grant row is locked, so
 * that a revocation waits for this transaction and then also ends the code it
 * made, or went first and is seen here.
 */
export async function lockLiveGrant(tx: DbTx, userId: string, clientRowId: string): Promise<Grant | null> {
  await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtext(${userId}), hashtext(${clientRowId}))`;
  const [row] = await tx.$queryRaw<{ id: string }[]>`
    SELECT "id" FROM "Grant" WHERE "userId" = ${userId} AND "clientId" = ${clientRowId} AND "revokedAt" IS NULL
    ORDER BY "createdAt" DESC LIMIT 1 FOR UPDATE`;
  return row ? tx.grant.findUnique({ where: { id: row.id } }) : null;
}

/**
 * Records the user's consent to `scopes` for a client: a new grant, or the
 * live one widened to cover them (incremental consent keeps earlier scopes).
 * Needs a transaction: see lockLiveGrant.
 */
export async function grantAccess(tx: DbTx, input: { userId: string; client: OAuthClient; scopes: string[] }): Promise<Grant> {
  const existing = await lockLiveGrant(tx, input.userId, input.client.id);
  if (existing) {
    const merged = [...new Set([...existing.scopes, ...input.scopes])];
    if (merged.length === existing.scopes.length) return existing;
    const grant = await tx.grant.update({ where: { id: existing.id }, data: { scopes: merged } });
    await recordAudit(tx, {
      action: "grant.updated",
      userId: input.userId,
      clientId: input.client.id,
      grantId: grant.id,
      detail: `scopes: ${merged.join(" ")}`,
    });
    return grant;
  }
  const grant = await tx.grant.create({
    data: { userId: input.userId, clientId: input.client.id, scopes: input.scopes },
  });
  await recordAudit(tx, {
    action: "grant.created",
    userId: input.userId,
    clientId: input.client.id,
    grantId: grant.id,
    detail: `scopes: ${input.scopes.join(" ")}`,
  });
  return grant;
}

/**
 * Ends a grant and everything hanging off it: refresh tokens, access tokens
 * (through the change feed) and unused authorization codes. Idempotent:
 * returns false when it was already revoked. Needs a transaction from
 * transaction() (src/db/changes.ts), which applies the change on this instance at commit.
 */
export async function revokeGrant(tx: DbTx, grantId: string, reason: string): Promise<boolean> {
  const now = new Date();
  const { count } = await tx.grant.updateMany({ where: { id: grantId, revokedAt: null }, data: { revokedAt: now } });
  await tx.refreshToken.updateMany({ where: { grantId, revokedAt: null }, data: { revokedAt: now } });
  await tx.authorizationCode.updateMany({ where: { grantId, usedAt: null }, data: { usedAt: now } });
  if (count === 0) return false;
  await recordChange(tx, { kind: "grant.revoked", subject: grantId, expiresAt: revocationRuleExpiry() });
  const grant = await tx.grant.findUniqueOrThrow({ where: { id: grantId } });
  await recordAudit(tx, {
    action: "grant.revoked",
    userId: grant.userId,
    clientId: grant.clientId,
    grantId,
    detail: reason,
  });
  // The partner hears that it must stop, whatever scopes it had.
  await recordWebhookEvent(tx, { type: "grant.revoked", userId: grant.userId, grantId, clientRowId: grant.clientId });
  return true;
}
