import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.ts";
import { CrashLoad, checkDatabase, seedCrashFixture, type CrashFixture } from "../helpers/crash.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { ServerProcess } from "../helpers/process.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";

// Issue 12 item 7: the real server, killed with SIGKILL at a random moment
// under concurrent authorizations and token requests, then started again on
// the same PostgreSQL database. What a client saw completed must have
// survived, and nothing half-made may be usable. CRASH_ROUNDS=n repeats the
// kill n times (one by default: each round costs two server starts).

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 1);
let testDb: TestDatabase;
let databaseUrl: string;
let fixture: CrashFixture;
let admin: pg.Client;
let issuer: string;
const running = new Set<ServerProcess>();

function start(): ServerProcess {
  const p = new ServerProcess({
    HOST: "127.0.0.1",
    PORT: new URL(issuer).port,
    ISSUER: issuer,
    DATABASE_URL: databaseUrl,
    KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
    LOG_LEVEL: "warn",
  });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  if (testDb.target.kind !== "postgres") throw new Error("a PostgreSQL test");
  databaseUrl = testDb.target.url;
  const db = await openDatabase(testDb.target);
  try {
    fixture = await seedCrashFixture(db);
  } finally {
    await db.close();
  }
  admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  // The same port (and so the same issuer) after the restart: tokens from before stay meaningful.
  issuer = `http://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
  await admin?.end();
  await testDb?.drop();
});

const query = async <T extends Record<string, unknown>>(sql: string, values?: unknown[]) => (await admin.query(sql, values)).rows as T[];

describe("SIGKILL under load, on PostgreSQL", () => {
  it(
    "leaves no half-made grant, no usable redeemed code, and loses no completed consent or rotation; the server serves again",
    async () => {
      const load = new CrashLoad(issuer, fixture, issuer);
      for (let round = 0; round < ROUNDS; round++) {
        const server = start();
        await server.ready();
        const killed = await load.killUnderLoad(server, 12);
        expect(killed.signal).toBe("SIGKILL");
        expect(killed.failures, "answers while the server was up").toEqual([]);

        const again = start();
        await again.ready();
        expect(await checkDatabase(query, load)).toEqual([]);
        expect(await load.checkThroughApi(issuer)).toEqual([]);
        expect(await again.stop("SIGTERM")).toEqual({ code: 0, signal: null });
        load.nextRound();
      }
      // The load reached every path it is meant to exercise.
      expect(load.rotations).toBeGreaterThan(0);
      expect(load.consented.size).toBeGreaterThan(0);
      expect(load.revoked.length).toBeGreaterThan(0);
    },
    60_000 + ROUNDS * 60_000,
  );
});
