import type { Db, DbTx } from "../db/index.ts";
import type { Grant, OAuthClient } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { recordChange, transaction } from "../db/changes.ts";
import { revocationRuleExpiry } from "../lib/lifetimes.ts";
import { type DomainError, invalidInput, notFound } from "../lib/errors.ts";
import { recordWebhookEvent } from "../webhooks/events.ts";
import { revokeGrant } from "./grants.ts";
import { DATA_SCOPES, PROTOCOL_SCOPES, SCOPE_DESCRIPTIONS } from "./scopes.ts";

/**
 * Connected apps: a user's live grants, seen and controlled by the user. The
 * GraphQL mutations (revokeConnectedApp, updateConnectedAppScopes) and the
 * /account/apps page both call these functions.
 */

export type ConnectedApp = Grant & { client: OAuthClient };

/** A grant id is a UUID; anything else cannot name a grant (and must not reach the database as one). */
const GRANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A grant that is not one of this user's live connected apps (or is not a grant id at all). */
function connectedAppNotFound(): DomainError {
  return notFound("Connected app");
}

/** Which grants are the user's connected apps, in the order they are listed: live ones, most recently granted first. */
export function liveGrantsQuery(userId: string) {
  return {
    where: { userId, revokedAt: null },
    orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }],
  };
}

/** The user's live grants with their apps. */
export function listConnectedApps(db: DbTx, userId: string): Promise<ConnectedApp[]> {
  return db.grant.findMany({ ...liveGrantsQuery(userId), include: { client: true } });
}

/** One live grant of this user; another user's grant, a revoked one and nonsense all answer null alike. */
export async function findConnectedApp(db: DbTx, userId: string, grantId: string): Promise<ConnectedApp | null> {
  if (!GRANT_ID.test(grantId)) return null;
  return db.grant.findFirst({ where: { id: grantId, userId, revokedAt: null }, include: { client: true } });
}

/** The scopes of a grant in the words the consent page used, protocol scopes last. */
export function describeScopes(scopes: readonly string[]): { scope: string; description: string }[] {
  const order = [...DATA_SCOPES, ...PROTOCOL_SCOPES] as readonly string[];
  return [...scopes]
    .sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
    .map((scope) => ({ scope, description: SCOPE_DESCRIPTIONS[scope] ?? scope }));
}

/** Scopes the user may take away from a grant one by one (openid and offline_access come with any consent). */
export function narrowableScopes(grant: Pick<Grant, "scopes">): string[] {
  return describeScopes(grant.scopes)
    .map((s) => s.scope)
    .filter((s) => (DATA_SCOPES as readonly string[]).includes(s));
}

/**
 * Disconnects an app: ends the grant, its refresh tokens, its access tokens and
 * its unused codes (revokeGrant), so the app's next GraphQL request gets 401 and
 * its next refresh invalid_grant. Throws not_found for anything that is not a
 * live grant of this user.
 */
export async function revokeConnectedApp(prisma: Db, userId: string, grantId: string): Promise<ConnectedApp> {
  return transaction(prisma, async (tx) => {
    const app = await findConnectedApp(tx, userId, grantId);
    if (!app) throw connectedAppNotFound();
    await revokeGrant(tx, app.id, "revoked by the user under Connected apps");
    return tx.grant.findUniqueOrThrow({ where: { id: app.id }, include: { client: true } });
  });
}

/**
 * Narrows a grant without revoking it. `keep` lists the data scopes
 * (profile:read, data:read, data:write) the app keeps; each must be granted now
 * (nothing can be added here: an app asks for more through the consent page).
 * openid and offline_access stay as granted. Takes effect at once:
 * - the grant's scopes shrink (the refresh grant intersects with them),
 * - live access tokens that carry a removed scope are revoked, so the app's next
 *   request fails with 401 and it refreshes into a token with the narrower set,
 * - live refresh tokens and unused authorization codes lose the removed scopes,
 *   so no token minted later, even after a new consent, carries them from an old family.
 * Writes grant.updated. Returns the grant unchanged when nothing is removed.
 */
export async function narrowConnectedApp(prisma: Db, userId: string, grantId: string, keep: readonly string[]): Promise<ConnectedApp> {
  return transaction(prisma, async (tx) => {
    const app = await findConnectedApp(tx, userId, grantId);
    if (!app) throw connectedAppNotFound();
    const narrowable = narrowableScopes(app);
    const wanted = [...new Set(keep)];
    const unknown = wanted.filter((s) => !narrowable.includes(s));
    if (unknown.length) {
      const protocol = unknown.filter((s) => (PROTOCOL_SCOPES as readonly string[]).includes(s) && app.scopes.includes(s));
      const printable = unknown.every((s) => s.length <= 40 && /^[\x21-\x7e]+$/.test(s));
      throw invalidInput(
        "scopes",
        protocol.length === unknown.length
          ? `${protocol.join(" ")} cannot be changed here; it stays as long as the app is connected.`
          : printable
            ? `Not granted to this app: ${unknown.join(" ")}. Only granted permissions can be kept; an app asks for more through the consent page.`
            : "Only granted permissions can be kept; an app asks for more through the consent page.",
      );
    }
    const removed = narrowable.filter((s) => !wanted.includes(s));
    if (removed.length === 0) return app;
    const scopes = app.scopes.filter((s) => !removed.includes(s));
    if (scopes.length === 0) {
      throw invalidInput("scopes", "Keep at least one permission, or disconnect the app instead.");
    }

    // A concurrent revocation wins: only a still-live grant is narrowed.
    const { count } = await tx.grant.updateMany({ where: { id: app.id, revokedAt: null }, data: { scopes } });
    if (count === 0) throw connectedAppNotFound();
    // Live access tokens carrying a removed scope end (the change feed); later ones are minted narrower.
    await recordChange(tx, {
      kind: "grant.narrowed",
      subject: app.id,
      clientId: app.client.clientId,
      scopes: removed,
      expiresAt: revocationRuleExpiry(),
    });
    const refreshTokens = await tx.refreshToken.findMany({
      where: { grantId: app.id, revokedAt: null, rotatedAt: null, scopes: { hasSome: removed } },
      select: { id: true, scopes: true },
    });
    for (const t of refreshTokens) {
      await tx.refreshToken.update({ where: { id: t.id }, data: { scopes: t.scopes.filter((s) => !removed.includes(s)) } });
    }
    const codes = await tx.authorizationCode.findMany({
      where: { grantId: app.id, usedAt: null, scopes: { hasSome: removed } },
      select: { id: true, scopes: true },
    });
    for (const code of codes) {
      const left = code.scopes.filter((s) => !removed.includes(s));
      // A code left with nothing to grant is withdrawn: its exchange then fails with invalid_grant.
      if (left.length) await tx.authorizationCode.update({ where: { id: code.id }, data: { scopes: left } });
      else await tx.authorizationCode.delete({ where: { id: code.id } });
    }
    await recordAudit(tx, {
      action: "grant.updated",
      userId,
      clientId: app.clientId,
      grantId: app.id,
      detail: `narrowed by the user: removed ${removed.join(" ")}; scopes: ${scopes.join(" ")}; access tokens carrying them revoked`,
    });
    await recordWebhookEvent(tx, {
      type: "grant.narrowed",
      userId,
      grantId: app.id,
      clientRowId: app.clientId,
      scopes,
      removedScopes: removed,
    });
    return tx.grant.findUniqueOrThrow({ where: { id: app.id }, include: { client: true } });
  });
}
