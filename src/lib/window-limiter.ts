/**
 * A rate limit on a hot path (issue 12 item 2: the token endpoint per client,
 * GraphQL per token and per session), decided in memory: a map lookup and a
 * few additions per request, no allocation once a key is known, and no
 * database statement. Every instance adds what it counted to a shared table
 * about once a second and reads the totals of the keys it holds back
 * (src/db/rate-limit-windows.ts), so each sees the others' use within about a
 * second: the limit is approximate across instances, never exact.
 *
 * The window slides, estimated from two fixed windows (as Cloudflare and
 * nginx-style limiters do): the current window's count plus the previous
 * window's, weighted by how much of it still lies within one window of now.
 * So a client cannot send a whole limit at the end of one window and another
 * at the start of the next. Refused requests are not counted: a client that
 * keeps knocking does not push its own wait further out.
 *
 * A request may weigh more than 1 (GraphQL spends its query's cost, see
 * src/graphql/limits.ts): the limit is then a budget of units per window, and
 * a request is admitted when its weight still fits. A weight above the whole
 * budget counts as the budget (such a request fits only into an empty window).
 *
 * Memory is bounded: a key is forgotten once its window and the one before
 * have passed (at the next sync), and past `maxKeys` the key whose window
 * started longest ago is dropped (that key's count starts again: fail open,
 * counted in `evictions`).
 */

export interface WindowLimiterOptions {
  /** names the limit in the shared table ("token:client"); keys there are `${name}:${subject}` */
  name: string;
  /** units (requests, or their weights) admitted per window, summed over instances; 0 turns the limit off */
  limit: number;
  /** the window, in milliseconds (a whole number of seconds; a minute by default) */
  windowMs?: number;
  /** keys held at most */
  maxKeys?: number;
  /** the clock (tests inject one) */
  now?: () => number;
}

export const DEFAULT_WINDOW_MS = 60_000;
export const DEFAULT_MAX_KEYS = 50_000;
/**
 * For this long into a window, the previous window's total is still read
 * back: other instances may not have sent their last counts of it yet.
 */
const PREVIOUS_SETTLES_MS = 3_000;

/** One key's counts: in each of its two windows, the total over every instance as last read, what this instance sent and awaits, and what it has not sent. */
export class WindowEntry {
  synced = 0;
  inflight = 0;
  pending = 0;
  prevSynced = 0;
  prevInflight = 0;
  prevPending = 0;
  constructor(
    readonly subject: string,
    /** start of the current window (ms since the epoch, a whole multiple of the window) */
    public windowStart: number,
  ) {}
}

/** A row for the shared table: one key's window, the count this instance adds to it (0: only read the total back). */
export interface SyncRow {
  limiter: WindowLimiter;
  entry: WindowEntry;
  windowStart: number;
  sent: number;
}

export class WindowLimiter {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  /** insertion order is the order in which keys entered their current window: the first is the stalest */
  private readonly entries = new Map<string, WindowEntry>();
  /** keys dropped while their window still counted, because `maxKeys` were held */
  evictions = 0;

  constructor(options: WindowLimiterOptions) {
    this.name = options.name;
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.now = options.now ?? Date.now;
  }

  /** Keys held now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Counts one request of `weight` units (a positive whole number; 1 by
   * default) for `subject` and returns 0 when it is within the limit;
   * otherwise counts nothing and returns the whole seconds (at least 1) until
   * it would be admitted if nobody sent anything meanwhile: the value for
   * Retry-After.
   */
  take(subject: string, weight = 1): number {
    if (this.limit === 0) return 0;
    const w = Math.min(weight, this.limit);
    const now = this.now();
    const windowStart = now - (now % this.windowMs);
    let e = this.entries.get(subject);
    if (e === undefined) e = this.add(subject, windowStart);
    else if (e.windowStart !== windowStart) this.roll(e, windowStart);
    const elapsed = now - windowStart;
    const current = e.synced + e.inflight + e.pending;
    const previous = e.prevSynced + e.prevInflight + e.prevPending;
    if (previous * (1 - elapsed / this.windowMs) + current + w <= this.limit) {
      e.pending += w;
      return 0;
    }
    return this.retryAfterSeconds(elapsed, previous, current, w);
  }

  /**
   * Smallest wait after which one more request of weight `w` fits, assuming
   * no more are admitted meanwhile. Within this window the previous one's weight falls
   * linearly; when this window alone is full, the wait runs into the next
   * one, where this window's count becomes the weighted previous.
   */
  private retryAfterSeconds(elapsed: number, previous: number, current: number, w: number): number {
    const room = this.limit - w;
    const waitMs =
      current <= room && previous > 0
        ? this.windowMs * (1 - (room - current) / previous) - elapsed
        : this.windowMs - elapsed + this.windowMs * (1 - room / current);
    return Math.max(1, Math.ceil(waitMs / 1000));
  }

  private add(subject: string, windowStart: number): WindowEntry {
    if (this.entries.size >= this.maxKeys) {
      const stalest = this.entries.keys().next().value as string;
      const dropped = this.entries.get(stalest)!;
      if (dropped.windowStart >= windowStart - this.windowMs) this.evictions++;
      this.entries.delete(stalest);
    }
    const e = new WindowEntry(subject, windowStart);
    this.entries.set(subject, e);
    return e;
  }

  /** The key's first request in a new window: its current window becomes the previous one (or nothing, when a window passed in between). */
  private roll(e: WindowEntry, windowStart: number): void {
    if (windowStart - e.windowStart === this.windowMs) {
      e.prevSynced = e.synced;
      e.prevInflight = e.inflight;
      e.prevPending = e.pending;
    } else {
      // Two windows or more ago (or the clock went back): it no longer weighs on anyone's estimate.
      e.prevSynced = 0;
      e.prevInflight = 0;
      e.prevPending = 0;
    }
    e.synced = 0;
    e.inflight = 0;
    e.pending = 0;
    e.windowStart = windowStart;
    // To the end of the insertion order, so that the stalest key stays first.
    this.entries.delete(e.subject);
    this.entries.set(e.subject, e);
  }

  /**
   * For the sync: forgets keys whose windows have both passed, and appends a
   * row per window still counting: the current window of every key that has
   * one (to read the others' counts back, adding what is pending), the
   * previous window while it has counts to send or others may still be
   * sending theirs. What is pending is marked in flight until settle().
   */
  collect(rows: SyncRow[]): void {
    if (this.limit === 0) return;
    const now = this.now();
    const windowStart = now - (now % this.windowMs);
    const previousStart = windowStart - this.windowMs;
    for (const e of this.entries.values()) {
      if (e.windowStart < previousStart) {
        this.entries.delete(e.subject);
        continue;
      }
      if (e.windowStart === windowStart || e.pending > 0) {
        rows.push({ limiter: this, entry: e, windowStart: e.windowStart, sent: e.pending });
        e.inflight += e.pending;
        e.pending = 0;
      }
      if (e.windowStart === windowStart && (e.prevPending > 0 || now - windowStart < PREVIOUS_SETTLES_MS)) {
        rows.push({ limiter: this, entry: e, windowStart: previousStart, sent: e.prevPending });
        e.prevInflight += e.prevPending;
        e.prevPending = 0;
      }
    }
  }

  /**
   * A row came back from the shared table with the window's total over every
   * instance (this one's `sent` included), or failed (null): its count is
   * pending again, to be sent with the next sync.
   */
  settle(row: SyncRow, total: number | null): void {
    const e = row.entry;
    if (row.windowStart === e.windowStart) {
      e.inflight -= row.sent;
      if (total === null) e.pending += row.sent;
      else e.synced = total;
    } else if (row.windowStart === e.windowStart - this.windowMs) {
      e.prevInflight -= row.sent;
      if (total === null) e.prevPending += row.sent;
      else e.prevSynced = total;
    }
    // Otherwise the key moved on two windows (or was dropped): the row no longer counts.
  }
}
