import type { DbTx } from "../db/index.ts";
import type { AuditEvent, OAuthClient, Prisma } from "../generated/prisma/client.ts";
import { decodeOptionalCursor, pageOf, type Position } from "../lib/cursor.ts";

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

/** A bad `after`: the shared cursor codec's error, under the name callers already use. */

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

const CLIENT_SUMMARY = { select: { id: true, clientId: true, name: true, environment: true } } as const;

/**
 * Up to `limit` events of the user's trail, newest first, strictly after the
 * position `after` (from the shared cursor codec); `clientId` keeps one app's.
 * The rows are bare: GraphQL loads their client with the fields a query selects.
 */
export async function auditTrailRows(
  db: DbTx,
  userId: string,
  opts: { limit: number; after: Position | null; clientId?: string | null },
): Promise<AuditEvent[]> {
  const args = await trailQuery(db, userId, opts);
  return args ? db.auditEvent.findMany(args) : [];
}

/** One page of the user's trail, newest first, strictly after `after`, each event with its app. */
export async function auditTrailPage(
  db: DbTx,
  userId: string,
  opts: { first: number; after?: string | null; clientId?: string | null },
): Promise<AuditPage> {
  const after = decodeOptionalCursor(opts.after);
  const args = await trailQuery(db, userId, { limit: opts.first + 1, after, clientId: opts.clientId });
  const rows = args ? await db.auditEvent.findMany({ ...args, include: { client: CLIENT_SUMMARY } }) : [];
  const page = pageOf(rows, opts.first, (event) => event);
  return { events: page.rows.map((r) => r.row), hasNextPage: page.hasNextPage, endCursor: page.endCursor };
}

/** The findMany arguments of a page; null when the app filter names no client (no events, nothing to learn by probing). */
async function trailQuery(
  db: DbTx,
  userId: string,
  opts: { limit: number; after: Position | null; clientId?: string | null },
): Promise<Prisma.AuditEventFindManyArgs | null> {
  let clientRowId: string | undefined;
  if (opts.clientId !== undefined && opts.clientId !== null) {
    const found = await clientRowIdOf(db, opts.clientId);
    if (!found) return null;
    clientRowId = found;
  }
  const where: Prisma.AuditEventWhereInput = auditTrailWhere(userId, { clientRowId });
  const { after } = opts;
  if (after) where.OR = [{ at: { lt: after.at } }, { at: after.at, id: { lt: after.id } }];
  return { where, orderBy: [{ at: "desc" }, { id: "desc" }], take: opts.limit };
}

/** The apps that appear in a user's trail or among their grants, for a filter list (by name). */
export async function auditTrailApps(db: DbTx, userId: string): Promise<Pick<OAuthClient, "id" | "clientId" | "name" | "environment">[]> {
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
