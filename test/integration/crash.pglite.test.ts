import { mkdtempSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.ts";
import { CrashLoad, checkDatabase, seedCrashFixture, type CrashFixture } from "../helpers/crash.ts";
import { embeddedDataDirFromTemplate } from "../helpers/db.ts";
import { runUntilExit, ServerProcess } from "../helpers/process.ts";
import { freePort } from "../helpers/server.ts";

// Issue 12 item 7 on the embedded database: the real server killed with
// SIGKILL at a random moment under concurrent authorizations and token
// requests, then started again on the same data folder. PGlite replays its
// WAL at start-up (see "Durability" in src/db/embedded.ts): what a client saw
// committed must be there, and nothing half-made usable. The PostgreSQL
// variant is crash.postgres.test.ts; this one runs in the pglite project only
// (*.pglite.test.ts, see vitest.config.ts).
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 1);

let dir: string;
let dataDir: string;
let fixture: CrashFixture;
let issuer: string;
const running = new Set<ServerProcess>();

function start(): ServerProcess {
  const p = new ServerProcess({ HOST: "127.0.0.1", PORT: new URL(issuer).port, ISSUER: issuer, DATA_DIR: dataDir, LOG_LEVEL: "warn" });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

describe("SIGKILL under load, on the embedded database", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "scopegate-crash-"));
    dataDir = join(dir, "data");
    await embeddedDataDirFromTemplate(dataDir, "migrated");
    const db = await openDatabase({ kind: "embedded", dataDir });
    try {
      fixture = await seedCrashFixture(db);
    } finally {
      await db.close();
    }
    issuer = `http://127.0.0.1:${await freePort()}`;
  });

  afterAll(async () => {
    await Promise.all([...running].map((p) => p.stop("SIGKILL")));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "restarts on the same data folder with no half-made grant, no usable redeemed code, no completed consent or rotation lost",
    async () => {
      const load = new CrashLoad(issuer, fixture, issuer);
      for (let round = 0; round < ROUNDS; round++) {
        const server = start();
        await server.ready();
        const killed = await load.killUnderLoad(server, 8);
        expect(killed.signal).toBe("SIGKILL");
        expect(killed.failures, "answers while the server was up").toEqual([]);

        // The lock file and socket of the killed process are taken over, and the log says why.
        const again = start();
        await again.ready();
        expect(again.logLines().some((l) => /not shut down cleanly/.test(String(l.msg)))).toBe(true);
        // Another process's view of the data, through the data folder's Unix socket.
        const sql = new pg.Client({ host: join(dataDir, "socket"), port: 5432, user: "postgres", database: "postgres" });
        await sql.connect();
        try {
          const query = async <T extends Record<string, unknown>>(text: string, values?: unknown[]) =>
            (await sql.query(text, values)).rows as T[];
          expect(await checkDatabase(query, load)).toEqual([]);
        } finally {
          await sql.end();
        }
        expect(await load.checkThroughApi(issuer)).toEqual([]);
        expect(await again.stop("SIGTERM")).toEqual({ code: 0, signal: null });
        load.nextRound();
      }
      expect(load.rotations).toBeGreaterThan(0);
      expect(load.consented.size).toBeGreaterThan(0);
      expect(load.revoked.length).toBeGreaterThan(0);
    },
    60_000 + ROUNDS * 60_000,
  );

  it("refuses to start, exit 1 and one line saying how to recover, when the data folder is damaged (its WAL lost, as in a power cut)", async () => {
    const damagedDir = join(dir, "damaged");
    await embeddedDataDirFromTemplate(damagedDir, "migrated");
    const segments = readdirSync(join(damagedDir, "pg_wal")).filter((f) => /^[0-9A-F]{24}$/.test(f));
    expect(segments.length).toBeGreaterThan(0);
    for (const f of segments) truncateSync(join(damagedDir, "pg_wal", f), 0);
    const r = await runUntilExit({ HOST: "127.0.0.1", PORT: "0", DATA_DIR: damagedDir });
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`scopegate: the embedded database in ${damagedDir} cannot be opened (`);
    expect(lines[0]).toMatch(/\): its files are damaged/);
    expect(lines[0]).toMatch(/restore a copy taken while scopegate was stopped/);
    expect(r.stdout).not.toMatch(/listening/);
  }, 60_000);
});
