import { randomBytes } from "node:crypto";
import net from "node:net";
import { loadConfig, type Config } from "../src/config.ts";
import { openDatabase, type Database, type DatabaseTarget } from "../src/db/index.ts";
import { createLogger } from "../src/lib/log.ts";
import { startServer, type RunningServer } from "../src/server.ts";
import type { BearerResult } from "../src/auth/bearer.ts";
import { signUp } from "../src/accounts/accounts.ts";
import { randomToken, sha256 } from "../src/lib/crypto.ts";
import { insertClient } from "../src/clients/clients.ts";
import { demoMeasurements } from "../src/seed/demo.ts";
import { DEFAULT_HOT_PATH_LIMITS } from "../src/db/rate-limit-windows.ts";

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

export const SCOPES = ["profile:read", "data:read"];

export interface BenchScopegate {
  /** the server as it runs in production */
  server: RunningServer;
  /** the same app on the same database, with /graphql's credential check replaced by a fixed viewer (null: not started) */
  fixedViewerServer: RunningServer | null;
  /**
   * the same app on the same database and in the same process, with the GraphQL rate limits at their
   * defaults (null: not started): the alias case's attacker talks to it, and meets the limits one token has
   */
  limitedServer: RunningServer | null;
  db: Database;
  /** where the data lives, for the report (no password) */
  databaseLabel: string;
  clientId: string;
  clientSecret: string;
  userId: string;
  measurements: number;
  /** `count` fresh refresh tokens for the bench client, each on a grant of its own */
  mintRefreshTokens(count: number): Promise<string[]>;
  /** From now on the fixed-viewer server answers as the holder of this access token would be (its claims, not checked). */
  fixViewer(accessToken: string): void;
  /** Stops both servers; on PostgreSQL deletes the bench user and everything hanging off it. Returns what it could not clean. */
  stop(): Promise<string | null>;
}

function describe(target: DatabaseTarget): string {
  if (target.kind === "embedded") return "embedded PGlite (in memory, served in-process, 1 connection)";
  const u = new URL(target.url);
  return `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`;
}

/**
 * The bench's servers share one database: one KEY_ENCRYPTION_SECRET for all of
 * them, the environment's when set (a BENCH_DATABASE_URL whose keys another
 * server sealed), else a fixed one, so that later runs open what earlier ones sealed.
 */
export function benchKeySecret(): string {
  return process.env.KEY_ENCRYPTION_SECRET || "scopegate-bench-key-encryption-secret-not-for-production";
}

async function configFor(target: DatabaseTarget, env: Record<string, string> = {}): Promise<Config> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  return {
    ...loadConfig({
      PORT: String(port),
      ISSUER: issuer,
      SEED_DEMO: "false",
      LOG_LEVEL: "silent",
      KEY_ENCRYPTION_SECRET: benchKeySecret(),
      // One client and one token carry all the load: limits on, so that their cost is measured, but far above it.
      TOKEN_RATE_LIMIT_PER_CLIENT: "1000000000",
      GRAPHQL_RATE_LIMIT_PER_TOKEN: "1000000000",
      GRAPHQL_RATE_LIMIT_PER_SESSION: "1000000000",
      ...env,
    }),
    host: "127.0.0.1",
    database: target,
  };
}

export interface ScopegateOptions {
  /** more environment for the server's configuration (the webhook case's WEBHOOKS_*) */
  env?: Record<string, string>;
  /** start the fixed-viewer twin (default true); every server runs a webhook delivery worker, so the webhook case runs one server only */
  fixedViewer?: boolean;
  /** the bench client's registered scopes (default SCOPES) */
  clientScopes?: string[];
  /** start the twin with the default GraphQL rate limits (default false) */
  limitedTwin?: boolean;
}

/**
 * scopegate as tests start it (see test/helpers/server.ts), on loopback, with
 * one user who owns one confidential client and a seeded set of measurements;
 * plus a second server on the same database whose credential check is replaced
 * (in this code, through startServer's programmatic hook) by a fixed viewer.
 */
export async function startScopegate(databaseUrl: string | undefined, options: ScopegateOptions = {}): Promise<BenchScopegate> {
  const target: DatabaseTarget = databaseUrl ? { kind: "postgres", url: databaseUrl } : { kind: "embedded" };
  const logger = createLogger("silent", false);
  const db = await openDatabase(target);
  let fixed: BearerResult = { kind: "invalid", description: "the bench has not fixed a viewer yet" };
  const servers: RunningServer[] = [];
  let userId: string | undefined;
  const cleanUp = async (): Promise<string | null> => {
    for (const s of servers) await s.close(1_000).catch(() => {});
    let problem: string | null = null;
    if (target.kind === "postgres" && userId) {
      // Leave a shared database as it was: the user's clients, grants, tokens, data and audit rows cascade.
      try {
        await db.prisma.user.delete({ where: { id: userId } });
      } catch (err) {
        problem = `could not delete the bench user ${userId}: ${(err as Error).message}`;
      }
    }
    await db.close();
    return problem;
  };
  try {
    servers.push(await startServer(await configFor(target, options.env), logger, { db }));
    if (options.fixedViewer !== false) {
      servers.push(await startServer(await configFor(target, options.env), logger, { db, hooks: { resolveBearer: () => fixed } }));
    }
    let limited: RunningServer | null = null;
    if (options.limitedTwin) {
      limited = await startServer(
        await configFor(target, {
          ...options.env,
          GRAPHQL_RATE_LIMIT_PER_TOKEN: String(DEFAULT_HOT_PATH_LIMITS.graphqlPerToken),
          GRAPHQL_RATE_LIMIT_PER_SESSION: String(DEFAULT_HOT_PATH_LIMITS.graphqlPerSession),
        }),
        logger,
        { db },
      );
      servers.push(limited);
    }

    const signed = await signUp(db.prisma, {
      name: "Bench User",
      email: `bench-${randomBytes(6).toString("hex")}@example.com`,
      password: randomBytes(16).toString("base64url"),
    });
    if (!signed.ok) throw new Error(`could not create the bench user: ${JSON.stringify(signed.errors)}`);
    userId = signed.user.id;
    const rows = demoMeasurements(userId);
    await db.prisma.measurement.createMany({ data: rows });
    const { client, clientSecret } = await insertClient(db.prisma, {
      ownerId: userId,
      name: "Bench client",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: ["http://127.0.0.1/callback"],
      scopes: options.clientScopes ?? SCOPES,
      accessTokenTtl: 3600,
      refreshTokens: true,
    });
    const ownerId = userId;

    let stopping: Promise<string | null> | undefined;
    return {
      server: servers[0]!,
      fixedViewerServer: options.fixedViewer !== false ? servers[1]! : null,
      limitedServer: limited,
      db,
      databaseLabel: describe(target),
      clientId: client.clientId,
      clientSecret: clientSecret!,
      userId: ownerId,
      measurements: rows.length,
      async mintRefreshTokens(count) {
        // What consent plus an authorization_code exchange would have stored:
        // a grant, and a refresh token stored as its SHA-256 (as the refresh
        // grant looks it up). Written directly, so that setting up thousands
        // of chains costs no sign-in, consent or code exchange.
        const out: string[] = [];
        const now = Date.now();
        for (let i = 0; i < count; i++) {
          const grant = await db.prisma.grant.create({ data: { userId: ownerId, clientId: client.id, scopes: SCOPES } });
          const token = randomToken();
          await db.prisma.refreshToken.create({
            data: {
              tokenHash: sha256(token),
              grantId: grant.id,
              scopes: SCOPES,
              idleExpiresAt: new Date(now + 24 * 3600 * 1000),
              absoluteExpiresAt: new Date(now + 48 * 3600 * 1000),
            },
          });
          out.push(token);
        }
        return out;
      },
      fixViewer(accessToken) {
        const claims = JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8")) as {
          sub: string;
          client_id: string;
          grant_id?: string;
          jti: string;
          scope: string;
        };
        if (claims.client_id !== client.clientId) throw new Error("fixViewer: a token of another client");
        fixed = {
          kind: "ok",
          viewer: {
            kind: "token",
            userId: claims.sub,
            clientRowId: client.id,
            clientId: claims.client_id,
            grantId: claims.grant_id ?? null,
            jti: claims.jti,
            scopes: new Set(claims.scope.split(" ").filter(Boolean)),
          },
        };
      },
      stop() {
        stopping ??= cleanUp();
        return stopping;
      },
    };
  } catch (err) {
    await cleanUp().catch(() => {});
    throw err;
  }
}
