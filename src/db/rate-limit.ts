import { sha256 } from "../lib/crypto.ts";
import type { Db } from "./client.ts";

/**
 * Abuse limits counted exactly in the database (RateLimitHit): "at most `max`
 * attempts in any `windowSeconds`" per bucket, a sliding window. An attempt is
 * reserved (a row inserted) before the slow or costly work it guards, inside a
 * transaction that holds an advisory lock per bucket, so parallel attempts on
 * one instance or many are counted one after another and never overshoot:
 * with a limit of 10, the 11th of 30 simultaneous attempts is refused. The
 * caller may release a reservation whose attempt turned out not to count (a
 * successful sign-in, a form with an empty field) and clear a bucket.
 *
 * Refused attempts insert nothing, so a bucket holds at most `max` live rows
 * and an attacker who keeps knocking does not push the window forward.
 * Expired rows are deleted as their bucket is touched, and the whole table is
 * pruned now and then in small batches.
 *
 * Used for sign-in and sign-up (src/accounts/abuse-limits.ts); self-registration
 * of clients (RFC 7591) is to take a bucket of its own here.
 */

export interface Limit {
  /** what is limited and for whom; see bucket() */
  bucket: string;
  max: number;
  windowSeconds: number;
}

export type Reservation =
  | { ok: true; ids: bigint[] }
  | {
      ok: false;
      /** the first bucket found full */
      bucket: string;
      /** whole seconds until that bucket has room again (at least 1) */
      retryAfterSeconds: number;
    };

/** A bucket name that does not store what it counts (emails, addresses) in clear. */
export function bucket(policy: string, subject: string): string {
  return `${policy}:${sha256(subject)}`;
}

const PRUNE_BATCH = 1000;

export class RateLimiter {
  private lastPrune = 0;

  constructor(
    private readonly prisma: Db,
    private readonly opts: { pruneEveryMs?: number } = {},
  ) {}

  /** Reserves one attempt in every bucket, or in none when any of them is full. */
  async reserve(limits: readonly Limit[]): Promise<Reservation> {
    // One lock order for every caller: two requests locking the same buckets cannot deadlock.
    const sorted = [...limits].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
    const result = await this.prisma.$transaction(async (tx) => {
      for (const l of sorted) await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended(${l.bucket}, 0))::text AS locked`;
      // The time after the locks are held; UTC, as Prisma stores DateTime.
      const clock = await tx.$queryRaw<{ now: Date }[]>`SELECT (clock_timestamp() AT TIME ZONE 'UTC') AS now`;
      const now = clock[0]!.now;
      const buckets = sorted.map((l) => l.bucket);
      await tx.$executeRaw`DELETE FROM "RateLimitHit" WHERE "bucket" = ANY(${buckets}) AND "expiresAt" <= ${now}`;
      for (const l of sorted) {
        // The max-th newest live row: when it expires the bucket has room again.
        const rows = await tx.$queryRaw<{ expiresAt: Date }[]>`
          SELECT "expiresAt" FROM "RateLimitHit" WHERE "bucket" = ${l.bucket}
          ORDER BY "expiresAt" DESC OFFSET ${l.max - 1} LIMIT 1`;
        if (rows.length) {
          const ms = rows[0]!.expiresAt.getTime() - now.getTime();
          return { ok: false as const, bucket: l.bucket, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
        }
      }
      const ids: bigint[] = [];
      for (const l of sorted) {
        const expiresAt = new Date(now.getTime() + l.windowSeconds * 1000);
        const [row] = await tx.$queryRaw<{ id: bigint }[]>`
          INSERT INTO "RateLimitHit" ("bucket", "at", "expiresAt") VALUES (${l.bucket}, ${now}, ${expiresAt}) RETURNING "id"`;
        ids.push(row!.id);
      }
      return { ok: true as const, ids };
    });
    await this.maybePrune();
    return result;
  }

  /** Gives reserved attempts back (they did not count after all). */
  async release(ids: readonly bigint[]): Promise<void> {
    if (ids.length) await this.prisma.rateLimitHit.deleteMany({ where: { id: { in: [...ids] } } });
  }

  /** Forgets every attempt in a bucket. */
  async clear(bucketName: string): Promise<void> {
    await this.prisma.rateLimitHit.deleteMany({ where: { bucket: bucketName } });
  }

  /** Deletes up to one batch of expired rows; returns how many. */
  async prune(): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM "RateLimitHit" WHERE "id" IN (
        SELECT "id" FROM "RateLimitHit" WHERE "expiresAt" <= (clock_timestamp() AT TIME ZONE 'UTC') LIMIT ${PRUNE_BATCH})`;
  }

  private async maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < (this.opts.pruneEveryMs ?? 60_000)) return;
    this.lastPrune = now;
    await this.prune();
  }
}
