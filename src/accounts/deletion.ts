import { randomUUID } from "node:crypto";
import { recordChange, transaction } from "../db/changes.ts";
import type { Db } from "../db/index.ts";
import type { ProviderConnection } from "../generated/prisma/client.ts";
import { revocationRuleExpiry } from "../lib/lifetimes.ts";
import { revokeClient } from "../clients/client-admin.ts";
import { revokeGrant } from "../consent/grants.ts";
import type { PasswordCheckGuard, Refusal } from "./abuse-limits.ts";
import { MAX_PASSWORD_LENGTH } from "./password-rules.ts";
import { verifyPassword } from "./passwords.ts";

export type AccountDeletionResult =
  | {
      ok: true;
      grantsRevoked: number;
      clientsRevoked: number;
      /** the links to other providers, deleted here; the caller revokes them at the providers */
      connections: ProviderConnection[];
    }
  | { ok: false; errors: Partial<Record<"password" | "form", string>> }
  /** too many password guesses for this account or from this address (429 with Retry-After) */
  | { ok: false; limited: Refusal };

/** Not a scrypt hash: verifyPassword() refuses every password against it. */
const NO_PASSWORD = "deleted";

/**
 * Deletes a user's account, after checking their password:
 *
 * - every app they connected is disconnected (revokeGrant: refresh tokens,
 *   access tokens and codes end with it), and the grants are then removed;
 * - every OAuth client they registered is revoked by the developer console's
 *   own revokeClient: it can no longer authenticate or start an authorization,
 *   the grants other users gave it end (each of those users' trails gets a
 *   grant.revoked saying why), and its client_credentials tokens stop working.
 *   Its secret hashes are then wiped. The client row itself stays, revoked, so
 *   that other users' audit trails keep naming the app they had connected;
 * - their health data, workout sessions, GPS points and sign-ins are deleted;
 * - the user row is kept only as an anonymous tombstone (no name, email, birth
 *   date or usable password; the email is free to sign up again), because the
 *   audit trail is append-only: events that involved this user, including the
 *   revocations above, keep pointing at it rather than being deleted or rewritten.
 *   No other user's audit event is touched.
 *
 * The password is a guess like any sign-in: an attempt is reserved in the
 * sign-in's per-account and per-address buckets (`guard`,
 * src/accounts/abuse-limits.ts) before it is hashed, so that no account,
 * however it was made, can have the server check passwords without limit.
 *
 * The clients are revoked first, each in its own transaction (revokeClient's);
 * the rest is one transaction. Revocation is idempotent, so a failure in
 * between leaves the account in place with its clients safely switched off,
 * and trying again finishes the job.
 */
export async function deleteAccount(
  prisma: Db,
  input: { userId: string; password: unknown },
  guard: PasswordCheckGuard,
): Promise<AccountDeletionResult> {
  const password = typeof input.password === "string" ? input.password : "";
  if (!password) return { ok: false, errors: { password: "Enter your password to confirm." } };
  const wrong = { ok: false as const, errors: { password: "That is not your password." } };
  // Too long to be anyone's password (sign-up and sign-in refuse it too): no hash, no count.
  if (password.length > MAX_PASSWORD_LENGTH) return wrong;
  // The session's own user: it is missing only when deleted meanwhile, and then there is nothing to check.
  const user = await prisma.user.findUnique({ where: { id: input.userId }, select: { passwordHash: true, email: true } });
  if (!user) return wrong;
  const attempt = await guard.limits.reservePasswordCheck(user.email, guard.address);
  if (!attempt.ok) return { ok: false, limited: attempt };
  if (!(await verifyPassword(password, user.passwordHash))) return wrong;
  await guard.limits.passwordCheckSucceeded(attempt);

  const owner = await prisma.user.findUniqueOrThrow({ where: { id: input.userId }, select: { id: true, isAdmin: true } });
  const clients = await prisma.oAuthClient.findMany({ where: { ownerId: input.userId, revokedAt: null }, select: { clientId: true } });
  for (const client of clients) await revokeClient(prisma, owner, client.clientId);

  return transaction(
    prisma,
    async (tx) => {
      // Only the account whose password was just checked (not one deleted or changed meanwhile).
      const still = await tx.user.count({ where: { id: input.userId, passwordHash: user.passwordHash } });
      if (!still) return { ok: false as const, errors: { form: "Your account changed meanwhile. Please try again." } };
      const wiped = await tx.oAuthClient.findMany({ where: { ownerId: input.userId }, select: { id: true, clientId: true } });
      await tx.oAuthClient.updateMany({
        where: { ownerId: input.userId },
        data: { secretHash: null, previousSecretHash: null, previousSecretExpiresAt: null },
      });
      for (const c of wiped) {
        await recordChange(tx, { kind: "client.changed", subject: c.id, clientId: c.clientId, expiresAt: revocationRuleExpiry() });
      }
      // Any token acting for this user ends, whatever issued it.
      await recordChange(tx, { kind: "user.deleted", subject: input.userId, expiresAt: revocationRuleExpiry() });

      const grants = await tx.grant.findMany({ where: { userId: input.userId, revokedAt: null }, select: { id: true } });
      let grantsRevoked = 0;
      for (const g of grants) if (await revokeGrant(tx, g.id, "the user deleted their account")) grantsRevoked++;
      // Grants go with their codes and tokens (cascade); the events above keep their ids.
      await tx.grant.deleteMany({ where: { userId: input.userId } });
      await tx.location.deleteMany({ where: { userId: input.userId } });
      await tx.session.deleteMany({ where: { userId: input.userId } });
      await tx.measurement.deleteMany({ where: { userId: input.userId } });
      await tx.accountSession.deleteMany({ where: { userId: input.userId } });
      // Links to other providers go now; the caller revokes their tokens there afterwards (network, best effort).
      const connections = await tx.providerConnection.findMany({ where: { userId: input.userId } });
      await tx.providerConnection.deleteMany({ where: { userId: input.userId } });
      await tx.connectorState.deleteMany({ where: { userId: input.userId } });
      // Webhook payloads carrying the user's data go with it (sent or not); the grant.revoked
      // the revocations above queued still go out, so that partners stop.
      await tx.webhookDelivery.deleteMany({ where: { userId: input.userId, eventType: { not: "grant.revoked" } } });
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
      return { ok: true as const, grantsRevoked, clientsRevoked: clients.length, connections };
    },
    { timeout: 60_000 },
  );
}
