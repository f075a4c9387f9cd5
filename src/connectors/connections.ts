import { recordAudit } from "../audit/audit.ts";
import type { Db, DbTx } from "../db/index.ts";
import type { ProviderConnection } from "../generated/prisma/client.ts";
import { DomainError, notFound } from "../lib/errors.ts";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import type { Logger } from "../lib/log.ts";
import { KEY_ENCRYPTION_LABEL, sealContext } from "./flow.ts";
import type { ProviderClient } from "./provider-client.ts";

/**
 * Users' connections to providers, for the importers to come and for the
 * user's own view: a live access token on demand (refreshed when near expiry),
 * the list, and disconnecting (revoking at the provider when it can).
 */

/** A token this close to its expiry is refreshed before it is handed out. */
export const REFRESH_MARGIN_MS = 60_000;

export interface Connectors {
  /** the configured providers' clients, by slug */
  clients: ReadonlyMap<string, ProviderClient>;
  keyEncryption: KeyEncryption;
  logger?: Pick<Logger, "warn" | "info">;
  /**
   * Several instances may share the database (PostgreSQL): a refresh then holds
   * the connection's row lock, so that two instances never spend one refresh
   * token (a provider that rotates them takes a second use for theft and ends
   * the grant). The embedded database has one instance: the in-process sharing
   * below suffices, and its one connection is not held during a provider call.
   */
  lockRefreshInDatabase?: boolean;
}

/** The connection needs the user to connect again (the provider refused a refresh), or does not exist. */
export class ReconnectNeededError extends DomainError {
  constructor(provider: string) {
    super("unavailable", `The connection to ${provider} must be made again by the user.`);
    this.name = "ReconnectNeededError";
  }
}

export function listConnections(db: Db, userId: string): Promise<ProviderConnection[]> {
  return db.providerConnection.findMany({ where: { userId }, orderBy: [{ connectedAt: "desc" }, { id: "asc" }] });
}

// Callers in this process that ask at once share one refresh: a provider that
// rotates refresh tokens would take a second use of the old one for theft.
const refreshing = new Map<string, Promise<string>>();

/**
 * A live access token at `provider` for the user. Refreshes it when it expires
 * within a minute; a provider that refuses the refresh marks the connection
 * needs_reconnect (in the user's audit trail) and this throws ReconnectNeededError.
 */
export async function accessTokenFor(db: Db, connectors: Connectors, userId: string, provider: string, now = new Date()): Promise<string> {
  const client = connectors.clients.get(provider);
  const row = await db.providerConnection.findUnique({ where: { userId_provider: { userId, provider } } });
  if (!client || !row) throw notFound("Connection");
  if (row.status !== "active") throw new ReconnectNeededError(client.provider.name);
  const context = sealContext(userId, provider);
  const fresh = row.accessTokenExpiresAt === null || row.accessTokenExpiresAt.getTime() - now.getTime() > REFRESH_MARGIN_MS;
  if (fresh) return connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.accessToken, context);
  if (!row.refreshToken) {
    await markNeedsReconnect(db, row, client, "the access token expired and the provider gave no refresh token");
    throw new ReconnectNeededError(client.provider.name);
  }
  let pending = refreshing.get(row.id);
  if (!pending) {
    pending = refresh(db, connectors, client, row).finally(() => refreshing.delete(row.id));
    refreshing.set(row.id, pending);
  }
  return pending;
}

type RefreshOutcome = { kind: "token"; accessToken: string } | { kind: "reconnect" };

async function refresh(db: Db, connectors: Connectors, client: ProviderClient, row: ProviderConnection): Promise<string> {
  let outcome: RefreshOutcome;
  if (connectors.lockRefreshInDatabase) {
    outcome = await db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 AS locked FROM "ProviderConnection" WHERE "id" = ${row.id} FOR UPDATE`;
        const current = await tx.providerConnection.findUnique({ where: { id: row.id } });
        if (!current) throw notFound("Connection");
        if (current.status !== "active") return { kind: "reconnect" } as const;
        // Another instance refreshed while this one waited for the lock: its token is the one to use.
        if (current.refreshToken !== row.refreshToken || current.accessToken !== row.accessToken) {
          const context = sealContext(row.userId, row.provider);
          return {
            kind: "token",
            accessToken: connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, current.accessToken, context),
          } as const;
        }
        return refreshRow(tx, connectors, client, current);
      },
      // The provider call happens under the lock (its own timeout is 10 s).
      { timeout: 30_000, maxWait: 30_000 },
    );
  } else {
    outcome = await refreshRow(db, connectors, client, row);
  }
  if (outcome.kind === "reconnect") throw new ReconnectNeededError(client.provider.name);
  return outcome.accessToken;
}

async function refreshRow(db: DbTx, connectors: Connectors, client: ProviderClient, row: ProviderConnection): Promise<RefreshOutcome> {
  const context = sealContext(row.userId, row.provider);
  const refreshToken = connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.refreshToken!, context);
  let tokens: Awaited<ReturnType<ProviderClient["refresh"]>>;
  try {
    tokens = await client.refresh(refreshToken);
  } catch (err) {
    // Only a refusal means the grant is gone; a provider that is down may answer later.
    if (err instanceof DomainError && err.reason === "provider_refused") {
      await markNeedsReconnect(db, row, client, err.message);
      return { kind: "reconnect" };
    }
    throw err;
  }
  const now = new Date();
  // Only over the row it was refreshed from: a disconnect meanwhile wins.
  const { count } = await db.providerConnection.updateMany({
    where: { id: row.id, refreshToken: row.refreshToken },
    data: {
      accessToken: connectors.keyEncryption.seal(KEY_ENCRYPTION_LABEL, tokens.accessToken, context),
      // A provider that does not rotate keeps the old one working.
      ...(tokens.refreshToken ? { refreshToken: connectors.keyEncryption.seal(KEY_ENCRYPTION_LABEL, tokens.refreshToken, context) } : {}),
      accessTokenExpiresAt: tokens.expiresAt,
      ...(tokens.scopes ? { scopes: tokens.scopes } : {}),
      lastRefreshedAt: now,
    },
  });
  if (count === 0) throw notFound("Connection");
  return { kind: "token", accessToken: tokens.accessToken };
}

/** Marks the connection needs_reconnect, in the user's audit trail (in the caller's transaction, under the lock, when it has one). */
async function markNeedsReconnect(db: DbTx, row: ProviderConnection, client: ProviderClient, reason: string): Promise<void> {
  const { count } = await db.providerConnection.updateMany({
    where: { id: row.id, status: "active" },
    data: { status: "needs_reconnect" },
  });
  if (count === 0) return;
  await recordAudit(db, {
    action: "connection.refresh_failed",
    userId: row.userId,
    detail: `${client.provider.name} (${row.provider}): ${reason}; connect again to resume`,
  });
}

/**
 * Removes the user's connection to `provider`, after revoking its tokens at the
 * provider when it offers RFC 7009 (best effort: a provider that is down does
 * not keep the user connected here). Returns the removed connection.
 */
export async function disconnectProvider(
  db: Db,
  connectors: Connectors,
  userId: string,
  provider: string,
  reason = "disconnected by the user",
): Promise<ProviderConnection> {
  const row = await db.providerConnection.findUnique({ where: { userId_provider: { userId, provider } } });
  if (!row) throw notFound("Connection");
  const client = connectors.clients.get(provider);
  let revoked = "not revoked at the provider (it is no longer configured)";
  if (client) revoked = await revokeAtProvider(connectors, client, row);
  await db.$transaction(async (tx) => {
    await tx.providerConnection.deleteMany({ where: { id: row.id } });
    await recordAudit(tx, {
      action: "connection.removed",
      userId,
      detail: `${client?.provider.name ?? provider} (${provider}): ${reason}; ${revoked}`,
    });
  });
  return row;
}

/**
 * Connections already deleted with the account (src/accounts/deletion.ts, in its
 * transaction): their tokens revoked at each provider that offers it, best
 * effort, and each in the user's audit trail.
 */
export async function revokeDeletedConnections(db: Db, connectors: Connectors, rows: ProviderConnection[], reason: string): Promise<void> {
  for (const row of rows) {
    const client = connectors.clients.get(row.provider);
    const revoked = client ? await revokeAtProvider(connectors, client, row) : "not revoked at the provider (it is no longer configured)";
    await recordAudit(db, {
      action: "connection.removed",
      userId: row.userId,
      detail: `${client?.provider.name ?? row.provider} (${row.provider}): ${reason}; ${revoked}`,
    });
  }
}

async function revokeAtProvider(connectors: Connectors, client: ProviderClient, row: ProviderConnection): Promise<string> {
  const context = sealContext(row.userId, row.provider);
  try {
    // The refresh token first: revoking it ends the access tokens of its grant at most providers.
    const offered = row.refreshToken
      ? await client.revoke(connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.refreshToken, context), "refresh_token")
      : await client.revoke(connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.accessToken, context), "access_token");
    if (offered && row.refreshToken) {
      await client.revoke(connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.accessToken, context), "access_token");
    }
    return offered ? "revoked at the provider" : "the provider offers no revocation";
  } catch (err) {
    connectors.logger?.warn({ provider: row.provider, err: (err as Error).message }, "revoking a connection at the provider failed");
    return `revoking at the provider failed (${(err as Error).message})`;
  }
}

/**
 * After KEY_ENCRYPTION_SECRET was rotated (the old one in
 * KEY_ENCRYPTION_SECRET_PREVIOUS): seals every connection's tokens again under
 * the current secret, at start-up, as the signing keys and webhook secrets are,
 * so that the previous secret can be dropped once every instance has restarted.
 * What neither secret opens is left and logged (the user connects again); the
 * server still starts. Flows in progress (minutes long) sealed under another
 * secret are dropped: the user starts again.
 */
export async function resealConnectorSecrets(
  db: Db,
  keyEncryption: KeyEncryption,
  logger?: Pick<Logger, "info" | "warn">,
): Promise<number> {
  const stale = (sealed: string | null) => sealed !== null && !keyEncryption.isCurrent(sealed);
  let resealed = 0;
  // Only the rows sealed under another secret: every start runs this, and after a rotation is done there are none.
  const current = keyEncryption.currentPrefix;
  const rows = await db.providerConnection.findMany({
    where: {
      OR: [
        { NOT: { accessToken: { startsWith: current } } },
        { refreshToken: { not: null }, NOT: { refreshToken: { startsWith: current } } },
      ],
    },
    select: { id: true, userId: true, provider: true, accessToken: true, refreshToken: true },
  });
  for (const row of rows) {
    if (!stale(row.accessToken) && !stale(row.refreshToken)) continue;
    const context = sealContext(row.userId, row.provider);
    try {
      const reseal = (sealed: string) => keyEncryption.reseal(KEY_ENCRYPTION_LABEL, sealed, context);
      const { count } = await db.providerConnection.updateMany({
        // Only if no refresh changed it meanwhile.
        where: { id: row.id, accessToken: row.accessToken, refreshToken: row.refreshToken },
        data: { accessToken: reseal(row.accessToken), refreshToken: row.refreshToken === null ? null : reseal(row.refreshToken) },
      });
      resealed += count;
    } catch (err) {
      logger?.warn(
        { provider: row.provider, connectionId: row.id },
        `a provider connection's tokens were left as they are (${(err as Error).message}): set KEY_ENCRYPTION_SECRET_PREVIOUS ` +
          "to the secret they were sealed under, or the user connects again",
      );
    }
  }
  await db.connectorState.deleteMany({ where: { NOT: { codeVerifier: { startsWith: current } } } });
  if (resealed) logger?.info({ connections: resealed }, "sealed provider connection tokens under the current KEY_ENCRYPTION_SECRET");
  return resealed;
}
