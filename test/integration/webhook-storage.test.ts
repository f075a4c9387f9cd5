import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { createLogger } from "../../src/lib/log.ts";
import { WebhookDeliveryWorker } from "../../src/webhooks/delivery.ts";
import { resealWebhookSecrets, rotateWebhookSecret } from "../../src/clients/webhook-endpoints.ts";
import { openWebhookSecret } from "../../src/webhooks/signature.ts";
import { closeInstances, openInstances } from "../helpers/db.ts";
import { TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";
import { recordMeasurementEvents, seedWebhookEndpoint } from "../helpers/webhook-fixture.ts";

// What the webhook tables keep at rest: secrets sealed under KEY_ENCRYPTION_SECRET
// (and sealed again when it is rotated), payloads only for WEBHOOKS_RETENTION.

const A = TEST_KEY_ENCRYPTION_SECRET;
const B = "another-key-encryption-secret-0123456789abcdef";

afterEach(async () => {
  await closeInstances();
});

describe("webhook secrets at rest", () => {
  it("are sealed again under a rotated KEY_ENCRYPTION_SECRET at start, current and previous alike", async () => {
    const [db] = (await openInstances(1)) as [Database];
    const { userId, endpointId, secret } = await seedWebhookEndpoint(db.prisma, "https://hooks.partner.example/scopegate");
    const underA = { allowLoopback: false, keyEncryption: new KeyEncryption(A) };
    const rotated = await rotateWebhookSecret(db.prisma, underA, userId, endpointId);
    const before = await db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpointId } });
    expect(before.previousSecret).not.toBeNull();

    // B alone opens neither: a start with it logs and leaves them, it does not fail.
    const warnings: string[] = [];
    const logger = {
      info: () => {},
      warn: (_fields: unknown, msg?: string) => {
        warnings.push(String(msg));
      },
    } as unknown as Parameters<typeof resealWebhookSecrets>[2];
    expect(await resealWebhookSecrets(db.prisma, new KeyEncryption(B), logger)).toBe(0);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^a webhook endpoint's signing secret was left as it is \(sealed under an unknown secret \(key id .*\)\): set KEY_ENCRYPTION_SECRET_PREVIOUS/,
      ),
    ]);

    const rotating = new KeyEncryption(B, A);
    expect(await resealWebhookSecrets(db.prisma, rotating, logger)).toBe(1);
    const after = await db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpointId } });
    expect(rotating.isCurrent(after.secret) && rotating.isCurrent(after.previousSecret!)).toBe(true);
    // Once sealed again, B alone opens both, to the same secrets.
    const onlyB = new KeyEncryption(B);
    expect(openWebhookSecret(onlyB, endpointId, after.secret)).toBe(rotated.secret);
    expect(openWebhookSecret(onlyB, endpointId, after.previousSecret!)).toBe(secret);
    expect(await resealWebhookSecrets(db.prisma, rotating, logger)).toBe(0);
    // A sealed secret copied to another endpoint's row does not open there.
    expect(() => openWebhookSecret(onlyB, "another-endpoint", after.secret)).toThrow();
  });
});

describe("retention", () => {
  it("deletes finished deliveries older than WEBHOOKS_RETENTION, payload and all, and never a pending one", async () => {
    const [db] = (await openInstances(1)) as [Database];
    const { userId } = await seedWebhookEndpoint(db.prisma, "https://hooks.partner.example/scopegate");
    await recordMeasurementEvents(db.prisma, userId, 5);
    const rows = await db.prisma.webhookDelivery.findMany({ orderBy: { id: "asc" } });
    const old = new Date(Date.now() - 3_600_000);
    // Four an hour old (delivered, failed, cancelled, and one still pending far in the future); one recent and delivered.
    const statuses = ["delivered", "failed", "cancelled", "pending", "delivered"];
    for (const [i, row] of rows.entries()) {
      await db.prisma.webhookDelivery.update({
        where: { id: row.id },
        data: { status: statuses[i]!, createdAt: i < 4 ? old : new Date(), nextAttemptAt: new Date(Date.now() + 86_400_000) },
      });
    }
    const worker = new WebhookDeliveryWorker(db.sql, new KeyEncryption(A), createLogger("silent", false), {
      allowLoopback: false,
      timeoutMs: 1_000,
      retryScheduleMs: [1_000],
      retentionMs: 60_000,
      pollIntervalMs: 20,
      concurrency: 1,
    });
    worker.start();
    try {
      for (let i = 0; i < 100 && (await db.prisma.webhookDelivery.count()) > 2; i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await worker.stop();
    }
    const left = await db.prisma.webhookDelivery.findMany({ orderBy: { id: "asc" } });
    expect(left.map((r) => r.id)).toEqual([rows[3]!.id, rows[4]!.id]);
  });
});
