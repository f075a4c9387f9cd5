import type { Logger } from "../lib/log.ts";
import { type SyncRow, WindowLimiter } from "../lib/window-limiter.ts";
import type { Sql } from "./index.ts";

/**
 * The hot paths' rate limits (issue 12 item 2), each counted in memory by a
 * WindowLimiter and summed over instances in RateLimitWindow by
 * RateLimitSync. Per minute: requests at the token endpoint, cost units for
 * GraphQL (each request spends its query's cost); 0 turns a limit off.
 */
export interface HotPathLimitsConfig {
  /** POST /v1/oauth/token per authenticated client */
  tokenPerClient: number;
  /** /graphql (and /mcp) per bearer token, in cost units: the tokens of one grant count together, as do a client's client_credentials tokens */
  graphqlPerToken: number;
  /** /graphql per account session (the first-party cookie), in cost units */
  graphqlPerSession: number;
}

/**
 * High enough that no person and no well-behaved partner meets them (a
 * client_credentials client should reuse its token until it expires), low
 * enough that one client, token or session cannot take a large share of an
 * instance (a 2-core instance serves a few thousand token requests a second).
 */
export const DEFAULT_HOT_PATH_LIMITS: HotPathLimitsConfig = {
  tokenPerClient: 3000,
  // GraphQL's are budgets of cost units a minute (src/graphql/limits.ts, limitCost): a page of
  // 100 measurements (cost 1,202) every second spends under half of the token's; the worst
  // query one request may ask (about 10,000) fits 15 times a minute; 3,000 requests of the
  // smallest charge (REQUEST_COST_FLOOR, 50), as many as the former request limit.
  graphqlPerToken: 150_000,
  graphqlPerSession: 60_000,
};

export interface HotPathLimits {
  tokenPerClient: WindowLimiter;
  graphqlPerToken: WindowLimiter;
  graphqlPerSession: WindowLimiter;
}

export function hotPathLimits(config: HotPathLimitsConfig, now?: () => number): HotPathLimits {
  return {
    tokenPerClient: new WindowLimiter({ name: "token:client", limit: config.tokenPerClient, now }),
    graphqlPerToken: new WindowLimiter({ name: "graphql:token", limit: config.graphqlPerToken, now }),
    graphqlPerSession: new WindowLimiter({ name: "graphql:session", limit: config.graphqlPerSession, now }),
  };
}

const SYNC_EVERY_MS = 1_000;
const PRUNE_EVERY_MS = 60_000;
/** Rows per statement: bounds one statement's size when many keys are held (each statement locks its rows in key order). */
const SYNC_BATCH = 5_000;
const PRUNE_BATCH = 5_000;
/** Failures are logged at most this often (the database being down would otherwise log every second). */
const LOG_FAILURE_EVERY_MS = 60_000;

/**
 * Every second (and at stop), one statement per sync for all limiters: adds
 * what each instance counted since the last sync to its key's window and
 * reads back every held window's total over all instances. Rows are upserted
 * in key order, so two instances syncing the same keys at once wait for each
 * other instead of deadlocking. When the database does not answer, the counts
 * stay pending and go with the next sync; meanwhile each instance limits on
 * what it knows. Windows older than two windows are pruned now and then.
 */
export class RateLimitSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPrune: number;
  private lastFailureLogged = 0;
  private lastEvictionLogged = 0;
  private readonly evictionsSeen = new Map<WindowLimiter, number>();

  constructor(
    private readonly sql: Sql,
    private readonly limiters: readonly WindowLimiter[],
    private readonly logger: Pick<Logger, "warn">,
    private readonly options: { everyMs?: number; now?: () => number } = {},
  ) {
    this.lastPrune = this.now();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  start(): void {
    this.timer ??= setInterval(() => {
      // A sync still running (a slow database) is not queued behind: the next tick sends both seconds' counts.
      if (!this.running) void this.sync();
    }, this.options.everyMs ?? SYNC_EVERY_MS);
    this.timer.unref();
  }

  /** Sends what is pending and reads the totals back; waits for a sync already running first. */
  async sync(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.write().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async write(): Promise<void> {
    const rows: SyncRow[] = [];
    for (const l of this.limiters) l.collect(rows);
    this.reportEvictions();
    for (let i = 0; i < rows.length; i += SYNC_BATCH) await this.send(rows.slice(i, i + SYNC_BATCH));
    if (this.now() - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = this.now();
      await this.prune().catch((err) => this.failed(err, 0));
    }
  }

  /** One statement: adds the rows' counts and reads their windows' totals back (a failure leaves the counts pending). */
  private async send(rows: SyncRow[]): Promise<void> {
    let totals: { ord: number; count: number }[] | null = null;
    try {
      totals = await this.sql<{ ord: number; count: number }>(
        `WITH input AS (
           SELECT key, (ws AT TIME ZONE 'UTC') AS ws, n, ord::int AS ord
           FROM unnest($1::text[], $2::timestamptz[], $3::int[]) WITH ORDINALITY AS i(key, ws, n, ord)
         ), added AS (
           INSERT INTO "RateLimitWindow" ("key", "windowStart", "count")
           SELECT key, ws, n FROM input WHERE n > 0 ORDER BY key, ws
           ON CONFLICT ("key", "windowStart") DO UPDATE SET "count" = "RateLimitWindow"."count" + EXCLUDED."count"
           RETURNING "key", "windowStart", "count"
         )
         SELECT i.ord, COALESCE(a."count", r."count", 0)::int AS count
         FROM input i
         LEFT JOIN added a ON i.n > 0 AND a."key" = i.key AND a."windowStart" = i.ws
         LEFT JOIN "RateLimitWindow" r ON i.n = 0 AND r."key" = i.key AND r."windowStart" = i.ws`,
        [
          rows.map((r) => `${r.limiter.name}:${r.entry.subject}`),
          rows.map((r) => new Date(r.windowStart).toISOString()),
          rows.map((r) => r.sent),
        ],
      );
    } catch (err) {
      this.failed(err, rows.length);
    }
    if (totals) for (const t of totals) rows[t.ord - 1]!.limiter.settle(rows[t.ord - 1]!, t.count);
    else for (const r of rows) r.limiter.settle(r, null);
  }

  /** A limit that held its maximum of keys dropped some still counting: say so, at most once a minute. */
  private reportEvictions(): void {
    let dropped = 0;
    for (const l of this.limiters) {
      dropped += l.evictions - (this.evictionsSeen.get(l) ?? 0);
      this.evictionsSeen.set(l, l.evictions);
    }
    const now = this.now();
    if (dropped === 0 || now - this.lastEvictionLogged < LOG_FAILURE_EVERY_MS) return;
    this.lastEvictionLogged = now;
    this.logger.warn({ dropped }, "rate limits held their maximum of keys and dropped some still counting: those start again from zero");
  }

  /** Deletes up to one batch of windows that no limit reads any more (older than two of the longest window); returns how many. */
  async prune(): Promise<number> {
    const longest = Math.max(...this.limiters.map((l) => l.windowMs));
    const before = new Date(this.now() - 2 * longest).toISOString();
    const deleted = await this.sql<{ n: number }>(
      `WITH gone AS (
         DELETE FROM "RateLimitWindow" WHERE ("key", "windowStart") IN (
           SELECT "key", "windowStart" FROM "RateLimitWindow" WHERE "windowStart" < ($1::timestamptz AT TIME ZONE 'UTC') LIMIT ${PRUNE_BATCH})
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [before],
    );
    return deleted[0]?.n ?? 0;
  }

  private failed(err: unknown, rows: number): void {
    const now = this.now();
    if (now - this.lastFailureLogged < LOG_FAILURE_EVERY_MS) return;
    this.lastFailureLogged = now;
    this.logger.warn({ err, rows }, "could not sync rate-limit counts; each instance limits on its own counts until it can");
  }

  /** Stops the timer and sends what is pending (graceful shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sync();
  }
}
