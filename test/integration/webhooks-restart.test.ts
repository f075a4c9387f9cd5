import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { openDatabase, type DatabaseTarget } from "../../src/db/index.ts";
import { createTestDatabase, embeddedDataDirFromTemplate, type TestDatabase } from "../helpers/db.ts";
import { currentKind } from "../helpers/kinds.ts";
import { ServerProcess } from "../helpers/process.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";
import { recordMeasurementEvents, seedWebhookEndpoint } from "../helpers/webhook-fixture.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";

// Issue 13 item 4: the real server, killed with SIGKILL while deliveries are in
// flight (the receiver holds its answers) and with more waiting in the outbox,
// then started again on the same database: every event still arrives, each
// with the id it had (at-least-once; the ones in flight may arrive twice).

const EVENTS = 20;
const running = new Set<ServerProcess>();
let testDb: TestDatabase | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
  await testDb?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

it("a crash mid-delivery loses no event: the restarted server sends every one, with its webhook-id", async () => {
  let target: DatabaseTarget;
  let databaseEnv: Record<string, string>;
  if (currentKind() === "postgres") {
    testDb = await createTestDatabase();
    target = testDb.target;
    databaseEnv = { DATABASE_URL: (target as { url: string }).url };
  } else {
    dataDir = join(mkdtempSync(join(tmpdir(), "scopegate-webhooks-")), "data");
    await embeddedDataDirFromTemplate(dataDir, "migrated");
    target = { kind: "embedded", dataDir };
    databaseEnv = { DATA_DIR: dataDir };
  }
  const receiver = await WebhookReceiver.start();
  let db = await openDatabase(target);
  let ids: string[];
  try {
    const { userId, secret } = await seedWebhookEndpoint(db.prisma, receiver.url);
    receiver.trust(secret);
    await recordMeasurementEvents(db.prisma, userId, EVENTS);
    ids = (await db.prisma.webhookDelivery.findMany({ select: { id: true } })).map((d) => d.id);
  } finally {
    await db.close();
  }
  expect(ids).toHaveLength(EVENTS);

  const port = await freePort();
  const start = () => {
    const p = new ServerProcess({
      HOST: "127.0.0.1",
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      ...databaseEnv,
      KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
      SEED_DEMO: "false",
      LOG_LEVEL: "warn",
      WEBHOOKS_ALLOW_LOOPBACK: "true",
      WEBHOOKS_TIMEOUT: "1s",
      WEBHOOKS_POLL_INTERVAL: "50ms",
      WEBHOOKS_CONCURRENCY: "4",
      WEBHOOKS_RETRY_SCHEDULE: "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
    });
    running.add(p);
    return p;
  };

  // The receiver holds its answers: four attempts are in flight when the server dies.
  receiver.hold();
  const first = start();
  await first.ready();
  await receiver.waitFor((r) => r.length >= 4);
  expect(await first.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
  const inFlight = receiver.received.map((r) => r.id);
  receiver.release();
  expect(new Set(inFlight).size).toBeLessThan(EVENTS);

  // Restarted, it sends the rest, and the ones that were in flight again once their claim lapses.
  const second = start();
  await second.ready();
  await receiver.waitFor(
    (r) => new Set(r.map((x) => x.id)).size === EVENTS && inFlight.every((id) => r.filter((x) => x.id === id).length >= 2),
    30_000,
  );
  expect(await second.stop("SIGTERM")).toEqual({ code: 0, signal: null });

  expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set(ids));
  expect(receiver.received.every((r) => r.verifiedWith.length === 1)).toBe(true);
  db = await openDatabase(target);
  try {
    const rows = await db.prisma.webhookDelivery.findMany();
    expect(rows.map((r) => r.status)).toEqual(Array(EVENTS).fill("delivered"));
  } finally {
    await db.close();
  }
  await receiver.close();
}, 90_000);
