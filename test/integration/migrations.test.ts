import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "../../src/db/client.ts";
import { startEmbeddedDatabase, type PgConnection } from "../../src/db/embedded.ts";
import { openDatabase, type DatabaseTarget } from "../../src/db/index.ts";
import { migrate, MigrationChecksumError, readMigrations, type Migration } from "../../src/db/migrate.ts";
import { currentKind, POSTGRES_ADMIN_URL } from "../helpers/kinds.ts";
import { adminQuery, embeddedDataDirFromTemplate } from "../helpers/db.ts";

// Runs on the database kind of the test project: an embedded data folder in the
// "pglite" project, a PostgreSQL database in the "postgres" one. Each test starts
// from an empty database (not the harness's migrated template).
const kind = currentKind();
/** `it` on PostgreSQL only; on PGlite not registered at all (not "skipped"). */
const itOnPostgres = kind === "postgres" ? it : ((() => {}) as unknown as typeof it);
const MIGRATIONS = readMigrations();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

interface EmptyDatabase {
  target: DatabaseTarget;
  /** Runs fn with a live connection to the database (starting PGlite on the folder when embedded). */
  withConnection<T>(fn: (c: PgConnection) => Promise<T>): Promise<T>;
}

async function emptyDatabase(): Promise<EmptyDatabase> {
  if (kind === "postgres") {
    const name = `sg_mig_${randomBytes(6).toString("hex")}`;
    await adminQuery(`CREATE DATABASE "${name}"`);
    cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    const connection = { ...parseDatabaseUrl(POSTGRES_ADMIN_URL), database: name };
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return { target: { kind: "postgres", url: url.href }, withConnection: (fn) => fn(connection) };
  }
  const dir = mkdtempSync(join(tmpdir(), "scopegate-mig-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, "data");
  await embeddedDataDirFromTemplate(dataDir, "empty"); // as initdb leaves it, without paying for initdb
  return {
    target: { kind: "embedded", dataDir },
    async withConnection(fn) {
      const embedded = await startEmbeddedDatabase({ dataDir });
      try {
        return await fn(embedded.connection);
      } finally {
        await embedded.stop();
      }
    },
  };
}

async function sql<T extends pg.QueryResultRow>(c: PgConnection, text: string): Promise<T[]> {
  const client = new pg.Client(c);
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const recorded = (c: PgConnection) =>
  sql<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
    c,
    `SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name`,
  );

const columns = (c: PgConnection) =>
  sql<{ table_name: string; column_name: string; data_type: string }>(
    c,
    `SELECT table_name, column_name, data_type FROM information_schema.columns
     WHERE table_schema = 'public' ORDER BY table_name, column_name`,
  );

function migration(name: string, text: string): Migration {
  return { name, sql: text, checksum: createHash("sha256").update(text).digest("hex") };
}

describe(`migrations on ${kind === "postgres" ? "PostgreSQL" : "the embedded database"}`, () => {
  it("there are checked-in migrations, in order, with sha256 checksums", () => {
    expect(MIGRATIONS.length).toBeGreaterThan(0);
    expect(MIGRATIONS.map((m) => m.name)).toEqual([...MIGRATIONS.map((m) => m.name)].sort());
    for (const m of MIGRATIONS) {
      expect(m.name).toMatch(/^\d{14}_\w+$/);
      expect(m.sql.trim().length).toBeGreaterThan(0);
      expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("opening the same database twice applies the migrations once, then nothing", async () => {
    const db = await emptyDatabase();
    const first = await openDatabase(db.target);
    expect(first.appliedMigrations).toEqual(MIGRATIONS.map((m) => m.name));
    // The schema is really there and usable.
    expect(await first.prisma.user.count()).toBe(0);
    await first.close();

    const before = await db.withConnection(async (c) => ({ recorded: await recorded(c), columns: await columns(c) }));
    expect(before.recorded.map((r) => [r.migration_name, r.checksum])).toEqual(MIGRATIONS.map((m) => [m.name, m.checksum]));
    for (const r of before.recorded) {
      expect(r.finished_at).not.toBeNull();
      expect(r.applied_steps_count).toBe(1);
    }
    expect(before.columns.some((col) => col.table_name === "User" && col.column_name === "email")).toBe(true);

    const second = await openDatabase(db.target);
    expect(second.appliedMigrations).toEqual([]);
    await second.close();

    const after = await db.withConnection(async (c) => ({ recorded: await recorded(c), columns: await columns(c) }));
    expect(after).toEqual(before);
  });

  it("refuses to start when an applied migration's checksum changed", async () => {
    const db = await emptyDatabase();
    await (await openDatabase(db.target)).close();
    const [firstMigration, ...rest] = MIGRATIONS;
    const altered = [migration(firstMigration!.name, `${firstMigration!.sql}\n-- edited after release\n`), ...rest];
    const extra = migration("29991231235959_after_the_edit", `CREATE TABLE "sg_should_not_exist" (id int);`);

    await db.withConnection(async (c) => {
      const err = await migrate(c, [...altered, extra]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationChecksumError);
      expect((err as Error).message).toContain(firstMigration!.name);
      expect((err as Error).message).toMatch(/changed after it was applied/);
      // Nothing after the refusal ran.
      expect(await sql(c, `SELECT to_regclass('public.sg_should_not_exist') AS t`)).toEqual([{ t: null }]);
      expect((await recorded(c)).map((r) => r.migration_name)).toEqual(MIGRATIONS.map((m) => m.name));

      // The same refusal at start-up, when the recorded checksum no longer matches the file.
      await sql(c, `UPDATE "_prisma_migrations" SET checksum = '${"f".repeat(64)}' WHERE migration_name = '${firstMigration!.name}'`);
    });
    await expect(openDatabase(db.target)).rejects.toBeInstanceOf(MigrationChecksumError);

    // Put back, it opens again (and the refused open left nothing locked behind).
    await db.withConnection((c) =>
      sql(c, `UPDATE "_prisma_migrations" SET checksum = '${firstMigration!.checksum}' WHERE migration_name = '${firstMigration!.name}'`),
    );
    const reopened = await openDatabase(db.target);
    expect(reopened.appliedMigrations).toEqual([]);
    await reopened.close();
  });

  it("a failing migration is rolled back and not recorded; a later good one is applied once", async () => {
    const db = await emptyDatabase();
    await (await openDatabase(db.target)).close();
    const broken = migration("29991231235958_broken", `CREATE TABLE "sg_half_done" (id int);\nSELECT 1 / 0;`);
    const good = migration("29991231235959_good", `CREATE TABLE "sg_added_later" (id int);`);
    await db.withConnection(async (c) => {
      await expect(migrate(c, [...MIGRATIONS, broken, good])).rejects.toThrow(/migration 29991231235958_broken failed: division by zero/);
      expect(await sql(c, `SELECT to_regclass('public.sg_half_done') AS a, to_regclass('public.sg_added_later') AS b`)).toEqual([
        { a: null, b: null },
      ]);
      expect((await recorded(c)).map((r) => r.migration_name)).toEqual(MIGRATIONS.map((m) => m.name));

      expect(await migrate(c, [...MIGRATIONS, good])).toEqual([good.name]);
      expect(await migrate(c, [...MIGRATIONS, good])).toEqual([]);
      expect((await recorded(c)).map((r) => r.migration_name)).toEqual([...MIGRATIONS.map((m) => m.name), good.name]);
      expect(await sql(c, `SELECT to_regclass('public.sg_added_later')::text AS b`)).toEqual([{ b: "sg_added_later" }]);
    });
  });

  itOnPostgres("concurrent migrate() calls on one fresh database don't race (advisory lock)", async () => {
    const db = await emptyDatabase();
    await db.withConnection(async (c) => {
      const results = await Promise.all([migrate(c), migrate(c), migrate(c), migrate(c)]);
      // Exactly one of them applied everything; the others found nothing to do.
      expect(results.filter((r) => r.length > 0)).toEqual([MIGRATIONS.map((m) => m.name)]);
      expect(results.filter((r) => r.length === 0)).toHaveLength(3);
      expect((await recorded(c)).map((r) => r.migration_name)).toEqual(MIGRATIONS.map((m) => m.name));
      // And the lock is released afterwards.
      expect(
        await sql(
          c,
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        ),
      ).toEqual([{ n: 0 }]);
    });
  });

  itOnPostgres("two instances starting together on one fresh database both come up", async () => {
    const db = await emptyDatabase();
    const [a, b] = await Promise.all([openDatabase(db.target), openDatabase(db.target)]);
    try {
      expect([a.appliedMigrations, b.appliedMigrations].sort((x, y) => y.length - x.length)).toEqual([MIGRATIONS.map((m) => m.name), []]);
      expect(await a.prisma.user.count()).toBe(0);
      expect(await b.prisma.user.count()).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
