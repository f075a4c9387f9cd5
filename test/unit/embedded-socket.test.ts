import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DataDirPermissionError, startEmbeddedDatabase } from "../../src/db/embedded.ts";

// Which sockets this process listens on, from /proc (Linux): the inodes of our
// file descriptors, matched against the kernel's tables of TCP and Unix sockets.
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

function listeningTcp(): string[] {
  const own = ownSocketInodes();
  const found: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A is LISTEN; the inode is the tenth column
      if (f.length > 9 && f[3] === "0A" && own.has(f[9]!)) found.push(`${table} ${f[1]}`);
    }
  }
  return found.sort();
}

function listeningUnix(): string[] {
  const own = ownSocketInodes();
  const found: string[] = [];
  for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000 is __SO_ACCEPTCON (listening); Inode then Path
    if (f.length > 7 && f[3] === "00010000" && own.has(f[6]!)) found.push(f[7]!);
  }
  return found.sort();
}

const mode = (path: string) => statSync(path).mode & 0o777;

const dirs: string[] = [];
function tempDir(prefix = "scopegate-socket-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// One initdb for the file: every data folder below starts from this copy.
let dump: Blob;
beforeAll(async () => {
  const empty = await startEmbeddedDatabase({});
  dump = await empty.pglite.dumpDataDir("none");
  await empty.stop();
});

describe.skipIf(process.platform !== "linux")("the embedded database's listening socket", () => {
  it("is a Unix socket in <data folder>/socket (0700, socket file 0600), and no TCP port is opened", async () => {
    const dataDir = join(tempDir(), "data");
    const tcpBefore = listeningTcp();
    const unixBefore = listeningUnix();
    const db = await startEmbeddedDatabase({ dataDir, loadDataDir: dump });
    try {
      expect(listeningTcp()).toEqual(tcpBefore);
      const socketDir = join(dataDir, "socket");
      expect(db.socketDir).toBe(socketDir);
      expect(listeningUnix()).toEqual([...unixBefore, join(socketDir, ".s.PGSQL.5432")].sort());
      expect(mode(dataDir)).toBe(0o700); // created by us
      expect(mode(socketDir)).toBe(0o700);
      expect(mode(join(socketDir, ".s.PGSQL.5432"))).toBe(0o600);
      // what another local program (psql -h <folder>) does
      const c = new pg.Client({ host: socketDir, port: 5432, user: "postgres", database: "postgres" });
      await c.connect();
      expect((await c.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      await c.end();
    } finally {
      await db.stop();
    }
    expect(existsSync(join(dataDir, "socket", ".s.PGSQL.5432"))).toBe(false);
    expect(listeningUnix()).toEqual(unixBefore);
  });

  it("does not listen at all for an in-memory database", async () => {
    const tcpBefore = listeningTcp();
    const unixBefore = listeningUnix();
    const db = await startEmbeddedDatabase({ loadDataDir: dump });
    try {
      expect(db.socketDir).toBeNull();
      expect(listeningTcp()).toEqual(tcpBefore);
      expect(listeningUnix()).toEqual(unixBefore);
      const c = new pg.Client(db.connection); // in this process, through the stream
      await c.connect();
      await c.end();
    } finally {
      await db.stop();
    }
  });

  it("makes an existing socket folder private again, and refuses one that is a symbolic link", async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, "socket"), { mode: 0o755 });
    chmodSync(join(dataDir, "socket"), 0o777);
    const db = await startEmbeddedDatabase({ dataDir, loadDataDir: dump });
    await db.stop();
    expect(mode(join(dataDir, "socket"))).toBe(0o700);

    const other = tempDir();
    const linked = tempDir();
    symlinkSync(other, join(linked, "socket"));
    await expect(startEmbeddedDatabase({ dataDir: linked, loadDataDir: dump })).rejects.toThrow(
      new DataDirPermissionError(`${join(linked, "socket")} is not a folder (a symbolic link?): remove it`),
    );
    expect(readdirSync(other)).toEqual([]);
    expect(existsSync(join(linked, "scopegate.lock"))).toBe(false); // released
  });

  it("falls back to a private temporary folder, said in a log line, when the data folder's path is too long", async () => {
    const dataDir = join(tempDir(), "a".repeat(60), "b".repeat(60));
    const warnings: unknown[][] = [];
    const logger = { warn: (...args: unknown[]) => void warnings.push(args) };
    const db = await startEmbeddedDatabase({ dataDir, loadDataDir: dump, logger: logger as never });
    const socketDir = db.socketDir!;
    try {
      expect(socketDir.startsWith(join(tmpdir(), "scopegate-db-"))).toBe(true);
      expect(mode(socketDir)).toBe(0o700);
      expect(existsSync(join(dataDir, "socket"))).toBe(false);
      expect(warnings).toEqual([
        [
          { dataDir, socketDir },
          "the data folder's path is too long for a Unix socket (over 107 bytes): the embedded database listens in a private temporary folder instead",
        ],
      ]);
      const c = new pg.Client({ ...db.connection, stream: undefined });
      await c.connect();
      await c.end();
    } finally {
      await db.stop();
    }
    expect(existsSync(socketDir)).toBe(false);
  });
});

describe("the embedded data folder's permissions", () => {
  it("refuses a folder that its group or everyone may write to, naming the fix, before anything listens", async () => {
    for (const [m, who] of [
      [0o770, "its group"],
      [0o757, "everyone"],
      [0o777, "its group and everyone"],
    ] as const) {
      const dataDir = tempDir();
      chmodSync(dataDir, m);
      await expect(startEmbeddedDatabase({ dataDir, loadDataDir: dump })).rejects.toThrow(
        new DataDirPermissionError(`the data folder ${dataDir} is writable by ${who} (mode 0${m.toString(8)}): run chmod 700 ${dataDir}`),
      );
      expect(readdirSync(dataDir)).toEqual([]); // no lock, no socket folder
    }
  });

  it("makes a folder others may read or enter private (0700, its files too), says so, and the database works", async () => {
    const dataDir = tempDir();
    // What every version before the Unix socket left: a 0755 folder of PGlite files (0666, folders 0755).
    const first = await startEmbeddedDatabase({ dataDir, loadDataDir: dump });
    await first.pglite.exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)");
    await first.stop();
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, "base"), 0o755);
    chmodSync(join(dataDir, "PG_VERSION"), 0o666);
    const infos: unknown[][] = [];
    const db = await startEmbeddedDatabase({ dataDir, logger: { info: (...a: unknown[]) => void infos.push(a), warn: () => {} } as never });
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(join(dataDir, "base"))).toBe(0o700);
      expect(mode(join(dataDir, "PG_VERSION"))).toBe(0o600);
      expect(infos).toEqual([
        [
          { dataDir, mode: "0755", files: expect.any(Number) },
          "the data folder could be read by other users: made it private (mode 0700, and its files readable by its owner only)",
        ],
      ]);
      expect((infos[0]![0] as { files: number }).files).toBeGreaterThan(100);
      expect((await db.pglite.query<{ x: number }>("SELECT x FROM kept")).rows).toEqual([{ x: 42 }]);
    } finally {
      await db.stop();
    }
    // Already private: nothing said the next time.
    infos.length = 0;
    const again = await startEmbeddedDatabase({
      dataDir,
      logger: { info: (...a: unknown[]) => void infos.push(a), warn: () => {} } as never,
    });
    await again.stop();
    expect(infos).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)("refuses a folder that belongs to another user (run as root: chown is possible)", async () => {
    const dataDir = tempDir();
    chownSync(dataDir, 65534, 65534);
    chmodSync(dataDir, 0o755); // not made private either: it is not ours

    await expect(startEmbeddedDatabase({ dataDir, loadDataDir: dump })).rejects.toThrow(
      new DataDirPermissionError(
        `the data folder ${dataDir} belongs to user 65534, not to the user running scopegate (0): chown it, or choose another DATA_DIR`,
      ),
    );
    expect(mode(dataDir)).toBe(0o755);
    const mine = tempDir();
    mkdirSync(join(mine, "socket"), { mode: 0o700 });
    chownSync(join(mine, "socket"), 65534, 65534);
    await expect(startEmbeddedDatabase({ dataDir: mine, loadDataDir: dump })).rejects.toThrow(
      new DataDirPermissionError(`${join(mine, "socket")} belongs to user 65534, not to the user running scopegate (0): remove it`),
    );
  });
});
