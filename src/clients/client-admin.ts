import { z } from "zod";
import type { Db, DbTx } from "../db/index.ts";
import type { OAuthClient, User } from "../generated/prisma/client.ts";
import { recordAudit, recordAudits } from "../audit/audit.ts";
import { recordChange, transaction } from "../db/changes.ts";
import { MAX_CLIENT_SECRET_GRACE_S, revocationRuleExpiry } from "../lib/lifetimes.ts";
import { newClientSecret } from "./clients.ts";
import { revokeGrant } from "../consent/grants.ts";
import { checkRedirectUris, clientFields, firstIssue } from "./registration.ts";
import { type DomainError, invalidInput, notFound } from "../lib/errors.ts";

/**
 * A developer managing their own clients: change, rotate the secret, revoke.
 * The GraphQL mutations and the /developers page both come here.
 *
 * Ownership is part of every lookup: another user's client and a client_id
 * that does not exist give the same not_found error, so nothing can be
 * learnt by probing other people's client IDs.
 */

export type ClientOwner = Pick<User, "id" | "isAdmin">;

/** The client does not exist, or it belongs to someone else (the two are never told apart). */
function clientNotFound(): DomainError {
  return notFound("OAuth client");
}

const updateSchema = z.object({
  name: clientFields.name.nullish(),
  redirectUris: clientFields.redirectUris.nullish(),
  scopes: clientFields.scopes.nullish(),
  accessTokenTtl: clientFields.accessTokenTtl.nullish(),
  refreshTokens: clientFields.refreshTokens.nullish(),
  firstParty: z.boolean().nullish(),
});

/** What may change after creation; a missing or null field stays as it is. Environment and type are fixed. */
export type UpdateClientInput = z.input<typeof updateSchema>;

const gracePeriodSchema = z
  .number()
  .int("must be a whole number of seconds")
  .min(0, "must not be negative")
  .max(MAX_CLIENT_SECRET_GRACE_S, `must be at most ${MAX_CLIENT_SECRET_GRACE_S} seconds (${MAX_CLIENT_SECRET_GRACE_S / 86_400} days)`);

/** The owner's clients, newest first, revoked ones included. */
export function listClients(prisma: Db, ownerId: string): Promise<OAuthClient[]> {
  return prisma.oAuthClient.findMany({ where: { ownerId }, orderBy: [{ createdAt: "desc" }, { id: "asc" }] });
}

/** The client with this public client_id if `owner` owns it; otherwise not_found (webhook-endpoints.ts looks its clients up here too). */
export async function findOwnedClient(db: DbTx, owner: Pick<ClientOwner, "id">, clientId: string): Promise<OAuthClient> {
  if (typeof clientId !== "string" || !clientId || clientId.length > 200) throw clientNotFound();
  const client = await db.oAuthClient.findUnique({ where: { clientId } });
  if (!client || client.ownerId !== owner.id) throw clientNotFound();
  return client;
}

function revokedError(): DomainError {
  return invalidInput("clientId", "This client was revoked; a revoked client cannot be changed.");
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Changes a client's name, redirect URIs, scopes, token lifetime, refresh
 * setting and (administrators only) firstParty, with the checks of creation.
 *
 * Narrowed scopes hold at once: the authorization endpoint, client_credentials
 * and the refresh grant all read the client's scopes, and unused authorization
 * codes and live access tokens that carry a removed scope end here. Users'
 * grants lose the removed scopes too (narrowGrantsOfClient), so that a scope
 * the developer adds back is asked for on the consent page as new.
 */
export async function updateClient(prisma: Db, owner: ClientOwner, clientId: string, raw: UpdateClientInput): Promise<OAuthClient> {
  const parsed = updateSchema.safeParse(raw ?? {});
  if (!parsed.success) throw firstIssue(parsed.error);
  const input = parsed.data;

  return transaction(prisma, async (tx) => {
    const client = await findOwnedClient(tx, owner, clientId);
    if (client.revokedAt) throw revokedError();
    if (input.firstParty != null && input.firstParty !== client.firstParty && !owner.isAdmin) {
      throw invalidInput("firstParty", "firstParty can be set only by an administrator");
    }
    const redirectUris = input.redirectUris != null ? checkRedirectUris(input.redirectUris, client) : null;

    const data: Partial<Pick<OAuthClient, "name" | "redirectUris" | "scopes" | "accessTokenTtl" | "refreshTokens" | "firstParty">> = {};
    const changes: string[] = [];
    if (input.name != null && input.name !== client.name) {
      data.name = input.name;
      changes.push(`name "${client.name}" -> "${input.name}"`);
    }
    if (redirectUris && !sameList(redirectUris, client.redirectUris)) {
      data.redirectUris = redirectUris;
      changes.push(`redirect URIs: ${redirectUris.join(" ")}`);
    }
    let removedScopes: string[] = [];
    if (input.scopes != null && !sameList([...input.scopes].sort(), [...client.scopes].sort())) {
      data.scopes = input.scopes;
      removedScopes = client.scopes.filter((s) => !input.scopes!.includes(s));
      changes.push(`scopes ${client.scopes.join(" ")} -> ${input.scopes.join(" ")}`);
    }
    if (input.accessTokenTtl != null && input.accessTokenTtl !== client.accessTokenTtl) {
      data.accessTokenTtl = input.accessTokenTtl;
      changes.push(`access-token lifetime ${client.accessTokenTtl}s -> ${input.accessTokenTtl}s`);
    }
    if (input.refreshTokens != null && input.refreshTokens !== client.refreshTokens) {
      data.refreshTokens = input.refreshTokens;
      changes.push(`refresh tokens ${input.refreshTokens ? "on" : "off"}`);
    }
    if (input.firstParty != null && input.firstParty !== client.firstParty) {
      data.firstParty = input.firstParty;
      changes.push(`first-party ${input.firstParty ? "on" : "off"}`);
    }
    if (!changes.length) return client;

    // Guarded by revokedAt: a revocation that commits first wins.
    const { count } = await tx.oAuthClient.updateMany({ where: { id: client.id, revokedAt: null }, data });
    if (count === 0) throw revokedError();
    await recordClientUpdate(tx, client, { removedScopes, userId: owner.id, detail: changes.join("; ") });
    return tx.oAuthClient.findUniqueOrThrow({ where: { id: client.id } });
  });
}

/**
 * What follows any change to a client's row (by its developer, a
 * self-registered client's RFC 7592 update, a changed metadata document), in
 * the transaction that made it: scopes taken away end in what was already
 * handed out, every instance drops its cached copy (client.changed, which also
 * ends the live access tokens carrying a removed scope), and the change is in
 * the audit trail.
 */
export async function recordClientUpdate(
  tx: DbTx,
  client: OAuthClient,
  change: { removedScopes: string[]; userId?: string | null; detail: string },
): Promise<void> {
  if (change.removedScopes.length) await endRemovedScopes(tx, client, change.removedScopes);
  await recordChange(tx, {
    kind: "client.changed",
    subject: client.id,
    clientId: client.clientId,
    scopes: change.removedScopes,
    expiresAt: revocationRuleExpiry(),
  });
  await recordAudit(tx, { action: "client.updated", userId: change.userId ?? null, clientId: client.id, detail: change.detail });
}

/** Scopes removed from a client end in what was already handed out (codes, grants, refresh tokens). */
async function endRemovedScopes(tx: DbTx, client: OAuthClient, removedScopes: string[]): Promise<void> {
  // A code already handed out would otherwise still turn into a token with a removed
  // scope, and a live token would keep using it: both end now (as when a user narrows a grant).
  const now = new Date();
  await tx.authorizationCode.updateMany({
    where: { clientId: client.id, usedAt: null, expiresAt: { gt: now }, scopes: { hasSome: removedScopes } },
    data: { expiresAt: now },
  });
  await narrowGrantsOfClient(tx, client, removedScopes);
}

/**
 * Scopes removed from a client leave its users' grants as well: a grant still
 * holding one would count it as granted when the developer adds it back, and
 * the user would never be asked. Live refresh tokens lose them too, so that no
 * old token family carries them again after a new consent. A grant left with
 * nothing but offline_access is of no use to anyone and ends. Each user's
 * trail says what the developer's change took away. Runs in updateClient's
 * transaction (which revokes the live access tokens through the change feed).
 */
async function narrowGrantsOfClient(tx: DbTx, client: OAuthClient, removed: string[]): Promise<void> {
  const narrowed = await tx.$queryRaw<{ id: string; userId: string; scopes: string[] }[]>`
    UPDATE "Grant" SET "scopes" = ARRAY(SELECT s FROM unnest("scopes") AS s WHERE s <> ALL(${removed}::text[])),
                       "updatedAt" = (now() AT TIME ZONE 'UTC')
    WHERE "clientId" = ${client.id} AND "revokedAt" IS NULL AND "scopes" && ${removed}::text[]
    RETURNING "id", "userId", "scopes"`;
  if (!narrowed.length) return;
  await tx.$executeRaw`
    UPDATE "RefreshToken" SET "scopes" = ARRAY(SELECT s FROM unnest("scopes") AS s WHERE s <> ALL(${removed}::text[]))
    WHERE "grantId" = ANY(${narrowed.map((g) => g.id)}::text[]) AND "revokedAt" IS NULL AND "rotatedAt" IS NULL
      AND "scopes" && ${removed}::text[]`;
  await recordAudits(
    tx,
    narrowed.map((g) => ({
      action: "grant.updated" as const,
      userId: g.userId,
      clientId: client.id,
      grantId: g.id,
      detail: `the developer removed ${removed.join(" ")} from the app; scopes: ${g.scopes.join(" ") || "none"}`,
    })),
  );
  for (const g of narrowed) {
    if (g.scopes.every((s) => s === "offline_access")) await revokeGrant(tx, g.id, "the developer removed every permission it had");
  }
}

/**
 * Gives a confidential client a new secret, returned here once (only its hash
 * is kept). With no grace period the old secret stops at once; with one, the
 * old secret keeps working until it ends. A secret older than the one being
 * replaced (from an earlier rotation) stops at once either way.
 */
export async function rotateClientSecret(
  prisma: Db,
  owner: ClientOwner,
  clientId: string,
  gracePeriodSeconds?: number | null,
): Promise<{ client: OAuthClient; clientSecret: string }> {
  const grace = gracePeriodSchema.safeParse(gracePeriodSeconds ?? 0);
  if (!grace.success) {
    throw invalidInput("gracePeriodSeconds", `gracePeriodSeconds ${grace.error.issues[0]!.message}`);
  }
  const graceSeconds = grace.data;

  return transaction(prisma, async (tx) => {
    const client = await findOwnedClient(tx, owner, clientId);
    if (client.revokedAt) throw revokedError();
    if (client.type !== "CONFIDENTIAL" || !client.secretHash) {
      throw invalidInput("clientId", "Public clients have no secret to rotate.");
    }
    const secret = newClientSecret();
    const now = new Date();
    const expiresAt = graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : null;
    // Guarded by the secret it replaces: of two concurrent rotations one wins, and
    // the other is told to try again instead of handing out a secret that never works.
    const { count } = await tx.oAuthClient.updateMany({
      where: { id: client.id, revokedAt: null, secretHash: client.secretHash },
      data: {
        secretHash: secret.hash,
        secretHint: secret.hint,
        previousSecretHash: expiresAt ? client.secretHash : null,
        previousSecretExpiresAt: expiresAt,
      },
    });
    if (count === 0) {
      throw invalidInput("clientId", "The client changed while its secret was being rotated; try again.");
    }
    // Instances holding the client in memory must stop accepting the old secret now.
    await recordChange(tx, { kind: "client.changed", subject: client.id, clientId: client.clientId, expiresAt: revocationRuleExpiry() });
    await recordAudit(tx, {
      action: "client.secret_rotated",
      userId: owner.id,
      clientId: client.id,
      detail: expiresAt
        ? `secret rotated; the old secret works until ${expiresAt.toISOString()} (grace period ${graceSeconds}s)`
        : "secret rotated; the old secret stopped working at once",
    });
    return { client: await tx.oAuthClient.findUniqueOrThrow({ where: { id: client.id } }), clientSecret: secret.secret };
  });
}

/**
 * Switches a client off for good: it can no longer authenticate or start an
 * authorization, every grant ends (with its refresh tokens, access tokens and
 * unused codes), and every other access token of the client (client_credentials
 * ones) is revoked, so each fails on its next use. The client stays listed,
 * marked revoked. Idempotent: revoking again changes nothing and writes no event.
 */
export async function revokeClient(prisma: Db, owner: ClientOwner, clientId: string): Promise<OAuthClient> {
  return transaction(
    prisma,
    async (tx) => {
      const client = await findOwnedClient(tx, owner, clientId);
      await endClient(tx, client, { userId: owner.id, reason: "the developer revoked the client" });
      return tx.oAuthClient.findUniqueOrThrow({ where: { id: client.id } });
    },
    { timeout: 60_000 },
  );
}

/**
 * revokeClient's work on a client already found, in its transaction (a
 * transaction() from src/db/changes.ts): also how a self-registered client's
 * RFC 7592 delete ends it. `reason` is what the users' trails say ended their
 * grants; `userId` is whose trail records the revocation itself (null: no
 * one's, for a client owned by no one). Returns whether this call revoked it
 * (false: it already was).
 */
export async function endClient(tx: DbTx, client: OAuthClient, actor: { userId: string | null; reason: string }): Promise<boolean> {
  const now = new Date();
  const first = (await tx.oAuthClient.updateMany({ where: { id: client.id, revokedAt: null }, data: { revokedAt: now } })).count === 1;
  // Swept on every call: cheap when nothing is left, and it closes any race with a grant made meanwhile.
  const grants = await tx.grant.findMany({ where: { clientId: client.id, revokedAt: null }, select: { id: true } });
  for (const grant of grants) await revokeGrant(tx, grant.id, actor.reason);
  await tx.authorizationCode.updateMany({ where: { clientId: client.id, usedAt: null }, data: { usedAt: now } });
  if (first) {
    // Every access token of the client, client_credentials ones included, ends with it.
    await recordChange(tx, {
      kind: "client.revoked",
      subject: client.id,
      clientId: client.clientId,
      expiresAt: revocationRuleExpiry(),
    });
    await recordAudit(tx, {
      action: "client.revoked",
      userId: actor.userId,
      clientId: client.id,
      detail: `client "${client.name}" revoked: ${grants.length} grant(s) ended, and every access token of the client`,
    });
  }
  return first;
}
