import { resolve } from "node:path";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { createPrismaClient, parseDatabaseUrl } from "./client.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase, type PgConnection } from "./embedded.ts";
import { migrate } from "./migrate.ts";

export type { Db, DbTx } from "./client.ts";

export interface Database {
  kind: "embedded" | "postgres";
  prisma: PrismaClient;
  connection: PgConnection;
  /** Migrations applied by this open (empty when the schema was current). */
  appliedMigrations: string[];
  close(): Promise<void>;
}

export type DatabaseTarget =
  | { kind: "postgres"; url: string }
  | { kind: "embedded"; dataDir?: string; loadDataDir?: Blob };

/** Opens the database, applies pending migrations and returns a Prisma client on it. */
export async function openDatabase(
  target: DatabaseTarget,
  options: { /** sees every SQL statement Prisma sends (tests count them) */ onQuery?: (sql: string) => void } = {},
): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let connection: PgConnection;
  if (target.kind === "postgres") {
    connection = parseDatabaseUrl(target.url);
  } else {
    embedded = await startEmbeddedDatabase({
      dataDir: target.dataDir ? resolve(target.dataDir) : undefined,
      loadDataDir: target.loadDataDir,
    });
    connection = embedded.connection;
  }
  try {
    const appliedMigrations = await migrate(connection);
    // The embedded server takes one connection; PostgreSQL gets a small pool per instance.
    const prisma = createPrismaClient(connection, embedded ? 1 : 10, options.onQuery);
    await prisma.$connect();
    return {
      kind: target.kind,
      prisma,
      connection,
      appliedMigrations,
      async close() {
        await prisma.$disconnect();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop().catch(() => {});
    throw err;
  }
}

/** True when the database answers a trivial query. */
export async function databaseAnswers(prisma: PrismaClient, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      prisma.$queryRaw`SELECT 1`.then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
