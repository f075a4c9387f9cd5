import net from "node:net";
import { loadConfig, type Config } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/log.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createTestDatabase } from "./db.ts";

export interface TestServer extends RunningServer {
  issuer: string;
  /** closes the server and drops its database */
  stop(): Promise<void>;
}

/**
 * KEY_ENCRYPTION_SECRET for servers the tests start: required on PostgreSQL,
 * and every instance on one database must share it.
 */
export const TEST_KEY_ENCRYPTION_SECRET = "test-key-encryption-secret-0123456789abcdef";

/**
 * Every test talks from 127.0.0.1, so the per-address sign-in, sign-up and
 * client self-registration limits would soon refuse a file's users and apps; a
 * test of those limits sets its own.
 */
const SPARE_ADDRESS_LIMITS = {
  SIGN_IN_MAX_PER_ADDRESS: "100000",
  SIGN_UP_MAX_PER_ADDRESS: "100000",
  CLIENT_REGISTRATION_MAX_PER_ADDRESS: "100000",
};

/** A port nobody listens on right now. */
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

/**
 * The configuration of a test server on 127.0.0.1:`port`: ISSUER its own URL
 * (unless `env` names another, as instances sharing one database do), no demo
 * data, the tests' KEY_ENCRYPTION_SECRET; `env` on top.
 */
export function testConfig(port: number, env: Record<string, string> = {}): Config {
  return {
    ...loadConfig({
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      SEED_DEMO: "false",
      KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
      ...env,
    }),
    host: "127.0.0.1",
  };
}

/** One server per opened database (instances of one deployment: the same issuer), each on a port of its own. */
export async function startInstances(dbs: Database[], issuer: string, env: Record<string, string> = {}): Promise<RunningServer[]> {
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent", false);
  const servers: RunningServer[] = [];
  for (const db of dbs) servers.push(await startServer(testConfig(await freePort(), { ISSUER: issuer, ...env }), logger, { db }));
  return servers;
}

/**
 * A real scopegate server on a fresh database of this project's kind,
 * listening on 127.0.0.1 with ISSUER set to its own URL.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { onQuery?: (sql: string) => void /** a port chosen beforehand (its URL registered somewhere first) */; port?: number } = {},
): Promise<TestServer> {
  const testDb = await createTestDatabase();
  const port = options.port ?? (await freePort());
  const config: Config = { ...testConfig(port, { ...SPARE_ADDRESS_LIMITS, ...env }), database: testDb.target };
  // Where the tests reach it, also when `env` names another ISSUER (the https cookie tests).
  const issuer = `http://127.0.0.1:${port}`;
  const db = await openDatabase(testDb.target, { onQuery: options.onQuery, pool: config.databasePool });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent", false);
  const server = await startServer(config, logger, { db });
  return Object.assign(server, {
    issuer,
    async stop() {
      await server.close(1_000);
      await db.close();
      await testDb.drop();
    },
  });
}
