import { afterEach, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import type { RunningServer } from "../../src/server.ts";
import { closeInstances, openInstances } from "../helpers/db.ts";
import { freePort, startInstances } from "../helpers/server.ts";
import { recordMeasurementEvents, seedWebhookEndpoint } from "../helpers/webhook-fixture.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";

// Issue 13 item 4: instances on one PostgreSQL share the outbox, and each
// attempt is made by one of them (FOR UPDATE SKIP LOCKED): with a receiver that
// always answers, every event arrives exactly once, whichever instance sent it.

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await closeInstances();
});

/** Counts the deliveries this instance claimed, by wrapping its plain-SQL function. */
function countClaims(db: Database): { claimed: number } {
  const counter = { claimed: 0 };
  const sql = db.sql;
  db.sql = (async (text: string, values?: unknown[]) => {
    const rows = await sql(text, values);
    if (text.includes("FOR UPDATE SKIP LOCKED")) counter.claimed += rows.length;
    return rows;
  }) as Database["sql"];
  return counter;
}

it("two instances deliver each event once between them, and both take part", async () => {
  const EVENTS = 300;
  const dbs = await openInstances(2);
  const counters = dbs.map(countClaims);
  const receiver = await WebhookReceiver.start();
  const { userId, secret } = await seedWebhookEndpoint(dbs[0]!.prisma, receiver.url);
  receiver.trust(secret);
  servers.push(
    ...(await startInstances(dbs, `http://127.0.0.1:${await freePort()}`, {
      WEBHOOKS_ALLOW_LOOPBACK: "true",
      WEBHOOKS_POLL_INTERVAL: "20ms",
      WEBHOOKS_CONCURRENCY: "4",
    })),
  );
  // Written from both instances' pools at once, as two instances' requests would.
  await Promise.all([
    recordMeasurementEvents(dbs[0]!.prisma, userId, EVENTS / 2),
    recordMeasurementEvents(dbs[1]!.prisma, userId, EVENTS / 2),
  ]);
  await receiver.waitFor((r) => r.length >= EVENTS, 30_000);
  // Nothing more comes: no event is attempted twice.
  await new Promise((r) => setTimeout(r, 300));
  expect(receiver.received).toHaveLength(EVENTS);
  expect(new Set(receiver.received.map((r) => r.id)).size).toBe(EVENTS);
  expect(receiver.received.every((r) => r.verifiedWith.length === 1)).toBe(true);
  const rows = await dbs[0]!.prisma.webhookDelivery.groupBy({ by: ["status", "attempts"], _count: true });
  expect(rows).toEqual([{ status: "delivered", attempts: 1, _count: EVENTS }]);
  expect(counters[0]!.claimed + counters[1]!.claimed).toBe(EVENTS);
  expect(counters[0]!.claimed).toBeGreaterThan(0);
  expect(counters[1]!.claimed).toBeGreaterThan(0);
  await receiver.close();
}, 60_000);
