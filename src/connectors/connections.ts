import { recordAudit } from "../audit/audit.ts";
import type { Db } from "../db/index.ts";
import type { ProviderConnection } from "../generated/prisma/client.ts";
import { DomainError, notFound } from "../lib/errors.ts";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import type { Logger } from "../lib/log.ts";
import { KEY_ENCRYPTION_LABEL, sealContext } from "./flow.ts";
import { type ProviderClient, ProviderError } from "./provider-client.ts";

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
  logger?: Pick<Logger, "warn">;
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

async function refresh(db: Db, connectors: Connectors, client: ProviderClient, row: ProviderConnection): Promise<string> {
  const context = sealContext(row.userId, row.provider);
  const refreshToken = connectors.keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.refreshToken!, context);
  let tokens: Awaited<ReturnType<ProviderClient["refresh"]>>;
  try {
    tokens = await client.refresh(refreshToken);
  } catch (err) {
    // Only a refusal means the grant is gone; a provider that is down may answer later.
    if (err instanceof ProviderError && err.kind === "refused") {
      await markNeedsReconnect(db, row, client, err.message);
      throw new ReconnectNeededError(client.provider.name);
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
  return tokens.accessToken;
}

async function markNeedsReconnect(db: Db, row: ProviderConnection, client: ProviderClient, reason: string): Promise<void> {
  await db.$transaction(async (tx) => {
    const { count } = await tx.providerConnection.updateMany({
      where: { id: row.id, status: "active" },
      data: { status: "needs_reconnect" },
    });
    if (count === 0) return;
    await recordAudit(tx, {
      action: "connection.refresh_failed",
      userId: row.userId,
      detail: `${client.provider.name} (${row.provider}): ${reason}; connect again to resume`,
    });
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
