import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { parseDatabaseUrl } from "../src/db/client.ts";
import { startEmbeddedDatabase } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { POSTGRES_ADMIN_URL } from "./helpers/kinds.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteDump: string;
    /** the same before migrating: an empty database, for tests that start from nothing */
    pgliteEmptyDump: string;
    postgresTemplate: string;
  }
}

/**
 * Migrates once per run: a PGlite data dump that every test file starts from,
 * and a PostgreSQL template database that every test file's database is cloned from.
 */
export default async function setup(project: TestProject) {
  const kind = project.name;
  console.log(
    `[scopegate tests] integration tests on ${kind === "pglite" ? "embedded PGlite" : "PostgreSQL"} (database kinds this run: ${process.env.SCOPEGATE_TEST_KINDS})`,
  );
  const dir = mkdtempSync(join(tmpdir(), "scopegate-test-"));

  if (kind === "pglite") {
    const embedded = await startEmbeddedDatabase({});
    // Creating a PGlite database (its initdb) costs several times what loading a
    // copy does: tests that need an empty one load this copy instead.
    const empty = await embedded.pglite.dumpDataDir("none");
    await migrate(embedded.connection);
    const dump = await embedded.pglite.dumpDataDir("none");
    await embedded.stop();
    const dumpPath = join(dir, "pglite.tar");
    writeFileSync(dumpPath, Buffer.from(await dump.arrayBuffer()));
    project.provide("pgliteDump", dumpPath);
    const emptyPath = join(dir, "pglite-empty.tar");
    writeFileSync(emptyPath, Buffer.from(await empty.arrayBuffer()));
    project.provide("pgliteEmptyDump", emptyPath);
  }

  let template = "";
  if (kind === "postgres") {
    template = `sg_tpl_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client(parseDatabaseUrl(POSTGRES_ADMIN_URL));
    await admin.connect();
    await admin.query(`CREATE DATABASE "${template}"`);
    await admin.end();
    await migrate({ ...parseDatabaseUrl(POSTGRES_ADMIN_URL), database: template });
  }
  project.provide("postgresTemplate", template);

  return async () => {
    rmSync(dir, { recursive: true, force: true });
    if (template) {
      const admin = new pg.Client(parseDatabaseUrl(POSTGRES_ADMIN_URL));
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
      await admin.end();
    }
  };
}
