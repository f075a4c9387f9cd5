import { randomUUID } from "node:crypto";
import type { Sql } from "../db/index.ts";
import { guardedFetch, OutboundRefusedError, type Lookup } from "../lib/guarded-fetch.ts";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import type { Logger } from "../lib/log.ts";
import { onWebhookEventsCommitted, requiredScope } from "./events.ts";
import { openWebhookSecret, signWebhook, webhookTimestamp } from "./signature.ts";

/**
 * The delivery worker: every instance runs one. It claims due deliveries from
 * the outbox (FOR UPDATE SKIP LOCKED, so that instances on one PostgreSQL never
 * claim the same one), checks that the user's grant still allows each, signs
 * and sends it through guardedFetch, and records the outcome. Retries follow
 * the schedule with jitter; a delivery that used every retry is `failed` and
 * marks its endpoint failing, with the reason, until a later delivery works.
 *
 * A claim lasts `timeoutMs` plus a margin: if the instance dies mid-attempt,
 * the delivery becomes due again when the claim lapses and another instance
 * (or this one after a restart) sends it again with the same webhook-id
 * (at-least-once; receivers deduplicate). Nothing here runs on a request path:
 * a write only inserts outbox rows and wakes the worker after its commit.
 */

export interface WebhookDeliveryOptions {
  /** WEBHOOKS_ALLOW_LOOPBACK: http:// and loopback receivers (tests, local development). */
  allowLoopback: boolean;
  /** One attempt's limit, connection to last byte of the answer. */
  timeoutMs: number;
  /** The wait before each retry: [after the 1st attempt, after the 2nd, ...]; when it runs out the delivery fails. */
  retryScheduleMs: readonly number[];
  /** Finished deliveries (delivered, failed, cancelled) older than this are deleted, payload and all. */
  retentionMs: number;
  /** How often an idle worker looks for due deliveries (commits on this instance wake it at once). */
  pollIntervalMs: number;
  /** Attempts in flight at once per instance. */
  concurrency: number;
  /** Tests: resolve names their own way. */
  lookup?: Lookup;
}

/**
 * Svix's schedule (the Standard Webhooks authors run it) with one more 10-hour
 * wait: about 37.6 hours of retries after the first attempt, so that even with
 * every jitter at -20% they last more than a day (30 hours).
 */
export const DEFAULT_RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 36_000_000] as const;

export const DEFAULT_WEBHOOK_DELIVERY: Omit<WebhookDeliveryOptions, "allowLoopback" | "lookup"> = {
  timeoutMs: 5_000,
  retryScheduleMs: DEFAULT_RETRY_SCHEDULE_MS,
  retentionMs: 30 * 86_400_000,
  pollIntervalMs: 1_000,
  concurrency: 16,
};

/** What a receiver may answer with before it counts as a failure; the body is not read further. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * A claim outlives the attempt's timeout by this much before another instance
 * may try: time to record the outcome, and the instances' clock difference.
 */
const CLAIM_MARGIN_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;
/** Outcomes are written together once this many wait, or FINISH_DELAY_MS after the first: one commit for many deliveries. */
const FINISH_BATCH = 32;
const FINISH_DELAY_MS = 5;
const PRUNE_BATCH = 5_000;
const USER_AGENT = "scopegate-webhooks/1";

interface PendingOutcome {
  d: ClaimedDelivery;
  outcome: { status: string; responseStatus: number | null; error: string | null; nextAttemptAt: Date | null };
  at: Date;
  audit: boolean;
  detail: string;
  resolve(applied: boolean): void;
  reject(err: unknown): void;
}

interface ClaimedDelivery {
  id: string;
  eventType: string;
  userId: string;
  grantId: string | null;
  body: string;
  attempts: number;
  endpointId: string;
  url: string;
  enabled: boolean;
  eventTypes: string[];
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  failingSince: Date | null;
  clientRowId: string;
  clientRevokedAt: Date | null;
  ownerId: string;
  clientScopes: string[];
  grantRevokedAt: Date | null;
  grantScopes: string[] | null;
}

/** Why a claimed delivery may no longer be sent (null: it may). */
export function cancelReason(d: ClaimedDelivery): string | null {
  if (d.clientRevokedAt) return "the client was revoked";
  if (!d.enabled) return "the endpoint is disabled";
  if (!d.eventTypes.includes(d.eventType)) return `the endpoint no longer subscribes to ${d.eventType}`;
  const scope = requiredScope(d.eventType);
  if (scope === null) return null;
  if (d.grantId === null) {
    return d.ownerId === d.userId && d.clientScopes.includes(scope) ? null : `the client is no longer registered with ${scope}`;
  }
  if (d.grantScopes === null || d.grantRevokedAt) return "the user's grant was revoked";
  return d.grantScopes.includes(scope) ? null : `the user's grant no longer includes ${scope}`;
}

/** The wait before the next attempt after `attempts` failed ones, ±20% so that retries spread out; null: no more retries. */
export function retryDelayMs(schedule: readonly number[], attempts: number, random = Math.random): number | null {
  const base = schedule[attempts - 1];
  if (base === undefined) return null;
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class WebhookDeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private pumping = false;
  /** Something may be due that the last claim did not take. */
  private again = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Outcomes of finished attempts still being written. */
  private readonly recording = new Set<Promise<void>>();
  private lastPrune = 0;
  private unsubscribe: (() => void) | undefined;
  /** Outcomes waiting to be written (see record()). */
  private outcomes: PendingOutcome[] = [];
  private outcomeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly keyEncryption: KeyEncryption,
    private readonly logger: Logger,
    private readonly options: WebhookDeliveryOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = onWebhookEventsCommitted(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.options.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops claiming, and waits for the attempts in flight (each ends within timeoutMs). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    while (this.inFlight.size || this.pumping || this.recording.size) {
      await Promise.allSettled([...this.inFlight]);
      if (this.outcomes.length) void this.record();
      await Promise.allSettled([...this.recording]);
      if (this.pumping) await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Looks for due deliveries now. */
  wake(): void {
    this.again = true;
    if (!this.pumping && !this.stopped) void this.pump();
  }

  /** Claims and sends until nothing is due or every slot is busy. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.again && !this.stopped) {
        this.again = false;
        const free = this.options.concurrency - this.inFlight.size;
        if (free <= 0) {
          this.again = true; // an attempt that ends wakes us
          break;
        }
        const claimed = await this.claim(free);
        if (claimed.length === free) this.again = true;
        for (const delivery of claimed) {
          const attempt = this.attempt(delivery)
            .catch((err) => this.logger.warn({ err, deliveryId: delivery.id }, "webhook delivery: recording the attempt failed"))
            .finally(() => {
              this.inFlight.delete(attempt);
              // Claim again once half the slots are free (or all): one claim for many
              // deliveries, not one per delivery as each ends.
              const free = this.options.concurrency - this.inFlight.size;
              const enough = free >= Math.ceil(this.options.concurrency / 2) || this.inFlight.size === 0;
              if (this.again && enough && !this.pumping && !this.stopped) void this.pump();
            });
          this.inFlight.add(attempt);
        }
      }
      if (Date.now() - this.lastPrune >= Math.min(PRUNE_EVERY_MS, this.options.retentionMs)) await this.prune();
    } catch (err) {
      // The database is away: the next poll tries again.
      this.logger.warn({ err }, "webhook delivery: could not claim deliveries");
    } finally {
      this.pumping = false;
    }
  }

  private async claim(limit: number): Promise<ClaimedDelivery[]> {
    const now = new Date();
    const claimUntil = new Date(now.getTime() + this.options.timeoutMs + CLAIM_MARGIN_MS);
    // One statement: take due rows no other instance holds, push them out of reach
    // for the length of an attempt, and read what deciding and sending them needs.
    return this.sql<ClaimedDelivery>(
      `WITH due AS (
         SELECT "id", "endpointId", "grantId" FROM "WebhookDelivery"
         WHERE "status" = 'pending' AND "nextAttemptAt" <= $1::timestamptz AT TIME ZONE 'UTC'
         ORDER BY "nextAttemptAt" LIMIT $3
         FOR UPDATE SKIP LOCKED
       )
       UPDATE "WebhookDelivery" d
       SET "attempts" = d."attempts" + 1,
           "lastAttemptAt" = $1::timestamptz AT TIME ZONE 'UTC',
           "nextAttemptAt" = $2::timestamptz AT TIME ZONE 'UTC',
           "claimedUntil" = $2::timestamptz AT TIME ZONE 'UTC'
       FROM due
       JOIN "WebhookEndpoint" e ON e."id" = due."endpointId"
       JOIN "OAuthClient" c ON c."id" = e."clientId"
       LEFT JOIN "Grant" g ON g."id" = due."grantId"
       WHERE d."id" = due."id"
       RETURNING d."id", d."eventType", d."userId", d."grantId", d."body", d."attempts",
         e."id" AS "endpointId", e."url", e."enabled", e."eventTypes", e."secret", e."previousSecret",
         e."previousSecretExpiresAt" AT TIME ZONE 'UTC' AS "previousSecretExpiresAt",
         e."failingSince" AT TIME ZONE 'UTC' AS "failingSince",
         c."id" AS "clientRowId", c."revokedAt" AT TIME ZONE 'UTC' AS "clientRevokedAt", c."ownerId", c."scopes" AS "clientScopes",
         g."revokedAt" AT TIME ZONE 'UTC' AS "grantRevokedAt", g."scopes" AS "grantScopes"`,
      [now.toISOString(), claimUntil.toISOString(), limit],
    );
  }

  private async attempt(d: ClaimedDelivery): Promise<void> {
    const cancelled = cancelReason(d);
    if (cancelled) {
      this.settle(this.finish(d, { status: "cancelled", responseStatus: null, error: cancelled, nextAttemptAt: null, sent: false }));
      return;
    }
    const now = new Date();
    let secrets: string[];
    try {
      secrets = [openWebhookSecret(this.keyEncryption, d.endpointId, d.secret)];
      if (d.previousSecret && d.previousSecretExpiresAt && d.previousSecretExpiresAt > now) {
        secrets.push(openWebhookSecret(this.keyEncryption, d.endpointId, d.previousSecret));
      }
    } catch (err) {
      this.logger.error({ err, endpointId: d.endpointId }, "webhook delivery: the endpoint's signing secret does not open");
      this.settle(this.failed(d, null, "The signing secret could not be opened (KEY_ENCRYPTION_SECRET changed?).", false));
      return;
    }
    const headers = signWebhook({ id: d.id, timestamp: webhookTimestamp(now), body: d.body, secrets });
    let status: number | null = null;
    let error: string | null = null;
    let sent = true;
    try {
      const res = await guardedFetch(
        d.url,
        { method: "POST", headers: { ...headers, "content-type": "application/json", "user-agent": USER_AGENT }, body: d.body },
        {
          allowLoopback: this.options.allowLoopback,
          timeoutMs: this.options.timeoutMs,
          maxResponseBytes: MAX_RESPONSE_BYTES,
          ...(this.options.lookup ? { lookup: this.options.lookup } : {}),
        },
      );
      status = res.status;
      if (status < 200 || status > 299) error = `The receiver answered HTTP ${status}.`;
    } catch (err) {
      if (!(err instanceof OutboundRefusedError)) throw err;
      error = err.message;
      // Refused before a byte was sent: no data left scopegate.
      sent = !["invalid_url", "not_https", "userinfo", "fragment", "private_address", "internal_name", "dns_failed"].includes(err.reason);
    }
    // The slot is free once the request is done; its outcome is written with others' (record()).
    if (error === null) {
      this.settle(
        this.finish(d, { status: "delivered", responseStatus: status, error: null, nextAttemptAt: null, sent }).then(async () => {
          if (d.failingSince) {
            await this.sql(`UPDATE "WebhookEndpoint" SET "failingSince" = NULL, "failingReason" = NULL WHERE "id" = $1`, [d.endpointId]);
          }
        }),
      );
      return;
    }
    this.settle(this.failed(d, status, error, sent));
  }

  /**
   * Keeps track of an outcome being written, for stop(). If the process dies
   * first, the claim lapses and the delivery is sent again: at-least-once.
   */
  private settle(writing: Promise<unknown>): void {
    const tracked: Promise<void> = writing
      .then(() => undefined)
      .catch((err) => this.logger.warn({ err }, "webhook delivery: recording the attempt failed"))
      .finally(() => this.recording.delete(tracked));
    this.recording.add(tracked);
  }

  private async failed(d: ClaimedDelivery, responseStatus: number | null, error: string, sent: boolean): Promise<void> {
    const delay = retryDelayMs(this.options.retryScheduleMs, d.attempts);
    if (delay !== null) {
      await this.finish(d, { status: "pending", responseStatus, error, nextAttemptAt: new Date(Date.now() + delay), sent });
      return;
    }
    const applied = await this.finish(d, { status: "failed", responseStatus, error, nextAttemptAt: null, sent });
    if (applied) {
      await this.sql(
        `UPDATE "WebhookEndpoint" SET "failingSince" = COALESCE("failingSince", $2::timestamptz AT TIME ZONE 'UTC'), "failingReason" = $3
         WHERE "id" = $1`,
        [d.endpointId, new Date().toISOString(), `${d.eventType} ${d.id}: ${error} (after ${d.attempts} attempts)`],
      );
      this.logger.warn({ endpointId: d.endpointId, deliveryId: d.id, attempts: d.attempts }, "webhook delivery failed for good");
    }
  }

  /**
   * Records the attempt's outcome, unless the claim lapsed and another attempt
   * took over (then that one records). A payload with the user's data that
   * left scopegate goes into the user's audit trail either way. Outcomes that
   * end close together are written by one statement (record()).
   */
  private finish(
    d: ClaimedDelivery,
    outcome: { status: string; responseStatus: number | null; error: string | null; nextAttemptAt: Date | null; sent: boolean },
  ): Promise<boolean> {
    const at = new Date();
    const audit = outcome.sent && requiredScope(d.eventType) !== null;
    const detail = `${d.eventType} ${d.id} to ${safeHost(d.url)}: ${outcome.status === "delivered" ? `delivered (HTTP ${outcome.responseStatus})` : (outcome.error ?? outcome.status)}`;
    return new Promise<boolean>((resolve, reject) => {
      this.outcomes.push({ d, outcome, at, audit, detail: detail.slice(0, 1000), resolve, reject });
      if (this.outcomes.length >= FINISH_BATCH) void this.record();
      else this.outcomeTimer ??= setTimeout(() => void this.record(), FINISH_DELAY_MS);
    });
  }

  /** Writes the waiting outcomes, and their audit events, in one statement; each finish() learns whether its row was still its to record. */
  private async record(): Promise<void> {
    clearTimeout(this.outcomeTimer);
    this.outcomeTimer = undefined;
    const batch = this.outcomes.splice(0);
    if (batch.length === 0) return;
    const iso = (d: Date | null) => d?.toISOString() ?? null;
    const audited = batch.filter((o) => o.audit);
    try {
      const rows = await this.sql<{ id: string }>(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[])
             AS i("id", "attempts", "status", "responseStatus", "lastError", "nextAttemptAt", "at")
         ), done AS (
           UPDATE "WebhookDelivery" d
           SET "status" = i."status", "responseStatus" = i."responseStatus", "lastError" = i."lastError", "claimedUntil" = NULL,
               "nextAttemptAt" = i."nextAttemptAt" AT TIME ZONE 'UTC',
               "deliveredAt" = CASE WHEN i."status" = 'delivered' THEN i."at" AT TIME ZONE 'UTC' ELSE d."deliveredAt" END
           FROM input i
           WHERE d."id" = i."id" AND d."attempts" = i."attempts" AND d."status" = 'pending'
           RETURNING d."id"
         ), audited AS (
           INSERT INTO "AuditEvent" ("id", "at", "action", "userId", "clientId", "grantId", "detail")
           SELECT a."id", a."at" AT TIME ZONE 'UTC', 'webhook.sent', u."id", c."id", a."grantId", a."detail"
           FROM unnest($8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
             AS a("id", "at", "userId", "clientId", "grantId", "detail")
           JOIN "User" u ON u."id" = a."userId"
           LEFT JOIN "OAuthClient" c ON c."id" = a."clientId"
           RETURNING 1
         )
         SELECT "id" FROM done`,
        [
          batch.map((o) => o.d.id),
          batch.map((o) => o.d.attempts),
          batch.map((o) => o.outcome.status),
          batch.map((o) => o.outcome.responseStatus),
          batch.map((o) => o.outcome.error?.slice(0, 500) ?? null),
          batch.map((o) => iso(o.outcome.nextAttemptAt)),
          batch.map((o) => o.at.toISOString()),
          audited.map(() => randomUUID()),
          audited.map((o) => o.at.toISOString()),
          audited.map((o) => o.d.userId),
          audited.map((o) => o.d.clientRowId),
          audited.map((o) => o.d.grantId),
          audited.map((o) => o.detail),
        ],
      );
      const applied = new Set(rows.map((r) => r.id));
      for (const o of batch) o.resolve(applied.has(o.d.id));
    } catch (err) {
      for (const o of batch) o.reject(err);
    }
  }

  /** Deletes finished deliveries older than the retention period, a batch at a time. */
  private async prune(): Promise<void> {
    this.lastPrune = Date.now();
    const cutoff = new Date(Date.now() - this.options.retentionMs).toISOString();
    await this.sql(
      `DELETE FROM "WebhookDelivery" WHERE "id" IN (
         SELECT "id" FROM "WebhookDelivery"
         WHERE "createdAt" < $1::timestamptz AT TIME ZONE 'UTC' AND "status" <> 'pending'
         LIMIT ${PRUNE_BATCH})`,
      [cutoff],
    );
  }
}

/** The host of an endpoint URL, for messages and the audit trail: never its path or query, which may hold a token. */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}
