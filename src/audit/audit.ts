import type { DbTx } from "../db/index.ts";

export type AuditAction =
  | "token.issued"
  | "token.revoked"
  | "grant.created"
  | "grant.updated"
  | "grant.revoked"
  | "code.reused"
  | "refresh_token.reused"
  | "client.created"
  | "client.updated"
  | "client.secret_rotated"
  | "client.revoked"
  | "data.read"
  | "data.written"
  /** a webhook delivery carried the user's data to a client's endpoint (src/webhooks/delivery.ts) */
  | "webhook.sent"
  /** a provider account was linked, could not be refreshed, or was unlinked (src/connectors) */
  | "connection.created"
  | "connection.refresh_failed"
  | "connection.removed";

export interface AuditEntry {
  action: AuditAction;
  userId?: string | null;
  /** OAuthClient row id */
  clientId?: string | null;
  grantId?: string | null;
  /** short, secret-free description: scopes, grant type, fields */
  detail?: string | null;
}

/** Appends one event. Pass the transaction that makes the change so both commit or neither. */
export async function recordAudit(db: DbTx, entry: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: {
      action: entry.action,
      userId: entry.userId ?? null,
      clientId: entry.clientId ?? null,
      grantId: entry.grantId ?? null,
      detail: entry.detail?.slice(0, 1000) ?? null,
    },
  });
}

/** Appends many events in one statement (one per grant a change touched), in the caller's transaction. */
export async function recordAudits(db: DbTx, entries: AuditEntry[]): Promise<void> {
  if (!entries.length) return;
  await db.auditEvent.createMany({
    data: entries.map((entry) => ({
      action: entry.action,
      userId: entry.userId ?? null,
      clientId: entry.clientId ?? null,
      grantId: entry.grantId ?? null,
      detail: entry.detail?.slice(0, 1000) ?? null,
    })),
  });
}
