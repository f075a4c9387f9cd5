import { resolve } from "node:path";
import { generateKeyEncryptionSecret } from "../lib/key-encryption.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../lib/log.ts";
import { createPrismaClient, parseDatabaseUrl } from "./client.ts";
import { DEFAULT_DATABASE_POOL, type DatabasePoolOptions } from "./pool-options.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase, type PgConnection } from "./embedded.ts";
import { migrate } from "./migrate.ts";
import { dataDirKeyEncryptionSecret } from "./key-encryption-secret.ts";

export type { Db, DbTx } from "./client.ts";
export type { DatabasePoolOptions } from "./pool-options.ts";

/** The connection pool's counters, as pg-pool keeps them. */
export interface PoolStats {
  /** connections open (idle or in use) */
  total: number;
  idle: number;
  /** queries and transactions waiting for a connection */
  waiting: number;
  max: number;
}

/**
 * Plain SQL on the same pool as Prisma, for the few hottest statements, where
 * Prisma's query compiler costs more than the database (issue 10; see
 * bench/RESULTS.md). Timestamps are stored as UTC in `timestamp(3)` columns:
 * convert with `AT TIME ZONE 'UTC'` both ways.
 */
export type Sql = <T>(text: string, values?: unknown[]) => Promise<T[]>;

export interface Database {
  kind: "embedded" | "postgres";
  prisma: PrismaClient;
  sql: Sql;
  connection: PgConnection;
  /** Migrations applied by this open (empty when the schema was current). */
  appliedMigrations: string[];
  /**
   * The key-encryption secret to use when KEY_ENCRYPTION_SECRET is unset: the
   * embedded data folder's (created on first use), a random one for an
   * in-memory database (it lives as long as this open), null on PostgreSQL.
   */
  defaultKeyEncryptionSecret(): string | null;
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export type DatabaseTarget = { kind: "postgres"; url: string } | { kind: "embedded"; dataDir?: string; loadDataDir?: Blob };

/** Opens the database, applies pending migrations and returns a Prisma client on it. */
export async function openDatabase(
  target: DatabaseTarget,
  options: {
    /** sees every SQL statement Prisma sends (tests count them) */
    onQuery?: (sql: string) => void;
    /** PostgreSQL's pool; the embedded database always has one connection */
    pool?: Partial<DatabasePoolOptions>;
    /** hears the embedded database's warnings (its data folder's permissions, where its socket is) */
    logger?: Pick<Logger, "warn" | "info">;
  } = {},
): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let connection: PgConnection;
  if (target.kind === "postgres") {
    connection = parseDatabaseUrl(target.url);
  } else {
    embedded = await startEmbeddedDatabase({
      dataDir: target.dataDir ? resolve(target.dataDir) : undefined,
      loadDataDir: target.loadDataDir,
      logger: options.logger,
    });
    connection = embedded.connection;
  }
  let closePool: (() => Promise<void>) | undefined;
  try {
    const appliedMigrations = await migrate(connection);
    // The embedded server takes one connection; PostgreSQL gets a small pool per instance.
    const poolOptions = { ...DEFAULT_DATABASE_POOL, ...options.pool };
    if (embedded) poolOptions.max = 1;
    const { prisma, pool } = createPrismaClient(connection, poolOptions, options.onQuery);
    closePool = () => pool.end();
    await prisma.$connect();
    const sql: Sql = async <T>(text: string, values?: unknown[]) => {
      options.onQuery?.(text);
      return (await pool.query(text, values)).rows as T[];
    };
    let inMemorySecret: string | undefined;
    const dataDir = target.kind === "embedded" && target.dataDir ? resolve(target.dataDir) : undefined;
    return {
      kind: target.kind,
      prisma,
      sql,
      connection,
      appliedMigrations,
      defaultKeyEncryptionSecret() {
        if (target.kind === "postgres") return null;
        if (dataDir) return dataDirKeyEncryptionSecret(dataDir);
        inMemorySecret ??= generateKeyEncryptionSecret();
        return inMemorySecret;
      },
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolOptions.max }),
      async close() {
        await prisma.$disconnect();
        await pool.end();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await closePool?.().catch(() => {});
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
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
