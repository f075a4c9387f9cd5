import { randomInt } from "node:crypto";
import { sha256 } from "../lib/crypto.ts";
import type { Db } from "./client.ts";

/**
 * Abuse limits counted exactly in the database (RateLimitBucket): "at most
 * `max` attempts in any `windowSeconds`" per bucket, a sliding window. An
 * attempt is reserved before the slow or costly work it guards, by one
 * conditional upsert on the bucket's row: it appends the attempt's expiry only
 * while fewer than `max` unexpired ones are there. PostgreSQL locks the row for
 * the statement and evaluates the condition on its latest version, so parallel
 * attempts on one instance or many take turns and never overshoot: with a
 * limit of 10, the 11th of 30 simultaneous attempts is refused. One statement,
 * no transaction held open: a burst does not tie up the connection pool.
 *
 * Refused attempts record nothing, so a bucket holds at most `max` live
 * entries and an attacker who keeps knocking does not push the window
 * forward. The caller may release a reservation whose attempt turned out not
 * to count (a successful sign-in, a form with an empty field) and clear a
 * bucket. Expired entries are dropped whenever their bucket is written, and
 * rows whose entries have all expired are pruned now and then in batches.
 *
 * Used for sign-in and sign-up (src/accounts/abuse-limits.ts) and for
 * self-registration of clients per address (src/clients/dynamic-registration.ts).
 */

export interface Limit {
  /** what is limited and for whom; see bucket() */
  bucket: string;
  max: number;
  windowSeconds: number;
}

/** One reserved attempt: its entry in its bucket. */
export interface Held {
  bucket: string;
  entry: bigint;
}

export type Reservation =
  | { ok: true; held: Held[] }
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

// An entry is its attempt's expiry in epoch milliseconds times this, plus a random tag below it, so that
// entries sort by expiry and releasing one attempt removes that attempt's entry and no other.
const TAG = 1_000_000;
const PRUNE_BATCH = 1000;

export class RateLimiter {
  private lastPrune = 0;

  constructor(
    private readonly prisma: Db,
    private readonly opts: { pruneEveryMs?: number } = {},
  ) {}

  /**
   * Reserves one attempt in every bucket, or in none when any of them is full
   * (buckets are taken in one order, and given back when a later one is full).
   */
  async reserve(limits: readonly Limit[]): Promise<Reservation> {
    const sorted = [...limits].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
    const held: Held[] = [];
    for (const l of sorted) {
      const entry = await this.take(l);
      if (entry === null) {
        await this.release(held);
        return { ok: false, bucket: l.bucket, retryAfterSeconds: await this.retryAfter(l) };
      }
      held.push({ bucket: l.bucket, entry });
    }
    await this.maybePrune();
    return { ok: true, held };
  }

  private async take(l: Limit): Promise<bigint | null> {
    const windowMs = l.windowSeconds * 1000;
    const tag = randomInt(0, TAG);
    // "now" is the database's clock, the same for every instance. An entry is live while entry > now * TAG + TAG - 1.
    const rows = await this.prisma.$queryRaw<{ entry: bigint }[]>`
      WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms)
      INSERT INTO "RateLimitBucket" AS b ("bucket", "hits", "expiresAt")
      SELECT ${l.bucket}, ARRAY[(t.now_ms + ${windowMs}) * ${TAG} + ${tag}]::bigint[],
             to_timestamp((t.now_ms + ${windowMs}) / 1000.0) AT TIME ZONE 'UTC'
      FROM t
      ON CONFLICT ("bucket") DO UPDATE SET
        "hits" = ARRAY(SELECT h FROM unnest(b."hits") AS h WHERE h > (SELECT now_ms FROM t) * ${TAG} + ${TAG - 1} ORDER BY h)
                 || EXCLUDED."hits",
        "expiresAt" = greatest(b."expiresAt", EXCLUDED."expiresAt")
      WHERE (SELECT count(*) FROM unnest(b."hits") AS h WHERE h > (SELECT now_ms FROM t) * ${TAG} + ${TAG - 1}) < ${l.max}
      RETURNING "hits"[array_length("hits", 1)] AS entry`;
    return rows[0]?.entry ?? null;
  }

  /** Seconds until the bucket's max-th newest live entry expires, when it has room again. */
  private async retryAfter(l: Limit): Promise<number> {
    const rows = await this.prisma.$queryRaw<{ waitMs: bigint }[]>`
      WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms)
      SELECT h / ${TAG} - t.now_ms AS "waitMs"
      FROM "RateLimitBucket" AS b, unnest(b."hits") AS h, t
      WHERE b."bucket" = ${l.bucket} AND h > t.now_ms * ${TAG} + ${TAG - 1}
      ORDER BY h DESC OFFSET ${l.max - 1} LIMIT 1`;
    const ms = rows.length ? Number(rows[0]!.waitMs) : 0;
    return Math.max(1, Math.ceil(ms / 1000));
  }

  /** Gives reserved attempts back (they did not count after all). */
  async release(held: readonly Held[]): Promise<void> {
    for (const h of held) {
      await this.prisma
        .$executeRaw`UPDATE "RateLimitBucket" SET "hits" = array_remove("hits", ${h.entry}::bigint) WHERE "bucket" = ${h.bucket}`;
    }
  }

  /** Forgets every attempt in a bucket. */
  async clear(bucketName: string): Promise<void> {
    await this.prisma.rateLimitBucket.deleteMany({ where: { bucket: bucketName } });
  }

  /** Deletes up to one batch of buckets whose attempts have all expired; returns how many. */
  async prune(): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM "RateLimitBucket" WHERE "bucket" IN (
        SELECT "bucket" FROM "RateLimitBucket" WHERE "expiresAt" <= (clock_timestamp() AT TIME ZONE 'UTC') LIMIT ${PRUNE_BATCH})`;
  }

  private async maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < (this.opts.pruneEveryMs ?? 60_000)) return;
    this.lastPrune = now;
    await this.prune();
  }
}
