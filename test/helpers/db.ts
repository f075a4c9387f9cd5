import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { inject } from "vitest";
import { parseDatabaseUrl } from "../../src/db/client.ts";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";
import { openDatabase, type Database, type DatabaseTarget } from "../../src/db/index.ts";
import { currentKind, POSTGRES_ADMIN_URL } from "./kinds.ts";

export interface TestDatabase {
  kind: "pglite" | "postgres";
  /** what openDatabase() needs to open it (again) */
  target: DatabaseTarget;
  /** drops the PostgreSQL database; PGlite ones live in memory */
  drop(): Promise<void>;
}

/** Runs one statement as the PostgreSQL administrator (CREATE/DROP DATABASE). */
export async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client(parseDatabaseUrl(POSTGRES_ADMIN_URL));
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A fresh, migrated database of the kind this test project runs on. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (currentKind() === "postgres") {
    const name = `t_${randomBytes(8).toString("hex")}`;
    const template = inject("postgresTemplate");
    for (let attempt = 0; ; attempt++) {
      try {
        await adminQuery(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (err) {
        // Two files cloning the template at the same instant: try again shortly.
        if (attempt >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      kind: "postgres",
      target: { kind: "postgres", url: url.href },
      drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
    };
  }
  const dump = new Blob([readFileSync(inject("pgliteDump"))]);
  return { kind: "pglite", target: { kind: "embedded", loadDataDir: dump }, drop: async () => {} };
}

/** A fresh database, opened (migrations already applied). */
export async function openTestDatabase(): Promise<Database & { drop(): Promise<void> }> {
  const t = await createTestDatabase();
  const db = await openDatabase(t.target);
  return Object.assign(db, {
    async drop() {
      await db.close();
      await t.drop();
    },
  });
}

/**
 * Creates the embedded data folder `dataDir` (which must not exist yet, or be
 * empty) as a copy of the test run's database: migrated, or "empty" as a first
 * start finds it after PGlite's initdb. Loading a copy costs a fraction of
 * creating a database, and tests about restarts or migrations don't test initdb.
 * PGlite project only (global-setup.ts makes the copies).
 */
export async function embeddedDataDirFromTemplate(dataDir: string, template: "migrated" | "empty"): Promise<void> {
  const dump = readFileSync(inject(template === "empty" ? "pgliteEmptyDump" : "pgliteDump"));
  const embedded = await startEmbeddedDatabase({ dataDir, loadDataDir: new Blob([dump]) });
  await embedded.stop();
}

const openedInstances: { t: TestDatabase; dbs: Database[] }[] = [];

/**
 * A fresh database, opened `n` times: separate pools (instances) on PostgreSQL;
 * one in-memory database on PGlite. Closed and dropped by closeInstances()
 * (call it in afterEach).
 */
export async function openInstances(n: number): Promise<Database[]> {
  const t = await createTestDatabase();
  const first = await openDatabase(t.target);
  const dbs = [first];
  for (let i = 1; i < n; i++) dbs.push(t.kind === "postgres" ? await openDatabase(t.target) : first);
  openedInstances.push({ t, dbs: [...new Set(dbs)] });
  return dbs;
}

export async function closeInstances(): Promise<void> {
  for (const { t, dbs } of openedInstances.splice(0)) {
    for (const db of dbs) await db.close();
    await t.drop();
  }
}
