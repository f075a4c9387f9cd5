/**
 * The scopegate side of the webhook_drain case (bench/webhook-drain.ts), run in
 * the scopegate child process (bench/server-process.ts): one server with
 * loopback receivers allowed and a short poll interval, its bench user owning a
 * client registered with data:write, and the endpoint and outbox operations the
 * parent asks for over IPC: the endpoint service behind createWebhookEndpoint,
 * and recordWebhookEvent in a transaction, as recordMeasurement calls it.
 */
import { keyEncryptionFor } from "../src/db/key-encryption-secret.ts";
import { transaction } from "../src/db/changes.ts";
import { createWebhookEndpoint, deleteWebhookEndpoint, type WebhookSettings } from "../src/clients/webhook-endpoints.ts";
import { recordWebhookEvent, webhookBody } from "../src/webhooks/events.ts";
import { newWebhookId } from "../src/webhooks/signature.ts";
import { benchKeySecret, SCOPES, startScopegate, type BenchScopegate } from "./scopegate.ts";
import { nowMs } from "./webhook-receiver.ts";

/** The delivery settings of the webhook case's server (the rest are the defaults: WEBHOOKS_CONCURRENCY 16, WEBHOOKS_TIMEOUT 5s). */
export const WEBHOOK_BENCH_ENV = {
  WEBHOOKS_ALLOW_LOOPBACK: "true",
  WEBHOOKS_POLL_INTERVAL: "100ms",
};

/** measurements per INSERT: below PostgreSQL's 65,535 bind parameters at 6 a row */
const MEASUREMENT_BATCH = 2_000;

export interface WebhookScopegate {
  sg: BenchScopegate;
  /** Adds an endpoint of the bench client for measurement.created at `url`; returns its id and signing secret. */
  createEndpoint(url: string): Promise<{ id: string; secret: string }>;
  /** Deletes it, and with it every delivery still pending. */
  deleteEndpoint(id: string): Promise<void>;
  /**
   * `count` measurements of the bench user and their measurement.created
   * events, all in one transaction: the outbox holds the whole burst at the
   * commit. Returns when it committed (nowMs()), how long the transaction took
   * and how many deliveries it queued.
   */
  recordEvents(count: number): Promise<{ committedAt: number; writeMs: number; queued: number }>;
  /** Deliveries not yet delivered, failed or cancelled. */
  pending(): Promise<number>;
  stop(): Promise<string | null>;
}

export async function startWebhookScopegate(databaseUrl: string | undefined): Promise<WebhookScopegate> {
  const sg = await startScopegate(databaseUrl, {
    env: WEBHOOK_BENCH_ENV,
    fixedViewer: false,
    clientScopes: [...SCOPES, "data:write"],
  });
  const settings: WebhookSettings = {
    allowLoopback: true,
    keyEncryption: keyEncryptionFor({ secret: benchKeySecret() }, sg.db),
  };
  const prisma = sg.db.prisma;
  return {
    sg,
    async createEndpoint(url) {
      const { endpoint, secret } = await createWebhookEndpoint(prisma, settings, sg.userId, sg.clientId, {
        url,
        eventTypes: ["measurement.created"],
      });
      return { id: endpoint.id, secret };
    },
    async deleteEndpoint(id) {
      await deleteWebhookEndpoint(prisma, sg.userId, id);
    },
    async recordEvents(count) {
      const recordedAt = new Date(Date.now() - 60_000);
      const started = nowMs();
      let queued = 0;
      await transaction(
        prisma,
        async (tx) => {
          // In batches, one after the other: Prisma splits a larger one and sends the parts at once on the transaction's one connection.
          const rows = [];
          for (let done = 0; done < count; done += MEASUREMENT_BATCH) {
            const n = Math.min(MEASUREMENT_BATCH, count - done);
            rows.push(
              ...(await tx.measurement.createManyAndReturn({
                data: Array.from({ length: n }, () => ({ userId: sg.userId, type: "HEART_RATE", value: 72, unit: "bpm", recordedAt })),
              })),
            );
          }
          const [first, ...rest] = rows;
          // The first event as the server records it: recordWebhookEvent picks the endpoint and writes the outbox row.
          queued = await recordWebhookEvent(tx, { type: "measurement.created", userId: sg.userId, measurement: first! });
          if (queued !== 1) return;
          const template = await tx.webhookDelivery.findFirstOrThrow({
            where: { userId: sg.userId, status: "pending", body: { contains: `"id":"${first!.id}"` } },
          });
          // The others: rows like it, each with its own webhook-id and the body recordWebhookEvent would have
          // written for its measurement, in one statement (10,000 calls cost 25 s on the embedded database).
          const ids = rest.map(() => newWebhookId(template.createdAt));
          const bodies = rest.map((measurement) =>
            webhookBody({ type: "measurement.created", userId: sg.userId, measurement }, template.createdAt),
          );
          queued += await tx.$executeRaw`
            INSERT INTO "WebhookDelivery" ("id", "endpointId", "eventType", "userId", "grantId", "body", "status", "attempts", "nextAttemptAt", "createdAt")
            SELECT n."id", t."endpointId", t."eventType", t."userId", t."grantId", n."body", t."status", t."attempts", t."nextAttemptAt", t."createdAt"
            FROM unnest(${ids}::text[], ${bodies}::text[]) AS n("id", "body"), "WebhookDelivery" t
            WHERE t."id" = ${template.id}`;
        },
        { timeout: 120_000 },
      );
      const committedAt = nowMs();
      return { committedAt, writeMs: committedAt - started, queued };
    },
    async pending() {
      return prisma.webhookDelivery.count({ where: { status: "pending", endpoint: { client: { ownerId: sg.userId } } } });
    },
    stop: () => sg.stop(),
  };
}
