import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, type Prisma } from "../generated/prisma/client.ts";
import type { PgConnection } from "./embedded.ts";

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

export function createPrismaClient(
  connection: PgConnection,
  poolMax: number,
  onQuery?: (sql: string) => void,
): PrismaClient {
  const adapter = new PrismaPg({
    ...connection,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
  });
  if (!onQuery) return new PrismaClient({ adapter });
  const client = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  client.$on("query", (e) => onQuery(e.query));
  return client as unknown as PrismaClient;
}
