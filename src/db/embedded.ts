import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { PGlite } from "@electric-sql/pglite";
import type { Logger } from "../lib/log.ts";

/** Connection settings for pg / PrismaPg, given as discrete fields (see STACK.md). */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /**
   * Embedded database only: pg's `stream` option. A pg client in this process
   * built from these settings (`{ ...connection }`) talks to PGlite directly;
   * host (the socket's folder) and port remain for anything else (psql while debugging).
   */
  stream?: () => Duplex;
}

export interface EmbeddedDatabase {
  connection: PgConnection;
  pglite: PGlite;
  /** The folder of the Unix socket other processes may connect through, or null (an in-memory database has none). */
  socketDir: string | null;
  stop(): Promise<void>;
}

export class DataDirInUseError extends Error {}
/** PGlite could not open a data folder that holds a database: its files are damaged. The message says how to recover. */
export class EmbeddedDatabaseDamagedError extends Error {}
/** The data folder (or the socket's folder) could be changed by someone else: refused. */
export class DataDirPermissionError extends Error {}

/**
 * The socket file's name is PostgreSQL's (`.s.PGSQL.<port>` in its folder), so
 * that `psql -h <folder>` and pg's `host: <folder>` find it without a port.
 */
export const EMBEDDED_SOCKET_PORT = 5432;
const SOCKET_FILE = `.s.PGSQL.${EMBEDDED_SOCKET_PORT}`;
/** sun_path holds 108 bytes on Linux (104 on macOS and the BSDs), the final NUL included. */
const MAX_SOCKET_PATH_BYTES = process.platform === "linux" ? 107 : 103;

function modeString(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/**
 * Whoever can write to the data folder can swap the socket's folder or the
 * key-encryption secret for their own: the folder must be ours and writable
 * by us alone (refused otherwise: what others wrote there cannot be trusted,
 * so we don't quietly take it over). Its files (health data, sealed keys) are
 * readable only through it, so 0700 is what scopegate creates; one that others
 * can read or enter (every folder created before the Unix socket came, 0755)
 * is made 0700 at start, said in a log line.
 *
 * The folder's 0700 is what protects: PGlite creates its files 0666 and its
 * folders 0755 whatever the umask (Emscripten's NODEFS sets the modes itself),
 * and nobody else can reach them while the folder is closed. A process umask
 * would not change the files, and would change every other file this process
 * writes, so there is none. What the pass below adds: a file that others could
 * reach while the folder was open may have been hard-linked elsewhere then
 * (Linux lets anyone link a file they can read and write), and the link would
 * outlive the folder's chmod; taking group and others' bits off every file
 * closes that path too, since a link shares the file's mode.
 */
function checkDataDir(dataDir: string, logger?: Pick<Logger, "info">): void {
  const st = statSync(dataDir);
  if (!st.isDirectory()) throw new DataDirPermissionError(`the data folder ${dataDir} is not a folder`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirPermissionError(
      `the data folder ${dataDir} belongs to user ${st.uid}, not to the user running scopegate (${uid}): chown it, or choose another DATA_DIR`,
    );
  }
  if (st.mode & 0o022) {
    throw new DataDirPermissionError(
      `the data folder ${dataDir} is writable by ${st.mode & 0o020 ? "its group" : ""}${(st.mode & 0o022) === 0o022 ? " and " : ""}${st.mode & 0o002 ? "everyone" : ""} (mode ${modeString(st.mode)}): run chmod 700 ${dataDir}`,
    );
  }
  // Files first, the folder last: a start stopped half-way finds the folder still open and does it again.
  const files = closeTree(dataDir, uid);
  if (st.mode & 0o077) {
    try {
      chmodSync(dataDir, 0o700);
    } catch (err) {
      throw new DataDirPermissionError(
        `the data folder ${dataDir} can be read by other users (mode ${modeString(st.mode)}) and could not be made private (${(err as Error).message}): run chmod 700 ${dataDir}`,
      );
    }
    logger?.info(
      { dataDir, mode: modeString(st.mode), files },
      "the data folder could be read by other users: made it private (mode 0700, and its files readable by its owner only)",
    );
  }
}

/**
 * Takes group and others' permissions off everything under `dir` that belongs
 * to `uid` (symbolic links are neither followed nor changed). Returns how many
 * entries it changed.
 */
function closeTree(dir: string, uid: number | undefined): number {
  let changed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const st = lstatSync(path);
    if (st.mode & 0o077 && (uid === undefined || st.uid === uid)) {
      try {
        chmodSync(path, st.mode & 0o700);
        changed++;
      } catch (err) {
        throw new DataDirPermissionError(`could not make ${path} private (${(err as Error).message}): run chmod -R go= ${dir}`);
      }
    }
    if (st.isDirectory()) changed += closeTree(path, uid);
  }
  return changed;
}

/** Creates `dir` (or takes the one there) as a folder of ours with mode 0700, and checks that it is. */
function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  let st = lstatSync(dir);
  // lstat: a symbolic link would lead the socket somewhere we did not check.
  if (!st.isDirectory()) throw new DataDirPermissionError(`${dir} is not a folder (a symbolic link?): remove it`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirPermissionError(`${dir} belongs to user ${st.uid}, not to the user running scopegate (${uid}): remove it`);
  }
  if ((st.mode & 0o777) !== 0o700) {
    chmodSync(dir, 0o700);
    st = lstatSync(dir);
    if ((st.mode & 0o777) !== 0o700) throw new DataDirPermissionError(`could not make ${dir} private (mode ${modeString(st.mode)})`);
  }
}

interface SocketPlace {
  dir: string;
  /** a temporary folder of ours, removed at stop */
  temporary: boolean;
}

/**
 * Where the socket goes: `<data folder>/socket/`, mode 0700, so that only the
 * data folder's owner can connect (PGlite asks for no password). A path too
 * long for a Unix socket falls back to a fresh 0700 folder from mkdtemp under
 * the system's temporary folder, said in a log line; if even that is too long,
 * nothing listens (the server itself never needs the socket).
 */
function socketPlace(dataDir: string, logger?: Pick<Logger, "warn">): SocketPlace | null {
  const fits = (dir: string) => Buffer.byteLength(join(dir, SOCKET_FILE)) <= MAX_SOCKET_PATH_BYTES;
  const inDataDir = join(dataDir, "socket");
  if (fits(inDataDir)) {
    privateDir(inDataDir);
    return { dir: inDataDir, temporary: false };
  }
  const temporary = mkdtempSync(join(tmpdir(), "scopegate-db-"));
  if (!fits(temporary)) {
    rmSync(temporary, { recursive: true, force: true });
    logger?.warn(
      { dataDir },
      "the embedded database does not listen on a Unix socket: the data folder's path and the temporary folder's are too long for one",
    );
    return null;
  }
  privateDir(temporary);
  logger?.warn(
    { dataDir, socketDir: temporary },
    `the data folder's path is too long for a Unix socket (over ${MAX_SOCKET_PATH_BYTES} bytes): the embedded database listens in a private temporary folder instead`,
  );
  return { dir: temporary, temporary: true };
}

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
function lockDataDir(dataDir: string, logger?: Pick<Logger, "warn">): () => void {
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
      // Its process was killed or crashed: PGlite replays the WAL (see Durability below).
      logger?.warn({ dataDir, pid: owner }, "the embedded database was not shut down cleanly; recovering it from its write-ahead log");
      unlinkSync(path);
    }
  }
  throw new DataDirInUseError(`could not lock ${dataDir}`);
}

// --- PGlite's one session, shared by wire-protocol connections -------------
//
// We used to serve PGlite with pglite-socket on a loopback port. Measured here
// (findUnique by id, sequential, CPU per statement), the hop cost more than
// PGlite itself: the TCP round trip through the kernel and two event-loop
// turns, and pglite-socket runs each protocol message (Parse, Bind, Describe,
// Execute, Sync) as its own call into PGlite. This serves the same protocol
// from the same queue, but hands PGlite every complete message a client has
// written in one call, and lets clients in this process skip the socket (pg's
// `stream` option, see PgConnection). Other tools (psql while debugging) reach
// it through a Unix socket in the data folder: no TCP port, since PGlite takes
// any password, and a loopback port is open to every local user.

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const TERMINATE = 0x58; // 'X'
/** A simple-query ROLLBACK, for a connection that went away inside a transaction. */
const ROLLBACK = (() => {
  const sql = Buffer.from("ROLLBACK\0");
  const m = Buffer.alloc(5 + sql.length);
  m.write("Q", 0);
  m.writeInt32BE(4 + sql.length, 1);
  sql.copy(m, 5);
  return new Uint8Array(m);
})();

interface Exchange {
  conn: WireConnection;
  message: Uint8Array;
  resolve(reply: Buffer): void;
  reject(err: Error): void;
}

/**
 * PGlite is a single PostgreSQL session: exchanges run one at a time, and while
 * one connection has a transaction open only that connection's exchanges run,
 * so that transactions never interleave.
 */
class PGliteSession {
  private queue: Exchange[] = [];
  private draining = false;
  private owner: WireConnection | null = null;
  private stopped = false;
  readonly connections = new Set<WireConnection>();

  constructor(private readonly pglite: PGlite) {}

  exchange(conn: WireConnection, message: Uint8Array): Promise<Buffer> {
    if (this.stopped) return Promise.reject(new Error("the embedded database is stopped"));
    return new Promise((resolve, reject) => {
      this.queue.push({ conn, message, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (;;) {
        // The owner went away inside its transaction: nobody else will end it.
        if (this.owner?.closed) {
          await this.run(ROLLBACK).catch(() => {});
          this.owner = null;
        }
        const i = this.owner ? this.queue.findIndex((e) => e.conn === this.owner) : 0;
        if (i < 0 || this.queue.length === 0) break; // idle, or waiting for the owner's next statement
        const e = this.queue.splice(i, 1)[0]!;
        let reply: Buffer;
        try {
          reply = await this.run(e.message);
        } catch (err) {
          e.reject(err as Error);
          continue;
        } finally {
          this.owner = this.inTransaction() ? e.conn : null;
        }
        e.resolve(reply);
      }
    } finally {
      this.draining = false;
    }
  }

  private inTransaction(): boolean {
    try {
      return this.pglite.isInTransaction();
    } catch {
      return false; // closed
    }
  }

  private async run(message: Uint8Array): Promise<Buffer> {
    const chunks: Buffer[] = [];
    // runExclusive: PGlite's own API (pglite.query, dumpDataDir) may be used beside us.
    await this.pglite.runExclusive(() => this.pglite.execProtocolRawStream(message, { onRawData: (d) => chunks.push(Buffer.from(d)) }));
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** A connection went away: drop what it queued, and end a transaction it left open. */
  release(conn: WireConnection): void {
    this.connections.delete(conn);
    this.queue = this.queue.filter((e) => {
      if (e.conn !== conn) return true;
      e.reject(new Error("connection closed"));
      return false;
    });
    if (this.owner === conn && !this.draining && !this.stopped) void this.drain();
  }

  /** Ends every connection the way a server that stops does (a client that is ending sees no error). */
  stop(): void {
    this.stopped = true;
    for (const conn of [...this.connections]) conn.close();
  }
}

/**
 * One client connection: frames the wire protocol and passes the session every
 * complete message buffered so far in one exchange (pg writes a statement's
 * five messages in one go; they take one call into PGlite instead of five).
 */
class WireConnection {
  closed = false;
  private pending: Buffer[] = [];
  private started = false;
  private scheduled = false;
  private busy = false;
  private ending = false;

  constructor(
    private readonly session: PGliteSession,
    private readonly send: (reply: Buffer) => void,
    private readonly end: (err?: Error) => void,
  ) {
    session.connections.add(this);
  }

  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.pending.push(chunk);
    // Wait for the rest of what the client writes in this tick, then run it together.
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => {
        this.scheduled = false;
        void this.flush();
      });
    }
  }

  private async flush(): Promise<void> {
    if (this.busy) return; // the running flush picks up what arrived meanwhile
    this.busy = true;
    try {
      for (let batch = this.take(); batch && !this.closed; batch = this.take()) {
        const reply = await this.session.exchange(this, batch);
        if (reply.length > 0 && !this.closed) this.send(reply);
      }
    } catch (err) {
      this.close(err as Error);
    } finally {
      this.busy = false;
      if (this.ending && !this.scheduled) this.close();
    }
  }

  /** The client will send nothing more: close once what it sent has run. */
  endInput(): void {
    this.ending = true;
    if (!this.busy && !this.scheduled) this.close();
  }

  /** The next batch of complete messages (the start-up message alone), or null. */
  private take(): Uint8Array | null {
    for (;;) {
      if (this.pending.length === 0) return null;
      const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      this.pending = [buf];
      if (!this.started) {
        if (buf.length < 8) return null;
        const length = buf.readInt32BE(0);
        if (length < 8) {
          this.close(new Error("malformed PostgreSQL start-up message"));
          return null;
        }
        if (buf.length < length) return null;
        const code = buf.readInt32BE(4);
        this.keep(buf, length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.send(Buffer.from("N")); // no encryption on loopback / in-process
          continue;
        }
        if (code === CANCEL_REQUEST) {
          this.close(); // a statement here cannot be cancelled; the request gets no answer
          return null;
        }
        this.started = true;
        return buf.subarray(0, length);
      }
      let end = 0;
      while (buf.length - end >= 5) {
        const length = 1 + buf.readInt32BE(end + 1);
        if (length < 5) {
          this.close(new Error("malformed PostgreSQL protocol message"));
          return null;
        }
        if (buf.length - end < length) break;
        if (buf[end] === TERMINATE) {
          if (end > 0) break; // run what came before it first
          this.close();
          return null;
        }
        end += length;
      }
      if (end === 0) return null;
      this.keep(buf, end);
      return buf.subarray(0, end);
    }
  }

  /** Keeps what follows the first `used` bytes for later. */
  private keep(buf: Buffer, used: number): void {
    this.pending = used < buf.length ? [buf.subarray(used)] : [];
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.session.release(this);
    this.end(err);
  }
}

/** The socket pg's `stream` option asks for, without a socket: bytes go straight to the session. */
class InProcessSocket extends Duplex {
  private readonly conn: WireConnection;

  constructor(session: PGliteSession) {
    super();
    this.conn = new WireConnection(
      session,
      (reply) => this.push(reply),
      (err) => {
        if (err) return void this.destroy(err);
        // Both directions end, so pg sees 'close' (its signal that the server went away).
        this.push(null);
        if (!this.writableEnded) this.end();
      },
    );
  }

  // What pg calls on a net.Socket.
  connect(): this {
    process.nextTick(() => this.emit("connect"));
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.conn.receive(chunk);
    callback();
  }
  override _read(): void {}
  override _final(callback: (err?: Error | null) => void): void {
    this.conn.endInput();
    callback();
  }
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.conn.close();
    callback(err);
  }
}

function listenOnSocket(session: PGliteSession, path: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    const conn = new WireConnection(
      session,
      (reply) => socket.write(reply),
      () => socket.destroy(),
    );
    socket.on("data", (chunk) => conn.receive(chunk));
    socket.on("error", () => conn.close());
    socket.on("close", () => conn.close());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve(server));
  });
}

/**
 * PGlite aborts ("Aborted()", "failed to initialize") when a data folder's
 * files are damaged, for instance WAL lost in a machine crash or power cut
 * (PGlite does not fsync) or files changed by another program. Nothing is
 * served from such a folder; the message says how to recover.
 */
function damaged(dataDir: string, err: unknown): EmbeddedDatabaseDamagedError {
  const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return new EmbeddedDatabaseDamagedError(
    `the embedded database in ${dataDir} cannot be opened (${reason}): its files are damaged, typically by a machine crash or power cut ` +
      `(the embedded database does not fsync) or by another program writing to them. scopegate changed nothing. To recover, keep the ` +
      `folder for investigation (mv ${dataDir} ${dataDir}.damaged), then restore a copy taken while scopegate was stopped into ${dataDir}, ` +
      `or start on an empty DATA_DIR; see "Crashes and recovery" in README.md`,
  );
}

/** A socket file left by a process that died (its lock was taken over): ours to remove. */
function removeStaleSocket(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new DataDirPermissionError(`${path} is in the way of the embedded database's socket: remove it`);
  unlinkSync(path);
}

/**
 * Embedded PostgreSQL (PGlite) behind the PostgreSQL wire protocol, so that the
 * same PrismaPg adapter and SQL serve both modes. `dataDir` undefined keeps
 * everything in memory; `loadDataDir` starts from a dump.
 *
 * Who can connect: clients in this process, through `connection.stream`; and,
 * with a data folder, whoever can enter `<dataDir>/socket/` (mode 0700, so only
 * the folder's owner), through the Unix socket there. No TCP port is opened:
 * PGlite accepts any user and password, so a port would let in every local
 * process. The data folder must be ours and not writable by group or others
 * (refused otherwise, before anything listens); a new one is created 0700, and
 * one that others can read is made 0700 (see checkDataDir).
 *
 * Durability, with a data folder: a committed transaction survives a crash of
 * the Node process (kill -9, out of memory, an uncaught exception), not a crash
 * of the machine or a power cut. PGlite's files live on Node's fs (Emscripten's
 * NODEFS): every write PostgreSQL makes is a synchronous write(2), so when
 * COMMIT returns, its WAL record is in the kernel; on the next start PGlite
 * replays the WAL. PGlite never fsyncs (it runs PostgreSQL with -F, and NODEFS
 * has no fsync), so the kernel decides when the page cache reaches the disk:
 * for durability across machine crashes, use PostgreSQL (DATABASE_URL).
 * Checked by killing a process right after a commit (test/unit/embedded-wire.test.ts).
 * Deliberately left as they are: synchronous_commit stays on (with it off,
 * single-user PostgreSQL has no WAL writer, and a killed process lost every
 * commit since start-up in that test), and PGlite's `relaxedDurability` changes
 * nothing here (it only skips waiting for the browser file systems' flush;
 * NODEFS has none).
 */
export async function startEmbeddedDatabase(options: {
  dataDir?: string;
  loadDataDir?: Blob | File;
  /** Don't keep the process alive for the listening socket (CLI tools). */
  unref?: boolean;
  /** where the socket's fallback folder, a data folder made private and permission warnings are said */
  logger?: Pick<Logger, "warn" | "info">;
}): Promise<EmbeddedDatabase> {
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    checkDataDir(options.dataDir, options.logger);
  }
  const unlock = options.dataDir ? lockDataDir(options.dataDir, options.logger) : () => {};
  const existing = options.dataDir !== undefined && existsSync(join(options.dataDir, "PG_VERSION"));
  // An in-memory database is reached from this process only: it does not listen at all.
  let place: SocketPlace | null = null;
  let pglite: PGlite;
  try {
    if (options.dataDir) place = socketPlace(options.dataDir, options.logger);
    pglite = await PGlite.create(options.dataDir, { loadDataDir: options.loadDataDir });
  } catch (err) {
    if (place?.temporary) rmSync(place.dir, { recursive: true, force: true });
    unlock();
    throw existing ? damaged(options.dataDir!, err) : err;
  }
  const session = new PGliteSession(pglite);
  const socketPath = place ? join(place.dir, SOCKET_FILE) : null;
  let server: Server | null = null;
  const removeSocket = () => {
    if (!place) return;
    if (place.temporary) rmSync(place.dir, { recursive: true, force: true });
    else if (socketPath) rmSync(socketPath, { force: true });
  };
  if (socketPath) {
    try {
      removeStaleSocket(socketPath);
      server = await listenOnSocket(session, socketPath);
      // The folder (0700) already keeps others out; the file says the same.
      chmodSync(socketPath, 0o600);
    } catch (err) {
      server?.close();
      await pglite.close().catch(() => {});
      removeSocket();
      unlock();
      throw err;
    }
    if (options.unref) server.unref();
  }
  let stopped = false;
  return {
    pglite,
    socketDir: place?.dir ?? null,
    connection: {
      // pg reads a host starting with "/" as the folder of `.s.PGSQL.<port>`.
      // Without a socket, only the stream works (port 0 refuses anything else).
      host: place?.dir ?? "",
      port: place ? EMBEDDED_SOCKET_PORT : 0,
      user: "postgres",
      database: "postgres",
      stream: () => new InProcessSocket(session),
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Close every connection first (a client in a transaction sees its
      // connection end, as with a server that stops), then PGlite.
      session.stop();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      removeSocket();
      await pglite.close();
      unlock();
    },
  };
}
