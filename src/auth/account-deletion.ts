import { randomUUID } from "node:crypto";
import type { Db, DbTx } from "../db/index.ts";
import { recordAudit } from "../audit/audit.ts";
import { revokeGrant } from "../oauth/grants.ts";
import { dummyPasswordHash, verifyPassword } from "./passwords.ts";

export type AccountDeletionResult =
  | { ok: true; grantsRevoked: number; clientsRevoked: number }
  | { ok: false; errors: Partial<Record<"password" | "form", string>> };

/** Not a scrypt hash: verifyPassword() refuses every password against it. */
const NO_PASSWORD = "deleted";

/**
 * Deletes a user's account, after checking their password, in one transaction:
 *
 * - every app they connected is disconnected (revokeGrant: refresh tokens,
 *   access tokens and codes end with it), and the grants are then removed;
 * - every OAuth client they registered is revoked the way the developer console
 *   revokes one: it can no longer authenticate or start an authorization, the
 *   grants other users gave it end (each of those users' trails gets a
 *   grant.revoked saying why), and its client_credentials tokens stop working.
 *   Its secret hashes are wiped. The client row itself stays, revoked, so that
 *   other users' audit trails keep naming the app they had connected;
 * - their health data, workout sessions, GPS points and sign-ins are deleted;
 * - the user row is kept only as an anonymous tombstone (no name, email, birth
 *   date or usable password; the email is free to sign up again), because the
 *   audit trail is append-only: events that involved this user, including the
 *   revocations above, keep pointing at it rather than being deleted or rewritten.
 *   No other user's audit event is touched.
 */
export async function deleteAccount(prisma: Db, input: { userId: string; password: unknown }): Promise<AccountDeletionResult> {
  const password = typeof input.password === "string" ? input.password : "";
  if (!password) return { ok: false, errors: { password: "Enter your password to confirm." } };
  const user = await prisma.user.findUnique({ where: { id: input.userId }, select: { passwordHash: true } });
  const ok = password.length <= 200 && (await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash())));
  if (!user || !ok) return { ok: false, errors: { password: "That is not your password." } };

  return prisma.$transaction(
    async (tx) => {
      // Only the account whose password was just checked (not one deleted or changed meanwhile).
      const still = await tx.user.count({ where: { id: input.userId, passwordHash: user.passwordHash } });
      if (!still) return { ok: false as const, errors: { form: "Your account changed meanwhile. Please try again." } };
      const clientsRevoked = await revokeOwnedClients(tx, input.userId);

      const grants = await tx.grant.findMany({ where: { userId: input.userId }, select: { id: true, revokedAt: true } });
      let grantsRevoked = 0;
      for (const g of grants) {
        if (!g.revokedAt && (await revokeGrant(tx, g.id, "the user deleted their account"))) grantsRevoked++;
      }
      // Grants go with their codes and tokens (cascade); the events above keep their ids.
      await tx.grant.deleteMany({ where: { userId: input.userId } });
      await tx.location.deleteMany({ where: { userId: input.userId } });
      await tx.session.deleteMany({ where: { userId: input.userId } });
      await tx.measurement.deleteMany({ where: { userId: input.userId } });
      await tx.accountSession.deleteMany({ where: { userId: input.userId } });
      await tx.user.update({
        where: { id: input.userId },
        data: {
          email: `deleted-${randomUUID()}@deleted.invalid`,
          name: "Deleted account",
          birthDate: null,
          passwordHash: NO_PASSWORD,
          isAdmin: false,
        },
      });
      return { ok: true as const, grantsRevoked, clientsRevoked };
    },
    { timeout: 60_000 },
  );
}

/** Revokes every live client the user owns, with everything hanging off it. Returns how many. */
async function revokeOwnedClients(tx: DbTx, ownerId: string): Promise<number> {
  const clients = await tx.oAuthClient.findMany({ where: { ownerId }, select: { id: true, name: true, revokedAt: true } });
  const now = new Date();
  let revoked = 0;
  for (const client of clients) {
    await tx.oAuthClient.update({
      where: { id: client.id },
      data: { revokedAt: client.revokedAt ?? now, secretHash: null, previousSecretHash: null, previousSecretExpiresAt: null },
    });
    const grants = await tx.grant.findMany({ where: { clientId: client.id, revokedAt: null }, select: { id: true } });
    for (const g of grants) await revokeGrant(tx, g.id, "the developer revoked the client (their account was deleted)");
    const tokens = await tx.accessToken.updateMany({ where: { clientId: client.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.authorizationCode.updateMany({ where: { clientId: client.id, usedAt: null }, data: { usedAt: now } });
    if (!client.revokedAt) {
      revoked++;
      await recordAudit(tx, {
        action: "client.revoked",
        userId: ownerId,
        clientId: client.id,
        detail: `client revoked because its owner deleted their account: ${grants.length} grant(s) ended, ${tokens.count} other access token(s) revoked`,
      });
    }
  }
  return revoked;
}
