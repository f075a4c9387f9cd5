import { insertClient } from "../../src/clients/clients.ts";
import { transaction } from "../../src/db/changes.ts";
import type { Db } from "../../src/db/index.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { createWebhookEndpoint } from "../../src/clients/webhook-endpoints.ts";
import { recordWebhookEvent } from "../../src/webhooks/events.ts";
import { TEST_KEY_ENCRYPTION_SECRET } from "./server.ts";

/**
 * A developer whose own client (data:read) has an endpoint at `url` for
 * measurement.created, made through the same service the GraphQL mutation
 * calls, with the tests' KEY_ENCRYPTION_SECRET.
 */
export async function seedWebhookEndpoint(prisma: Db, url: string): Promise<{ userId: string; endpointId: string; secret: string }> {
  const user = await prisma.user.create({
    data: { email: `dev-${Date.now()}-${Math.random()}@example.com`, name: "Developer", passwordHash: "not used" },
  });
  const { client } = await insertClient(prisma, {
    ownerId: user.id,
    name: "Receiver",
    environment: "PRODUCTION",
    type: "CONFIDENTIAL",
    redirectUris: ["https://partner.example/callback"],
    scopes: ["data:read"],
  });
  const settings = { allowLoopback: true, keyEncryption: new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET) };
  const { endpoint, secret } = await createWebhookEndpoint(prisma, settings, user.id, client.clientId, {
    url,
    eventTypes: ["measurement.created"],
  });
  return { userId: user.id, endpointId: endpoint.id, secret };
}

/** `n` measurement.created events about the developer's own data, each in its own transaction, as a write makes them. */
export async function recordMeasurementEvents(prisma: Db, userId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await transaction(prisma, (tx) =>
      recordWebhookEvent(tx, {
        type: "measurement.created",
        userId,
        measurement: { id: `m-${i}`, type: "STEPS", value: i, unit: "count", recordedAt: new Date() },
      }),
    );
  }
}
