// The checked-in migrations build exactly the database prisma/schema.prisma
// describes. Both are turned into a real database (in-memory PGlite) and their
// catalogs compared: tables, columns (type, nullability, default), indexes,
// constraints and enums.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/db/embedded.ts";
import { migrate, readMigrations } from "../../src/db/migrate.ts";
import { BIN, firstDifference, PRISMA_ENV, ROOT, runNode } from "./support.ts";

type PGliteDb = EmbeddedDatabase["pglite"];

/**
 * The public schema's catalog as sorted lines, one per table, column, index,
 * constraint and enum. Column order and enum label order are left out: a
 * migration that adds a column or an enum value appends it, while a database
 * built from scratch follows schema.prisma, and Prisma treats both as the same.
 */
async function catalog(db: PGliteDb): Promise<string[]> {
  const lines: string[] = [];
  const rows = async <T>(sql: string) => (await db.query<T>(sql)).rows;

  for (const r of await rows<{ name: string; kind: string }>(`
      SELECT c.relname AS name, c.relkind AS kind FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND c.relname <> '_prisma_migrations'`)) {
    lines.push(`relation ${r.name} (relkind ${r.kind})`);
  }
  for (const r of await rows<{
    tbl: string;
    col: string;
    type: string;
    notnull: boolean;
    def: string | null;
    identity: string;
    generated: string;
  }>(`
      SELECT c.relname AS tbl, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type,
             a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def,
             a.attidentity AS identity, a.attgenerated AS generated
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
        AND c.relname <> '_prisma_migrations'`)) {
    lines.push(
      `column ${r.tbl}.${r.col} ${r.type}${r.notnull ? " NOT NULL" : " NULL"}` +
        (r.def !== null ? ` DEFAULT ${r.def}` : "") +
        (r.identity ? ` IDENTITY ${r.identity}` : "") +
        (r.generated ? ` GENERATED ${r.generated}` : ""),
    );
  }
  for (const r of await rows<{ def: string }>(`
      SELECT indexdef AS def FROM pg_indexes
      WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`)) {
    lines.push(`index ${r.def}`);
  }
  for (const r of await rows<{ tbl: string; name: string; def: string }>(`
      SELECT c.relname AS tbl, con.conname AS name, pg_get_constraintdef(con.oid) AS def
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = con.connamespace
      WHERE n.nspname = 'public' AND c.relname <> '_prisma_migrations'`)) {
    lines.push(`constraint ${r.tbl}.${r.name} ${r.def}`);
  }
  for (const r of await rows<{ name: string; labels: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumlabel::text) AS labels
      FROM pg_type t
      JOIN pg_namespace n ON n.oid = t.typnamespace
      JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE n.nspname = 'public' GROUP BY t.typname`)) {
    lines.push(`enum ${r.name} (${r.labels.join(", ")})`);
  }
  return lines.sort();
}

/** Lines only in `a`, lines only in `b`. */
function catalogDiff(a: string[], b: string[]): { onlyInA: string[]; onlyInB: string[] } {
  const setA = new Set(a);
  const setB = new Set(b);
  return { onlyInA: a.filter((l) => !setB.has(l)), onlyInB: b.filter((l) => !setA.has(l)) };
}

function describeDiff(d: { onlyInA: string[]; onlyInB: string[] }): string {
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `  ${x}`).join("\n") : "  (nothing)");
  return (
    `Only in the database the migrations build:\n${list(d.onlyInA)}\n` +
    `Only in the database prisma/schema.prisma describes:\n${list(d.onlyInB)}`
  );
}

let migrated: EmbeddedDatabase;
let fromSchema: EmbeddedDatabase;
let schemaSql: string;

beforeAll(async () => {
  // What `npm run migration:new` would write for a database built from nothing.
  const sqlPromise = runNode(
    BIN.prisma,
    ["migrate", "diff", "--from-empty", "--to-schema-datamodel", "prisma/schema.prisma", "--script"],
    PRISMA_ENV,
  );
  migrated = await startEmbeddedDatabase({});
  // A second empty database from a copy of the first: loading a copy costs a
  // fraction of what creating one (PGlite's initdb) does.
  fromSchema = await startEmbeddedDatabase({ loadDataDir: await migrated.pglite.dumpDataDir("none") });
  await migrate(migrated.connection);
  schemaSql = await sqlPromise;
}, 180_000);

afterAll(async () => {
  await migrated?.stop();
  await fromSchema?.stop();
});

describe("prisma/migrations is in step with prisma/schema.prisma", () => {
  it("there is at least one migration and every one has SQL", () => {
    const migrations = readMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    for (const m of migrations) expect(m.sql, `${m.name}/migration.sql is empty`).toMatch(/\b(CREATE|ALTER|DROP)\b/);
  });

  it("prisma migrate diff printed the schema's SQL", () => {
    // Without the JS engine and a connecting adapter it prints nothing and exits 0 (STACK.md).
    expect(schemaSql, "prisma migrate diff --from-empty printed no SQL: check prisma.config.ts").toMatch(/CREATE TABLE/);
  });

  it("applying every migration gives the same tables, columns, indexes, constraints and enums as schema.prisma", async () => {
    await fromSchema.pglite.exec(schemaSql);
    const a = await catalog(migrated.pglite);
    const b = await catalog(fromSchema.pglite);
    expect(b.length).toBeGreaterThan(20);
    const d = catalogDiff(a, b);
    if (d.onlyInA.length || d.onlyInB.length) {
      expect.fail(
        "The migrations in prisma/migrations do not build the database that prisma/schema.prisma describes. " +
          "Write the missing migration with `npm run migration:new -- <name>` (and never edit an applied one).\n" +
          describeDiff(d),
      );
    }
  });

  it("prisma/migrations/schema.snapshot.prisma is the schema.prisma of the last migration", () => {
    const schema = readFileSync(join(ROOT, "prisma/schema.prisma"), "utf8");
    const snapshot = readFileSync(join(ROOT, "prisma/migrations/schema.snapshot.prisma"), "utf8");
    if (schema !== snapshot) {
      expect.fail(
        "prisma/schema.prisma changed since the last migration (prisma/migrations/schema.snapshot.prisma differs). " +
          "Run `npm run migration:new -- <name>`; if the change does not touch the database (comments, formatting), " +
          "copy prisma/schema.prisma over the snapshot instead.\n" +
          firstDifference(snapshot, schema, ["schema.snapshot.prisma", "schema.prisma"]),
      );
    }
  });
});

describe("the catalog comparison notices drift", () => {
  // Changes the migrated database in each way a forgotten migration could, in a
  // transaction that is rolled back (PostgreSQL's catalog is transactional, so
  // each change is seen inside it and gone after), and checks that the
  // comparison above would report it.
  let before: string[];
  beforeAll(async () => {
    before = await catalog(migrated.pglite);
  });
  const drifts: Array<[string, string, RegExp]> = [
    ["a new column", `ALTER TABLE "User" ADD COLUMN "nickname" TEXT`, /^column User\.nickname text NULL$/],
    [
      "a type change",
      `ALTER TABLE "Measurement" ALTER COLUMN "unit" TYPE VARCHAR(20)`,
      /^column Measurement\.unit character varying\(20\) NOT NULL$/,
    ],
    ["a nullability change", `ALTER TABLE "User" ALTER COLUMN "name" DROP NOT NULL`, /^column User\.name text NULL$/],
    [
      "a default change",
      `ALTER TABLE "OAuthClient" ALTER COLUMN "accessTokenTtl" SET DEFAULT 300`,
      /^column OAuthClient\.accessTokenTtl integer NOT NULL DEFAULT 300$/,
    ],
    ["a new index", `CREATE INDEX "User_name_idx" ON "User"("name")`, /^index CREATE INDEX "User_name_idx"/],
    [
      "a changed foreign key",
      `ALTER TABLE "Measurement" DROP CONSTRAINT "Measurement_userId_fkey", ADD CONSTRAINT "Measurement_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT`,
      /^constraint Measurement\.Measurement_userId_fkey FOREIGN KEY \("userId"\) REFERENCES "User"\(id\)( ON DELETE RESTRICT)?$/,
    ],
    ["a new enum value", `ALTER TYPE "MeasurementType" ADD VALUE 'BLOOD_PRESSURE'`, /^enum MeasurementType \(.*BLOOD_PRESSURE/],
    ["a new table", `CREATE TABLE "Extra" ("id" TEXT PRIMARY KEY)`, /^relation Extra \(relkind r\)$/],
  ];

  it.each(drifts)("reports %s", async (_what, sql, expected) => {
    await migrated.pglite.exec("BEGIN");
    let after: string[];
    try {
      await migrated.pglite.exec(sql);
      after = await catalog(migrated.pglite);
    } finally {
      await migrated.pglite.exec("ROLLBACK");
    }
    const d = catalogDiff(before, after);
    expect(
      d.onlyInB.some((l) => expected.test(l)),
      describeDiff(d),
    ).toBe(true);
    expect(await catalog(migrated.pglite)).toEqual(before); // rolled back
  });
});
