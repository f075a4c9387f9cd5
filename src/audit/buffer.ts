import { randomUUID } from "node:crypto";
import type { Db, Sql } from "../db/index.ts";
import type { Logger } from "../lib/log.ts";
import { UnavailableError } from "../lib/errors.ts";
import type { AuditEntry } from "./audit.ts";

const FLUSH_EVERY_MS = 500;
const LAST_USED_RESOLUTION_MS = 60_000;
/** Events held at most; past it, requests that would add one are refused (503) instead of losing it. */
export const AUDIT_BUFFER_MAX = 20_000;

/**
 * Reads and issued tokens are audited off the request's critical path, in
 * batches (one multi-row insert), at most about half a second late and at
 * shutdown; a grant's lastUsedAt moves at most once a minute. A crash of the
 * process loses what was not yet written (docs/tokens.md). Writes, grants and
 * revocations are audited in their own transactions (recordAudit) instead.
 *
 * Bounded: while the database does not take the events, they are kept and
 * retried; once AUDIT_BUFFER_MAX are waiting (a write in progress included), assertRoom() refuses new
 * requests with 503, so no event is dropped. A request checks for room before
 * it does its work and pushes after, so the bound can be passed by what the
 * requests already admitted add (a few events each).
 */
export class AuditBuffer {
  private events: (AuditEntry & { at: Date })[] = [];
  private grantsUsed = new Map<string, Date>();
  /**
   * When each grant's lastUsedAt was last written, to write it at most once a
   * minute. Entries a minute old throttle nothing any more and are dropped (at
   * most once a minute, on a flush), so this holds the grants used in the last
   * minute or two, not every grant seen since the process started.
   */
  private lastUsedWritten = new Map<string, number>();
  private lastUsedPrunedAt = 0;
  /** events taken by a write that has not finished: still held, and put back if it fails */
  private writing = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly max: number;

  constructor(
    private readonly prisma: Db,
    private readonly sql: Sql,
    private readonly logger: Logger,
    options: { /** events held at most (tests use a small one) */ max?: number } = {},
  ) {
    this.max = options.max ?? AUDIT_BUFFER_MAX;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  /** Throws UnavailableError (503) when the buffer is full. Call before doing work that will push. */
  assertRoom(): void {
    // A write in progress counts: its events come back if it fails, so the buffer
    // would otherwise take another max on each failed write while the database is down.
    if (this.pending() >= this.max) {
      throw new UnavailableError("The audit trail cannot be written right now; try again shortly.", 2);
    }
  }

  /** Events waiting to be written (those of a write in progress included). */
  pending(): number {
    return this.events.length + this.writing;
  }

  push(entry: AuditEntry): void {
    this.events.push({ ...entry, at: new Date() });
  }

  grantUsed(grantId: string): void {
    const last = this.lastUsedWritten.get(grantId) ?? 0;
    if (Date.now() - last >= LAST_USED_RESOLUTION_MS) this.grantsUsed.set(grantId, new Date());
  }

  /** Writes what is pending; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Grants whose last lastUsedAt write is remembered (at most those written in the last two minutes). */
  lastUsedTracked(): number {
    return this.lastUsedWritten.size;
  }

  private forgetOldLastUsed(now: number): void {
    if (now - this.lastUsedPrunedAt < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedPrunedAt = now;
    for (const [grantId, at] of this.lastUsedWritten) {
      if (now - at >= LAST_USED_RESOLUTION_MS) this.lastUsedWritten.delete(grantId);
    }
  }

  private async write(): Promise<void> {
    this.forgetOldLastUsed(Date.now());
    const events = this.events;
    const grants = this.grantsUsed;
    if (!events.length && !grants.size) return;
    this.events = [];
    this.grantsUsed = new Map();
    this.writing = events.length;
    let unwritten = events;
    try {
      if (events.length) {
        // One statement whatever the batch size: column arrays, unnested. (Prisma's
        // createMany cost more CPU per row than the database does.)
        await this.sql(
          `INSERT INTO "AuditEvent" ("id", "at", "action", "userId", "clientId", "grantId", "detail")
           SELECT id, at AT TIME ZONE 'UTC', action, "userId", "clientId", "grantId", detail
           FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
             AS e(id, at, action, "userId", "clientId", "grantId", detail)`,
          [
            events.map(() => randomUUID()),
            events.map((e) => e.at.toISOString()),
            events.map((e) => e.action),
            events.map((e) => e.userId ?? null),
            events.map((e) => e.clientId ?? null),
            events.map((e) => e.grantId ?? null),
            events.map((e) => e.detail?.slice(0, 1000) ?? null),
          ],
        );
      }
      // Written: a failure below (lastUsedAt) must not write them a second time.
      unwritten = [];
      this.writing = 0;
      for (const [grantId, at] of grants) {
        const threshold = new Date(at.getTime() - LAST_USED_RESOLUTION_MS);
        await this.prisma.grant.updateMany({
          where: { id: grantId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: threshold } }] },
          data: { lastUsedAt: at },
        });
        this.lastUsedWritten.set(grantId, at.getTime());
      }
    } catch (err) {
      // Put them back: the next flush tries again rather than losing the trail.
      this.events = unwritten.concat(this.events);
      for (const [k, v] of grants) if (!this.grantsUsed.has(k)) this.grantsUsed.set(k, v);
      this.logger.error({ err, pending: this.events.length }, "could not write audit events; will retry");
    } finally {
      this.writing = 0;
    }
  }

  /** Stops the timer and writes everything pending (graceful shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
