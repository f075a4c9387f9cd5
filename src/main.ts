import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createLogger } from "./lib/log.ts";
import { MigrationChecksumError } from "./db/migrate.ts";
import { DataDirInUseError, DataDirPermissionError, EmbeddedDatabaseDamagedError } from "./db/embedded.ts";
import { PortInUseError, startServer } from "./server.ts";
import { WELL_KNOWN_PATHS } from "./oauth/paths.ts";
import type { DemoCredentials } from "./seed/demo.ts";

/** Written to the terminal (stderr), never to the log stream on stdout. */
function banner(config: Config, seeded: DemoCredentials | null): string {
  const lines = [
    "",
    `  scopegate is running at ${config.issuer}`,
    `    sign in          ${config.issuer}/login`,
    `    GraphiQL         ${config.issuer}/graphql`,
    `    discovery        ${config.issuer}${WELL_KNOWN_PATHS.openidConfiguration}`,
  ];
  if (seeded) {
    lines.push(
      "",
      "  Demo data was created. These secrets are shown only this once:",
      `    demo user        ${seeded.user.email}  password ${seeded.user.password}`,
      `    administrator    ${seeded.admin.email}  password ${seeded.admin.password}`,
      `    demo client      client_id ${seeded.client.clientId}`,
      `                     client_secret ${seeded.client.clientSecret}`,
      `                     redirect_uri ${seeded.client.redirectUri}`,
      `    first-party      client_id ${seeded.firstPartyClient.clientId}`,
      `                     client_secret ${seeded.firstPartyClient.clientSecret}`,
    );
  }
  return `${lines.join("\n")}\n\n`;
}

function fail(message: string): never {
  process.stderr.write(`scopegate: ${message}\n`);
  process.exit(1);
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger);
  } catch (err) {
    if (
      err instanceof PortInUseError ||
      err instanceof MigrationChecksumError ||
      err instanceof DataDirInUseError ||
      err instanceof DataDirPermissionError ||
      err instanceof EmbeddedDatabaseDamagedError
    )
      fail(err.message);
    const e = err as NodeJS.ErrnoException;
    if (
      config.database.kind === "postgres" &&
      (e.code === "ECONNREFUSED" || e.code === "ENOTFOUND" || e.code === "28P01" || e.code === "3D000" || e.code === "28000")
    ) {
      fail(`cannot connect to DATABASE_URL: ${e.message}`);
    }
    fail(`could not start: ${e.message}`);
  }
  logger.info({ url: server.url, issuer: config.issuer, database: server.db.kind }, "listening");
  process.stderr.write(banner(config, server.seeded));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: draining requests");
    try {
      await server.close();
      logger.info("stopped");
      logger.flush?.();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "error during shutdown");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

void main();
