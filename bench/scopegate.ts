import { randomBytes } from "node:crypto";
import net from "node:net";
import { loadConfig, type Config } from "../src/config.ts";
import { openDatabase, type Database, type DatabaseTarget } from "../src/db/index.ts";
import { createLogger } from "../src/log.ts";
import { startServer, type RunningServer } from "../src/server.ts";
import { signUp } from "../src/auth/accounts.ts";
import { insertClient } from "../src/oauth/clients.ts";
import { demoMeasurements } from "../src/seed/demo.ts";

/** A loopback port nobody listens on right now (the issuer must name the port before the server starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface BenchScopegate {
  server: RunningServer;
  db: Database;
  /** where the data lives, for the report (no password) */
  databaseLabel: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  userId: string;
  measurements: number;
  stop(): Promise<void>;
}

function describe(target: DatabaseTarget): string {
  if (target.kind === "embedded") return "embedded PGlite (in memory, behind pglite-socket, 1 connection)";
  const u = new URL(target.url);
  return `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname} (pool of 10)`;
}

/**
 * scopegate as tests start it (see test/helpers/server.ts), on loopback, with
 * one user who owns one confidential client and a seeded set of measurements.
 */
export async function startScopegate(databaseUrl: string | undefined): Promise<BenchScopegate> {
  const target: DatabaseTarget = databaseUrl ? { kind: "postgres", url: databaseUrl } : { kind: "embedded" };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config: Config = {
    ...loadConfig({ PORT: String(port), ISSUER: issuer, SEED_DEMO: "false", LOG_LEVEL: "silent" }),
    host: "127.0.0.1",
    database: target,
  };
  const db = await openDatabase(target);
  let server: RunningServer;
  try {
    server = await startServer(config, createLogger("silent", false), { db });
  } catch (err) {
    await db.close();
    throw err;
  }

  const signed = await signUp(db.prisma, {
    name: "Bench User",
    email: `bench-${randomBytes(6).toString("hex")}@example.com`,
    password: randomBytes(16).toString("base64url"),
  });
  if (!signed.ok) throw new Error(`could not create the bench user: ${JSON.stringify(signed.errors)}`);
  const user = signed.user;
  const rows = demoMeasurements(user.id);
  await db.prisma.measurement.createMany({ data: rows });
  const { client, clientSecret } = await insertClient(db.prisma, {
    ownerId: user.id,
    name: "Bench client",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://127.0.0.1/callback"],
    scopes: ["profile:read", "data:read"],
    accessTokenTtl: 3600,
  });

  let stopping: Promise<void> | undefined;
  return {
    server,
    db,
    databaseLabel: describe(target),
    issuer,
    clientId: client.clientId,
    clientSecret: clientSecret!,
    userId: user.id,
    measurements: rows.length,
    stop() {
      stopping ??= (async () => {
        await server.close(1_000);
        if (target.kind === "postgres") {
          // Leave a shared database as it was: the user's clients, tokens, data and audit rows cascade.
          await db.prisma.user.delete({ where: { id: user.id } }).catch(() => {});
        }
        await db.close();
      })();
      return stopping;
    },
  };
}
