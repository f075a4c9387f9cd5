import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
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
export class DataDirInUseError extends Error {}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite has no locking of its own: two processes on one folder would corrupt
 * it. A lock file names the owner; one left by a dead process is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, "scopegate.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8") === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number(readFileSync(path, "utf8").trim());
      if (owner && processAlive(owner)) {
        throw new DataDirInUseError(
          `the embedded database in ${dataDir} is in use by process ${owner}; stop it first (or use DATABASE_URL)`,
        );
      }
      unlinkSync(path);
    }
  }
  throw new DataDirInUseError(`could not lock ${dataDir}`);
}

export async function startEmbeddedDatabase(options: {
  dataDir?: string;
  loadDataDir?: Blob | File;
  /** Don't keep the process alive for the listening socket (CLI tools). */
  unref?: boolean;
}): Promise<EmbeddedDatabase> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => {};
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(options.dataDir, { loadDataDir: options.loadDataDir });
  } catch (err) {
    unlock();
    throw err;
  }
  // PGlite executes one statement at a time; the Prisma pool on it holds one
  // connection (max: 1) so transactions don't interleave. The socket server
  // allows a second one because pg-pool replaces its connection after any query
  // error (a unique violation, say): the new socket must be accepted while the
  // old one is still closing, or the next query fails with "Connection
  // terminated unexpectedly".
  const server = new PGLiteSocketServer({ db: pglite, host: "127.0.0.1", port: 0, maxConnections: 2 });
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
      unlock();
    },
  };
}
