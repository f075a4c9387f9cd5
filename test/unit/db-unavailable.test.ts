// isDatabaseUnavailable() against the errors Prisma + @prisma/adapter-pg + pg-pool
// really throw: each one is produced here for real (a held pool, a locked table,
// a closed port), never built by hand, so that an upgrade that changes their
// shape fails here instead of turning 503s back into 500s.
import net from "node:net";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, parseDatabaseUrl } from "../../src/db/client.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { asUnavailable, databaseUnavailableReason, describeUnavailable, isDatabaseUnavailable } from "../../src/db/unavailable.ts";
import { UnavailableError } from "../../src/lib/errors.ts";
import { POSTGRES_ADMIN_URL, postgresAnswers } from "../helpers/kinds.ts";

/** The error `fn` rejects with (fails the test when it resolves). */
async function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Runs `fn` while an interactive transaction holds the pool's only connection. */
async function withHeldPool(db: Database, fn: () => Promise<void>): Promise<void> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const holding = new Promise<void>((r) => (started = r));
  const done = db.prisma
    .$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1`;
        started();
        await released;
      },
      { timeout: 60_000 },
    )
    .catch(() => {});
  await holding;
  try {
    await fn();
  } finally {
    release();
    await done;
  }
}

describe("isDatabaseUnavailable: pool exhaustion (embedded database, one connection)", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ kind: "embedded" }, { pool: { acquireTimeoutMs: 200 } });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("a model query, a raw query and a transaction that get no connection within the bound", async () => {
    await withHeldPool(db, async () => {
      const model = await errorOf(() => db.prisma.user.findFirst());
      expect((model as Error).message).toBe("timeout exceeded when trying to connect");
      expect(isDatabaseUnavailable(model)).toBe(true);
      expect(databaseUnavailableReason(model)).toBe("no pooled connection free in time");
      expect(isDatabaseUnavailable(await errorOf(() => db.prisma.$queryRaw`SELECT 1`))).toBe(true);
      expect(isDatabaseUnavailable(await errorOf(() => db.prisma.$transaction(async (tx) => tx.user.count())))).toBe(true);
      expect(isDatabaseUnavailable(await errorOf(() => db.prisma.$transaction([db.prisma.user.count()])))).toBe(true);
    });
    // and the pool recovers once the connection is back
    expect(await db.prisma.user.count()).toBeGreaterThanOrEqual(0);
  });

  it("the embedded database (PGlite) accepts statement_timeout but never cancels a statement", async () => {
    // PGlite runs PostgreSQL single-threaded in WebAssembly without the timer
    // signal that cancels statements: the setting is stored and ignored.
    const rows = await db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("SET LOCAL statement_timeout = 50");
      return tx.$queryRawUnsafe<{ slept: string }[]>("SELECT pg_sleep(0.3)::text AS slept");
    });
    expect(rows).toEqual([{ slept: "" }]);
  });

  it("says no to errors that are the request's or the code's fault", async () => {
    const email = `dup-${randomBytes(4).toString("hex")}@example.test`;
    await db.prisma.user.create({ data: { email, name: "x", passwordHash: "x" } });
    const duplicate = await errorOf(() => db.prisma.user.create({ data: { email, name: "x", passwordHash: "x" } }));
    expect((duplicate as { code?: string }).code).toBe("P2002");
    expect(isDatabaseUnavailable(duplicate)).toBe(false);
    expect(isDatabaseUnavailable(await errorOf(() => db.prisma.$queryRawUnsafe("SELEC 1")))).toBe(false);
    expect(isDatabaseUnavailable(await errorOf(() => db.prisma.$queryRawUnsafe("SELECT 1/0")))).toBe(false);
    expect(isDatabaseUnavailable(new Error("boom"))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("x is undefined"))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    expect(isDatabaseUnavailable("timeout exceeded when trying to connect")).toBe(false);
  });

  it("looks through wrappers: cause, and GraphQL's originalError", async () => {
    await withHeldPool(db, async () => {
      const err = await errorOf(() => db.prisma.user.findFirst());
      expect(isDatabaseUnavailable(new Error("outer", { cause: err }))).toBe(true);
      expect(isDatabaseUnavailable(Object.assign(new Error("Unexpected error."), { originalError: err }))).toBe(true);
    });
  });

  it("asUnavailable: one 503 for a saturated database and for an UnavailableError, nothing for the rest", async () => {
    await withHeldPool(db, async () => {
      const err = await errorOf(() => db.prisma.user.findFirst());
      const answer = asUnavailable(err);
      expect(answer).toBeInstanceOf(UnavailableError);
      expect(answer!.retryAfterSeconds).toBe(1);
      // the public message names no internals
      expect(answer!.message).not.toMatch(/timeout|pool|prisma|pg/i);
      expect(describeUnavailable(err)).toBe("no pooled connection free in time");
    });
    const full = new UnavailableError("The audit trail cannot be written right now; try again shortly.", 2);
    expect(asUnavailable(full)).toBe(full);
    expect(asUnavailable(Object.assign(new Error("Unexpected error."), { originalError: full }))).toBe(full);
    expect(describeUnavailable(full)).toBe(full.message);
    expect(asUnavailable(new Error("boom"))).toBeUndefined();
  });
});

describe("isDatabaseUnavailable: a server that cannot be reached", () => {
  it("a closed port (DatabaseNotReachable) and a server that never answers (connect timeout)", async () => {
    const silent = net.createServer(() => {}); // accepts, never speaks
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const options = { max: 1, statementTimeoutMs: 0, acquireTimeoutMs: 200 };
    const opened: { prisma: { $disconnect(): Promise<void> }; pool: pg.Pool }[] = [];
    try {
      for (const port of [closedPort, silentPort]) {
        const c = createPrismaClient({ host: "127.0.0.1", port, user: "postgres", database: "postgres" }, options);
        opened.push(c);
        const err = await errorOf(() => c.prisma.user.findFirst());
        expect(isDatabaseUnavailable(err), String((err as Error).message)).toBe(true);
      }
    } finally {
      for (const c of opened) {
        await c.prisma.$disconnect().catch(() => {});
        await c.pool.end().catch(() => {});
      }
      silent.close();
    }
  });
});

const withPostgres = await postgresAnswers();

describe.skipIf(!withPostgres)("isDatabaseUnavailable: statement_timeout on PostgreSQL (SQLSTATE 57014)", () => {
  const name = `t_unavail_${randomBytes(6).toString("hex")}`;
  let db: Database;
  const admin = async (sql: string) => {
    const c = new pg.Client(parseDatabaseUrl(POSTGRES_ADMIN_URL));
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  beforeAll(async () => {
    await admin(`CREATE DATABASE "${name}"`);
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    db = await openDatabase({ kind: "postgres", url: url.href }, { pool: { max: 1, statementTimeoutMs: 100, acquireTimeoutMs: 200 } });
  });
  afterAll(async () => {
    await db?.close();
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });

  it("a raw statement cancelled by statement_timeout (P2010 wrapping 57014)", async () => {
    const err = await errorOf(() => db.prisma.$queryRawUnsafe("SELECT pg_sleep(2)::text"));
    expect((err as { code?: string }).code).toBe("P2010");
    expect(JSON.stringify((err as { meta?: unknown }).meta)).toContain("57014");
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(databaseUnavailableReason(err)).toBe("statement cancelled (statement_timeout, SQLSTATE 57014)");
  });

  it("a model query and a write cancelled while waiting on a lock (the adapter's DriverAdapterError, 57014)", async () => {
    const locker = new pg.Client(db.connection);
    await locker.connect();
    try {
      await locker.query("BEGIN");
      await locker.query('LOCK TABLE "User" IN ACCESS EXCLUSIVE MODE');
      const read = await errorOf(() => db.prisma.user.findFirst());
      expect((read as Error).name).toBe("DriverAdapterError");
      expect((read as { cause?: { originalCode?: string } }).cause?.originalCode).toBe("57014");
      expect(isDatabaseUnavailable(read)).toBe(true);
      const write = await errorOf(() => db.prisma.user.create({ data: { email: "w@example.test", name: "w", passwordHash: "x" } }));
      expect(isDatabaseUnavailable(write)).toBe(true);
      const inTx = await errorOf(() => db.prisma.$transaction(async (tx) => tx.user.count()));
      expect(isDatabaseUnavailable(inTx)).toBe(true);
    } finally {
      await locker.query("ROLLBACK");
      await locker.end();
    }
  });

  it("the pool-exhaustion error is the same on PostgreSQL", async () => {
    await withHeldPool(db, async () => {
      expect(isDatabaseUnavailable(await errorOf(() => db.prisma.user.findFirst()))).toBe(true);
    });
  });

  it("a transaction that got its connection only after Prisma's maxWait (P2028)", async () => {
    // Our clients set maxWait above the pool's bound, so the pool's error comes
    // first; P2028 is what a shorter maxWait on a call gives.
    const c = createPrismaClient(db.connection, { max: 1, statementTimeoutMs: 0, acquireTimeoutMs: 5_000 });
    try {
      const release = c.prisma.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 1`;
        await new Promise((r) => setTimeout(r, 300));
      });
      await new Promise((r) => setTimeout(r, 50));
      const p2028 = await errorOf(() => c.prisma.$transaction(async (tx) => tx.user.count(), { maxWait: 20 }));
      await release;
      expect((p2028 as { code?: string }).code, String(p2028)).toBe("P2028");
      expect(isDatabaseUnavailable(p2028)).toBe(true);
    } finally {
      await c.prisma.$disconnect();
      await c.pool.end();
    }
  });
});
