import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/db/embedded.ts";
import { REPO_ROOT } from "../helpers/process.ts";

let db: EmbeddedDatabase;
let dataDir: string;
const clients: pg.Client[] = [];

/** In this process (pg's stream option), or through the Unix socket in the data folder as another process would. */
async function client(options: { socket?: boolean } = {}): Promise<pg.Client> {
  const c = new pg.Client(options.socket ? { ...db.connection, stream: undefined } : db.connection);
  c.on("error", () => {}); // the tests that break a connection on purpose
  await c.connect();
  clients.push(c);
  return c;
}

const count = async (c: pg.Client) => (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM t")).rows[0]!.n;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "scopegate-wire-"));
  db = await startEmbeddedDatabase({ dataDir });
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await db.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the embedded database's connections", () => {
  it("serve pg clients in this process without a socket, and other clients on the Unix socket in the data folder", async () => {
    const inProcess = await client();
    const viaSocket = await client({ socket: true });
    expect((inProcess as unknown as { connection: { stream: unknown } }).connection.stream).not.toBeInstanceOf(Socket);
    expect((viaSocket as unknown as { connection: { stream: unknown } }).connection.stream).toBeInstanceOf(Socket);
    expect(db.connection.host).toBe(join(dataDir, "socket"));
    await inProcess.query("CREATE TABLE t (id int PRIMARY KEY)");
    await inProcess.query("INSERT INTO t VALUES ($1)", [1]);
    expect(await count(viaSocket)).toBe(1);
    await inProcess.query("DELETE FROM t");
  });

  it("keep working after a statement fails", async () => {
    const c = await client();
    await c.query("INSERT INTO t VALUES ($1)", [1]);
    await expect(c.query("INSERT INTO t VALUES ($1)", [1])).rejects.toMatchObject({ code: "23505" });
    await expect(c.query("SELEC 1")).rejects.toMatchObject({ code: "42601" });
    expect(await count(c)).toBe(1);
    await c.query("DELETE FROM t");
  });

  it("never interleave transactions: another connection's statement waits until the transaction ends", async () => {
    const a = await client();
    const b = await client({ socket: true });
    await a.query("BEGIN");
    await a.query("INSERT INTO t VALUES (1)");
    const seenByB = count(b); // queued behind a's transaction, not run inside it
    await a.query("INSERT INTO t VALUES (2)");
    await a.query("COMMIT");
    expect(await seenByB).toBe(2);

    await a.query("BEGIN");
    await a.query("INSERT INTO t VALUES (3)");
    const bInsert = b.query("INSERT INTO t VALUES (4)");
    await a.query("ROLLBACK");
    await bInsert;
    expect((await a.query("SELECT id FROM t ORDER BY id")).rows.map((r) => r.id)).toEqual([1, 2, 4]);
    await a.query("DELETE FROM t");
  });

  it("roll back the transaction of a connection that goes away inside it, and the others carry on", async () => {
    const other = await client();
    for (const socket of [false, true]) {
      const gone = await client({ socket });
      await gone.query("BEGIN");
      await gone.query("INSERT INTO t VALUES (1)");
      (gone as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      expect(await count(other)).toBe(0);
    }
  });
});

describe("stopping the embedded database", () => {
  it("ends the connections of a pool that was just closed quietly", async () => {
    const own = await startEmbeddedDatabase({});
    // No 'error' listener: an error on this pool would be an unhandled one.
    const pool = new pg.Pool({ ...own.connection, max: 1 });
    await pool.query("SELECT 1");
    await pool.end(); // resolves before its connection has closed
    await own.stop();
  });

  it("fails a client's next statement instead of leaving it waiting", async () => {
    const own = await startEmbeddedDatabase({});
    const c = new pg.Client(own.connection);
    c.on("error", () => {});
    await c.connect();
    await own.stop();
    await expect(c.query("SELECT 1")).rejects.toThrow();
  });
});

describe("the embedded database's durability", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "scopegate-durability-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps every commit it acknowledged when the process is killed right after", async () => {
    // A child process commits rows one by one, reports each COMMIT that returned,
    // and kills itself (SIGKILL: no shutdown, no checkpoint) after the last.
    const script = `
      import pg from "pg";
      import { startEmbeddedDatabase } from "./src/db/embedded.ts";
      const db = await startEmbeddedDatabase({ dataDir: process.argv[1] });
      const c = new pg.Client(db.connection);
      await c.connect();
      await c.query("CREATE TABLE acked (id int PRIMARY KEY)");
      for (let i = 0; i < 50; i++) {
        await c.query("BEGIN");
        await c.query("INSERT INTO acked VALUES ($1)", [i]);
        await c.query("COMMIT");
        process.stdout.write(i + "\\n");
      }
      process.kill(process.pid, "SIGKILL");
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, dir], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    const signal = await new Promise((resolve) => child.once("close", (_code, sig) => resolve(sig)));
    expect(signal).toBe("SIGKILL");
    const acknowledged = out.trim().split("\n").map(Number);
    expect(acknowledged).toHaveLength(50);

    // Its lock is left behind by a dead process: taken over.
    const reopened = await startEmbeddedDatabase({ dataDir: dir });
    try {
      const c = new pg.Client(reopened.connection);
      await c.connect();
      const { rows } = await c.query<{ id: number }>("SELECT id FROM acked ORDER BY id");
      await c.end();
      expect(rows.map((r) => r.id)).toEqual(acknowledged);
    } finally {
      await reopened.stop();
    }
  });
});
