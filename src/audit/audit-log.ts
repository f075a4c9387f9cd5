import type { DbTx } from "../db/index.ts";
import type { AuditEvent, OAuthClient, Prisma } from "../generated/prisma/client.ts";

/**
 * A user's audit trail, read-only: newest first, in pages, optionally for one
 * app. Used by viewer.auditLog, /account/activity and the data export. Nothing
 * here (or anywhere) edits or deletes audit events.
 *
 * A user's trail is the events recorded about them (AuditEvent.userId): their
 * grants, the tokens and reads and writes of their apps, and, as a developer,
 * their own clients. When a developer revokes an app, each connected user's
 * trail gets the grant.revoked of their own grant, with the reason.
 */

export type AuditEventWithClient = AuditEvent & { client: Pick<OAuthClient, "id" | "clientId" | "name" | "environment"> | null };

export class AuditCursorError extends Error {}

export function encodeAuditCursor(event: Pick<AuditEvent, "at" | "id">): string {
  return Buffer.from(JSON.stringify([event.at.toISOString(), event.id])).toString("base64url");
}

/** Throws AuditCursorError for anything that is not a cursor from encodeAuditCursor. */
export function decodeAuditCursor(cursor: string): { at: Date; id: string } {
  if (cursor.length <= 200) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === "string" && typeof parsed[1] === "string") {
        const at = new Date(parsed[0]);
        if (!Number.isNaN(at.getTime()) && parsed[1].length <= 64) return { at, id: parsed[1] };
      }
    } catch {
      // fall through
    }
  }
  throw new AuditCursorError("after is not a cursor from this audit log.");
}

/** The `where` of a user's trail; `clientRowId` narrows it to one app. */
export function auditTrailWhere(userId: string, filter: { clientRowId?: string } = {}): Prisma.AuditEventWhereInput {
  return filter.clientRowId === undefined ? { userId } : { userId, clientId: filter.clientRowId };
}

export interface AuditPage {
  events: AuditEventWithClient[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Resolves a public client_id for the filter: null when there is no such client. */
export async function clientRowIdOf(db: DbTx, clientId: string): Promise<string | null> {
  if (!clientId || clientId.length > 200) return null;
  const row = await db.oAuthClient.findUnique({ where: { clientId }, select: { id: true } });
  return row?.id ?? null;
}

/** One page of the user's trail, newest first, strictly after `after`. */
export async function auditTrailPage(
  db: DbTx,
  userId: string,
  opts: { first: number; after?: string | null; clientId?: string | null },
): Promise<AuditPage> {
  const take = opts.first;
  const cursor = opts.after ? decodeAuditCursor(opts.after) : null;
  let clientRowId: string | undefined;
  if (opts.clientId !== undefined && opts.clientId !== null) {
    // An unknown app has no events (the same answer as an app with none: nothing to learn by probing).
    const found = await clientRowIdOf(db, opts.clientId);
    if (!found) return { events: [], hasNextPage: false, endCursor: null };
    clientRowId = found;
  }
  const where: Prisma.AuditEventWhereInput = auditTrailWhere(userId, { clientRowId });
  if (cursor) where.OR = [{ at: { lt: cursor.at } }, { at: cursor.at, id: { lt: cursor.id } }];
  const rows = await db.auditEvent.findMany({
    where,
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: take + 1,
    include: { client: { select: { id: true, clientId: true, name: true, environment: true } } },
  });
  const events = rows.slice(0, take);
  return {
    events,
    hasNextPage: rows.length > take,
    endCursor: events.length ? encodeAuditCursor(events.at(-1)!) : null,
  };
}

/** The apps that appear in a user's trail or among their grants, for a filter list (by name). */
export async function auditTrailApps(
  db: DbTx,
  userId: string,
): Promise<Pick<OAuthClient, "id" | "clientId" | "name" | "environment">[]> {
  const events = await db.auditEvent.findMany({
    where: { userId, clientId: { not: null } },
    select: { clientId: true },
    distinct: ["clientId"],
  });
  const grants = await db.grant.findMany({ where: { userId }, select: { clientId: true }, distinct: ["clientId"] });
  const all = [...new Set([...events.map((r) => r.clientId!), ...grants.map((g) => g.clientId)])];
  if (!all.length) return [];
  return db.oAuthClient.findMany({
    where: { id: { in: all } },
    select: { id: true, clientId: true, name: true, environment: true },
    orderBy: [{ name: "asc" }, { createdAt: "asc" }],
  });
}
