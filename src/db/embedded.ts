import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/** Connection settings for pg / PrismaPg, given as discrete fields (see STACK.md). */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface EmbeddedDatabase {
  connection: PgConnection;
  pglite: PGlite;
  stop(): Promise<void>;
}

/**
 * Embedded PostgreSQL (PGlite) served over the PostgreSQL wire protocol on a
 * loopback port, so that the same PrismaPg adapter and SQL serve both modes.
 * `dataDir` undefined keeps everything in memory; `loadDataDir` starts from a dump.
 */
export async function startEmbeddedDatabase(options: {
  dataDir?: string;
  loadDataDir?: Blob | File;
  /** Don't keep the process alive for the listening socket (CLI tools). */
  unref?: boolean;
}): Promise<EmbeddedDatabase> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const pglite = await PGlite.create(options.dataDir, {
    loadDataDir: options.loadDataDir,
  });
  // PGlite executes one statement at a time; one socket connection keeps
  // transactions from interleaving.
  const server = new PGLiteSocketServer({ db: pglite, host: "127.0.0.1", port: 0, maxConnections: 1 });
  await server.start();
  if (options.unref) (server as unknown as { server?: { unref(): void } }).server?.unref();
  const address = server.getServerConn();
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  let stopped = false;
  return {
    pglite,
    connection: { host: "127.0.0.1", port, user: "postgres", database: "postgres" },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await pglite.close();
    },
  };
}
