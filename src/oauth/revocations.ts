import { ChangeFeed } from "../db/change-feed.ts";
import { onLocalChanges, type Change } from "../db/changes.ts";
import type { Database } from "../db/index.ts";
import { UnavailableError } from "../lib/errors.ts";
import { EXPIRED_CHANGE_EVENT_KEPT_MS } from "../lib/lifetimes.ts";
import type { Logger } from "../lib/log.ts";
import { ClientCache } from "./client-cache.ts";
import type { KeyStore } from "./keys.ts";
import { RevocationView } from "./revocation-view.ts";

/** Events this recent are read again at start: a transaction open during the load may commit below the highest seq. */
const START_OVERLAP_MS = 120_000;
/** How long a credential check waits for the feed to catch up before answering 503. */
const CATCH_UP_WAIT_MS = 1_000;

/**
 * This instance's view of what changed: revocations (RevocationView) and
 * clients (ClientCache), kept current by the change feed. On the embedded
 * database there is only this process, and every change it makes is applied
 * at commit, so the view is current by construction. On PostgreSQL other
 * instances make changes too: the feed reads them, and when it cannot vouch
 * for the view, checks wait for it or fail closed with 503.
 */
export class Revocations {
  readonly view = new RevocationView();
  readonly clients: ClientCache;
  private feed: ChangeFeed | undefined;

  constructor(
    private readonly db: Database,
    private readonly keys: KeyStore,
    private readonly logger: Logger,
  ) {
    this.clients = new ClientCache(db.prisma, () => this.ensureCurrent());
  }

  async start(): Promise<void> {
    const prisma = this.db.prisma;
    await prisma.changeEvent.deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - EXPIRED_CHANGE_EVENT_KEPT_MS) } } });
    const rows = await prisma.changeEvent.findMany({ where: { expiresAt: { gt: new Date() } }, orderBy: { seq: "asc" } });
    this.view.apply(rows as Change[]);
    onLocalChanges(prisma, (changes) => this.apply(changes));
    if (this.db.kind === "postgres") {
      const settled = await prisma.changeEvent.aggregate({
        _max: { seq: true },
        where: { at: { lt: new Date(Date.now() - START_OVERLAP_MS) } },
      });
      this.feed = new ChangeFeed(this.db.connection, (changes) => this.apply(changes), this.logger, settled._max.seq ?? 0n);
      await this.feed.start();
    }
  }

  async stop(): Promise<void> {
    await this.feed?.stop();
  }

  private apply(changes: Change[]): void {
    this.view.apply(changes);
    for (const c of changes) {
      if ((c.kind === "client.changed" || c.kind === "client.revoked") && c.clientId) this.clients.evict(c.clientId);
      if (c.kind === "keys.changed") this.keys.invalidate();
    }
  }

  /**
   * Resolves when the view can be trusted: at once in the common case; after
   * reading the log when the feed has not confirmed it lately. Throws
   * UnavailableError when the log cannot be read: a revoked token is never admitted.
   */
  async ensureCurrent(): Promise<void> {
    const feed = this.feed;
    if (!feed || feed.isCurrent()) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        feed.catchUp(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("change feed catch-up timed out")), CATCH_UP_WAIT_MS);
        }),
      ]);
    } catch (err) {
      this.logger.warn({ err }, "revocation view cannot be confirmed current; refusing credential checks");
      throw new UnavailableError("The server cannot confirm revocations right now; try again shortly.");
    } finally {
      clearTimeout(timer);
    }
  }

  /** ms since the view was last confirmed current (0 on the embedded database). */
  lagMs(): number {
    return this.feed ? this.feed.lagMs() : 0;
  }
}
