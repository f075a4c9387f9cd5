import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { createApp, type AppHooks } from "./app.ts";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/index.ts";
import type { Logger } from "./lib/log.ts";
import type { Lookup } from "./lib/guarded-fetch.ts";
import { keyEncryptionFor } from "./db/key-encryption-secret.ts";
import { KeyStore } from "./oauth/keys.ts";
import { AccessTokenChecker } from "./oauth/access-tokens.ts";
import { Revocations } from "./oauth/revocations.ts";
import { AuditBuffer } from "./audit/buffer.ts";
import { hotPathLimits, RateLimitSync } from "./db/rate-limit-windows.ts";
import { Metrics } from "./metrics/metrics.ts";
import { seedDemo, type DemoCredentials } from "./seed/demo.ts";
import { WebhookDeliveryWorker } from "./webhooks/delivery.ts";
import { resealWebhookSecrets } from "./clients/webhook-endpoints.ts";
import { ProviderClient } from "./connectors/provider-client.ts";
import { SelfRegisteredClientSweeper } from "./clients/dynamic-registration.ts";
import { resealConnectorSecrets } from "./connectors/connections.ts";

export interface RunningServer {
  /** http://host:port the server listens on */
  url: string;
  port: number;
  db: Database;
  /** the signing keys (tests drive their rotation) */
  keys: KeyStore;
  /** the batched audit events (tests fill it) */
  audit: AuditBuffer;
  http: Server;
  /** what a first start seeded (null when nothing was seeded) */
  seeded: DemoCredentials | null;
  /** Writes the batched audit events now (tests, and anyone who must read the trail at once). */
  flushAudit(): Promise<void>;
  /** Sends this instance's rate-limit counts and reads the totals of every instance back now (tests). */
  syncRateLimits(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to drainMs), then closes the database if it opened it. */
  close(drainMs?: number): Promise<void>;
}

export class PortInUseError extends Error {}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(err.code === "EADDRINUSE" ? new PortInUseError(`port ${port} is already in use (set PORT to another port)`) : err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

export async function startServer(
  config: Config,
  logger: Logger,
  options: {
    db?: Database;
    /** programmatic only (see AppHooks) */
    hooks?: AppHooks;
    /** tests: how webhook delivery resolves names */
    webhookLookup?: Lookup;
  } = {},
): Promise<RunningServer> {
  const db = options.db ?? (await openDatabase(config.database, { pool: config.databasePool, logger }));
  let stopRevocations: () => Promise<void> = async () => {};
  try {
    if (db.appliedMigrations.length) logger.info({ migrations: db.appliedMigrations }, "applied migrations");
    // KEY_ENCRYPTION_SECRET, or the embedded database's own; PostgreSQL without it is refused here.
    const keyEncryption = keyEncryptionFor(config.keyEncryption, db);
    const keys = new KeyStore(db.prisma, {
      keyEncryption,
      logger,
      schedule: config.signingKeys,
    });
    await keys.init();
    await resealWebhookSecrets(db.prisma, keyEncryption, logger);
    await resealConnectorSecrets(db.prisma, keyEncryption, logger);
    const revocations = new Revocations(db, keys, logger);
    await revocations.start();
    stopRevocations = () => revocations.stop();
    const accessTokens = new AccessTokenChecker(keys, config.issuer, revocations);
    const audit = new AuditBuffer(db.prisma, db.sql, logger);
    const rateLimits = hotPathLimits(config.hotPathLimits);
    const rateLimitSync = new RateLimitSync(db.sql, Object.values(rateLimits), logger);
    const metrics = new Metrics();
    metrics.setPoolSource(() => db.poolStats());
    metrics.setRevocationLagSource(() => revocations.lagMs() / 1000);
    const app = createApp(
      {
        config,
        prisma: db.prisma,
        sql: db.sql,
        logger,
        keys,
        audit,
        revocations,
        accessTokens,
        metrics,
        rateLimits,
        webhooks: { allowLoopback: config.webhooks.allowLoopback, keyEncryption },
        connectors: {
          clients: new Map(config.connectors.map((p) => [p.slug, new ProviderClient(p)])),
          keyEncryption,
          logger,
          lockRefreshInDatabase: db.kind === "postgres",
        },
      },
      options.hooks,
    );
    const http = createServer(getRequestListener(app.fetch));
    http.keepAliveTimeout = 5_000;
    await listen(http, config.port, config.host);
    // Seed only once the port is ours: seeding first and then failing on a busy
    // port would create the demo accounts and never show their passwords.
    let seeded: DemoCredentials | null;
    try {
      seeded = config.seedDemo ? await seedDemo(db.prisma, config.issuer) : null;
    } catch (err) {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      throw err;
    }
    const port = (http.address() as AddressInfo).port;
    keys.start(); // automatic rotation
    // Only now that nothing can fail: a failed start leaves no timer writing into a closed database
    // (events recorded before this are kept in the buffer and written at its first flush).
    audit.start();
    rateLimitSync.start();
    const webhookDelivery = new WebhookDeliveryWorker(db.sql, keyEncryption, logger, {
      ...config.webhooks,
      ...(options.webhookLookup && { lookup: options.webhookLookup }),
    });
    webhookDelivery.start();
    // Self-registered clients unused for 30 days go, also while CLIENT_REGISTRATION=off (registered before).
    const clientSweeper = new SelfRegisteredClientSweeper(db.prisma, logger);
    clientSweeper.start();
    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      db,
      keys,
      audit,
      http,
      seeded,
      flushAudit: () => audit.flush(),
      syncRateLimits: () => rateLimitSync.sync(),
      close(drainMs = 10_000) {
        closing ??= (async () => {
          await new Promise<void>((resolve) => {
            const force = setTimeout(() => http.closeAllConnections(), drainMs);
            force.unref();
            http.close(() => {
              clearTimeout(force);
              resolve();
            });
            http.closeIdleConnections();
          });
          // Attempts in flight finish (each within WEBHOOKS_TIMEOUT) and are recorded.
          await webhookDelivery.stop();
          await clientSweeper.stop();
          await audit.stop();
          await keys.stop();
          await rateLimitSync.stop();
          await revocations.stop();
          if (!options.db) await db.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await stopRevocations().catch(() => {});
    if (!options.db) await db.close().catch(() => {});
    throw err;
  }
}
