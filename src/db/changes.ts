import type { Db, DbTx } from "./client.ts";

/**
 * The change feed's write side. A change (a revocation, a client or key
 * change) is a row of "ChangeEvent", written in the transaction that makes the
 * change and announced with NOTIFY, which PostgreSQL delivers at commit. The
 * instance that made it applies it to its own in-memory view right after the
 * commit, before it answers; other instances hear the NOTIFY or read it by
 * `seq` (src/db/change-feed.ts).
 */

export type ChangeKind =
  | "token.revoked"
  | "grant.revoked"
  | "grant.narrowed"
  | "client.changed"
  | "client.revoked"
  | "user.deleted"
  | "keys.changed";

export interface Change {
  seq: bigint;
  /** when the change was made (this instance's clock) */
  at: Date;
  kind: ChangeKind;
  subject: string;
  clientId: string | null;
  scopes: string[];
  expiresAt: Date;
}

export type NewChange = Pick<Change, "kind" | "subject" | "expiresAt"> & Partial<Pick<Change, "clientId" | "scopes">>;

export const CHANGE_CHANNEL = "scopegate_changes";

interface TxContext {
  db: Db;
  committed: Change[];
  afterCommit: (() => void)[];
}

const openTransactions = new WeakMap<object, TxContext>();
const listeners = new WeakMap<object, (changes: Change[]) => void>();

/** Who applies this database client's changes in this process (the revocation view). */
export function onLocalChanges(db: Db, listener: (changes: Change[]) => void): void {
  listeners.set(db, listener);
}

/**
 * `db.$transaction` that also hands the changes it recorded to this process's
 * listener once it has committed (never when it rolls back).
 */
export async function transaction<T>(db: Db, fn: (tx: DbTx) => Promise<T>, options?: { timeout?: number }): Promise<T> {
  let context: TxContext | undefined;
  const result = await db.$transaction(async (tx) => {
    // A retried callback starts again with nothing recorded.
    context = { db, committed: [], afterCommit: [] };
    openTransactions.set(tx, context);
    return fn(tx);
  }, options);
  if (context?.committed.length) listeners.get(db)?.(context.committed);
  for (const fn of context?.afterCommit ?? []) fn();
  return result;
}

/**
 * Runs `fn` once the transaction opened with transaction() has committed
 * (never when it rolls back), e.g. to wake a worker for the rows it wrote.
 * Outside such a transaction it does nothing: whoever waits polls as well.
 */
export function afterCommit(tx: DbTx, fn: () => void): void {
  openTransactions.get(tx)?.afterCommit.push(fn);
}

/** Records a change inside a transaction opened with transaction(). */
export async function recordChange(tx: DbTx, change: NewChange): Promise<Change> {
  const context = openTransactions.get(tx);
  if (!context) throw new Error("recordChange needs a transaction opened with transaction() from src/db/changes.ts");
  const row = await tx.changeEvent.create({
    data: {
      at: new Date(),
      kind: change.kind,
      subject: change.subject,
      clientId: change.clientId ?? null,
      scopes: change.scopes ?? [],
      expiresAt: change.expiresAt,
    },
  });
  await tx.$queryRaw`SELECT 1 AS notified FROM pg_notify(${CHANGE_CHANNEL}, ${row.seq.toString()})`;
  const recorded: Change = { ...row, kind: row.kind as ChangeKind };
  context.committed.push(recorded);
  return recorded;
}
