import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient, type Prisma } from "../generated/prisma/client.ts";
import type { PgConnection } from "./embedded.ts";
import type { DatabasePoolOptions } from "./pool-options.ts";

export type Db = PrismaClient;
/** A client or an open transaction: functions that take this can run inside either. */
export type DbTx = Prisma.TransactionClient;

/** Splits a postgres:// URL into the discrete fields PrismaPg needs. */
export function parseDatabaseUrl(url: string): PgConnection {
  const u = new URL(url);
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new Error(`DATABASE_URL must start with postgres:// (got ${u.protocol}//)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || "postgres",
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: database || "postgres",
  };
}

/**
 * A Prisma client on our own `pg` pool: PrismaPg would build an equivalent one
 * itself, but then the pool's counters (total, idle, waiting) are out of reach,
 * and /metrics reports them.
 */
export function createPrismaClient(
  connection: PgConnection,
  options: DatabasePoolOptions,
  onQuery?: (sql: string) => void,
): { prisma: PrismaClient; pool: pg.Pool } {
  const pool = new pg.Pool({
    ...connection,
    max: options.max,
    connectionTimeoutMillis: options.acquireTimeoutMs,
    // Sent at connection start-up; pg leaves it out when 0 (PostgreSQL's default, no limit).
    statement_timeout: options.statementTimeoutMs,
  });
  // An idle connection that dies (PostgreSQL restarted, the connection was
  // terminated) is dropped by the pool, which then emits 'error': unheard, that
  // would crash the process. The next query opens a new connection.
  pool.on("error", () => {});
  const adapter = new PrismaPg(pool);
  // An interactive transaction waits for its connection up to maxWait (Prisma's
  // default is 2 s): a little longer than the pool's own bound, so that one
  // bound, the pool's, decides, and the pool drops the waiter it gave up on.
  const transactionOptions = { maxWait: options.acquireTimeoutMs + 1_000 };
  if (!onQuery) return { prisma: new PrismaClient({ adapter, transactionOptions }), pool };
  const client = new PrismaClient({ adapter, transactionOptions, log: [{ emit: "event", level: "query" }] });
  client.$on("query", (e) => onQuery(e.query));
  return { prisma: client as unknown as PrismaClient, pool };
}
