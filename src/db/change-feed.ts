import pg from "pg";
import type { Logger } from "../lib/log.ts";
import { CHANGE_CHANNEL, type Change, type ChangeKind } from "./changes.ts";
import type { PgConnection } from "./embedded.ts";

/** How often the log is read even without a notification: heals a lost NOTIFY or a reconnect. */
export const CATCH_UP_EVERY_MS = 250;
/** A view confirmed longer ago than this is not vouched for: credential checks read the log first. */
export const CURRENT_WITHIN_MS = 1_000;
/**
 * A seq below the highest seen that has not shown up yet belongs to a
 * transaction still open (sequences are taken before commit), or to one that
 * rolled back. It is looked for again until no transaction could still be open.
 */
const HOLE_TTL_MS = 120_000;
const PAGE = 1_000;

interface ChangeRow {
  seq: string;
  at: Date;
  kind: string;
  subject: string;
  clientId: string | null;
  scopes: string[] | null;
  expiresAt: Date;
}

function toChange(r: ChangeRow): Change {
  return { ...r, seq: BigInt(r.seq), kind: r.kind as ChangeKind, scopes: r.scopes ?? [] };
}

/**
 * The change feed's read side, for instances that share one PostgreSQL: its own
 * connection (outside the request pool, so saturation cannot starve it) that
 * LISTENs, and reads the log by seq on every notification and every 250 ms.
 */
export class ChangeFeed {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private lastSeq: bigint;
  private holes = new Map<bigint, number>();
  private confirmedAt = 0;
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly connection: PgConnection,
    private readonly deliver: (changes: Change[]) => void,
    private readonly logger: Logger,
    /** read from here on (the caller loaded everything up to it) */
    fromSeq: bigint,
  ) {
    this.lastSeq = fromSeq;
  }

  async start(): Promise<void> {
    await this.catchUp();
    this.timer = setInterval(() => void this.catchUp().catch(() => {}), CATCH_UP_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** True when the log was read successfully within the bound. */
  isCurrent(now = Date.now()): boolean {
    return now - this.confirmedAt <= CURRENT_WITHIN_MS;
  }

  /** How long ago the view was last confirmed current, in ms. */
  lagMs(now = Date.now()): number {
    return this.confirmedAt ? now - this.confirmedAt : Number.POSITIVE_INFINITY;
  }

  /** Reads the log now (joining a read in progress); rejects when the database cannot be read. */
  catchUp(): Promise<void> {
    if (this.reading) {
      // A change may have committed after the running read began: read once more after it.
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again && !this.stopped);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 2_000, application_name: "scopegate-changes" });
      client.on("error", (err) => {
        this.logger.warn({ err }, "change feed connection lost; reconnecting");
        if (this.client === client) this.client = undefined;
        client.end().catch(() => {});
      });
      client.on("notification", () => void this.catchUp().catch(() => {}));
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      } catch (err) {
        await client.end().catch(() => {});
        throw err;
      }
      if (this.stopped) {
        await client.end().catch(() => {});
        throw new Error("change feed stopped");
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async read(): Promise<void> {
    const started = Date.now();
    const client = await this.connect();
    const now = Date.now();
    for (const [seq, seen] of this.holes) if (now - seen > HOLE_TTL_MS) this.holes.delete(seq);
    let from = this.lastSeq;
    for (const seq of this.holes.keys()) if (seq - 1n < from) from = seq - 1n;
    for (;;) {
      const { rows } = await client.query<ChangeRow>(
        `SELECT seq, at, kind, subject, "clientId", scopes, "expiresAt" FROM "ChangeEvent" WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`,
        [from.toString()],
      );
      const fresh: Change[] = [];
      for (const row of rows) {
        const change = toChange(row);
        if (change.seq > this.lastSeq) {
          for (let s = this.lastSeq + 1n; s < change.seq && this.holes.size < 10_000; s++) this.holes.set(s, now);
          this.lastSeq = change.seq;
          fresh.push(change);
        } else if (this.holes.delete(change.seq)) {
          fresh.push(change);
        }
      }
      if (fresh.length) this.deliver(fresh);
      if (rows.length < PAGE) break;
      from = BigInt(rows.at(-1)!.seq);
    }
    // Vouches only for what had committed when this read started.
    this.confirmedAt = Math.max(this.confirmedAt, started);
  }
}
