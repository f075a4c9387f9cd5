import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "../../src/db/client.ts";
import { openDatabase } from "../../src/db/index.ts";
import { readMigrations } from "../../src/db/migrate.ts";
import { WebClient } from "../helpers/http.ts";
import { currentKind, POSTGRES_ADMIN_URL, type TestDatabaseKind } from "../helpers/kinds.ts";
import { runUntilExit, ServerProcess } from "../helpers/process.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";

// These tests start the real program (`node --import tsx src/main.ts`). The
// embedded-database ones and the configuration errors don't depend on the test
// project's database kind, so they run once, in the "pglite" project; the
// PostgreSQL ones run in the "postgres" project, which exists when PostgreSQL answers.
const kind = currentKind();
/** `describe` in the project of that database kind; elsewhere not registered at all (not "skipped"). */
const describeOn = (k: TestDatabaseKind) => (k === kind ? describe : ((() => {}) as unknown as typeof describe));

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "scopegate-life-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const running = new Set<ServerProcess>();
afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
});
function start(env: Record<string, string>): ServerProcess {
  const p = new ServerProcess({ HOST: "127.0.0.1", ...env });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

interface Banner {
  user: { email: string; password: string };
  admin: { email: string; password: string };
  client: { id: string; secret: string };
  firstParty: { id: string; secret: string };
}

const SEEDED_BANNER =
  /demo user\s+(\S+)\s+password (\S+)\n\s+administrator\s+(\S+)\s+password (\S+)\n\s+demo client\s+client_id (\S+)\n\s+client_secret (\S+)\n[\s\S]*?first-party\s+client_id (\S+)\n\s+client_secret (\S+)\n/;

async function waitForSeededBanner(p: ServerProcess): Promise<Banner> {
  const m = await p.waitFor("stderr", SEEDED_BANNER, 90_000);
  return {
    user: { email: m[1]!, password: m[2]! },
    admin: { email: m[3]!, password: m[4]! },
    client: { id: m[5]!, secret: m[6]! },
    firstParty: { id: m[7]!, secret: m[8]! },
  };
}

async function healthz(url: string, requestId?: string) {
  const res = await fetch(`${url}/healthz`, { headers: requestId ? { "x-request-id": requestId } : {} });
  return { status: res.status, body: await res.json(), requestId: res.headers.get("x-request-id") };
}

function expectOneLineError(r: { code: number | null; stderr: string; stdout: string }, message: RegExp) {
  expect(r.code, r.stderr).toBe(1);
  const text = r.stderr.trimEnd();
  expect(text.split("\n"), r.stderr).toHaveLength(1);
  expect(text).toMatch(/^scopegate: /);
  expect(text).toMatch(message);
  expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
  expect(r.stdout).not.toMatch(/scopegate is running/);
}

describeOn("pglite")("the server process on the embedded database", () => {
  const dataDir = join(tempDir(), "data");
  let banner: Banner | undefined;
  const signedUp = { email: `kept-${randomBytes(4).toString("hex")}@example.com`, password: "survives a restart" };

  it("a port already in use fails with exit 1 and one line; the start after it is still a first start: seeds, prints the sign-in once to stderr, logs JSON lines without secrets, exits 0 on SIGTERM", async () => {
    // A start that cannot listen must not have seeded what it never showed:
    // the next start on the same folder still seeds and prints the demo sign-in.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runUntilExit({ HOST: "127.0.0.1", PORT: String(busy), DATA_DIR: dataDir });
      expectOneLineError(r, new RegExp(`port ${busy} is already in use`));
      expect(r.stderr).not.toMatch(/password/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }

    const port = await freePort();
    const p = start({ PORT: String(port), DATA_DIR: dataDir });
    banner = await waitForSeededBanner(p);
    const url = `http://127.0.0.1:${port}`;

    expect(p.stderr).toContain(`scopegate is running at http://localhost:${port}`);
    expect(p.stderr).toContain(`http://localhost:${port}/login`);
    expect(p.stderr).toContain(`http://localhost:${port}/graphql`);
    expect(p.stderr.match(/Demo data was created/g)).toHaveLength(1);
    expect(banner.user.email).toBe("demo@scopegate.local");
    expect(banner.user.password.length).toBeGreaterThanOrEqual(10);
    expect(banner.admin.password).not.toBe(banner.user.password);

    const h = await healthz(url, "lifecycle-healthz-1");
    expect(h).toEqual({ status: 200, body: { status: "ok" }, requestId: "lifecycle-healthz-1" });

    // The printed credentials work: the demo user and the administrator sign in...
    for (const who of [banner.user, banner.admin]) {
      const client = new WebClient(url);
      const { res } = await client.signIn(who);
      expect(res.status, who.email).toBe(303);
      expect((await client.page("/")).html).toContain(who.email);
    }
    // ...and the demo client gets a token with its secret.
    const token = await fetch(`${url}/v1/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${banner.client.id}:${banner.client.secret}`).toString("base64")}`,
      },
      body: "grant_type=client_credentials&scope=data:read",
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { access_token?: string }).access_token).toBeTruthy();

    // An account made now must survive the restart below.
    const fresh = new WebClient(url);
    expect((await fresh.signUp({ name: "Kept", ...signedUp })).res.status).toBe(303);

    const exit = await p.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });

    // stdout is the log stream: JSON lines only, request lines carry a request id.
    const lines = p.logLines();
    expect(lines.length).toBeGreaterThan(5);
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(5);
    for (const r of requests) {
      expect(typeof r.reqId).toBe("string");
      expect(r).toHaveProperty("status");
      expect(r).toHaveProperty("path");
    }
    expect(requests.find((r) => r.path === "/healthz")?.reqId).toBe("lifecycle-healthz-1");
    expect(new Set(requests.map((r) => r.reqId)).size).toBe(requests.length);
    expect(lines.some((l) => l.msg === "listening")).toBe(true);
    expect(lines.some((l) => l.msg === "stopped")).toBe(true);
    // Nothing printed once to the terminal ever reaches the log stream.
    for (const secret of [banner.user.password, banner.admin.password, banner.client.secret, banner.firstParty.secret, signedUp.password]) {
      expect(p.stdout).not.toContain(secret);
    }
    expect(p.stdout).not.toMatch(/Demo data|scopegate is running/);

    // What was seeded, looked at directly in the data folder.
    const db = await openDatabase({ kind: "embedded", dataDir });
    try {
      const users = await db.prisma.user.findMany({ orderBy: { email: "asc" } });
      expect(users.map((u) => [u.email, u.isAdmin])).toEqual([
        [banner.admin.email, true],
        [banner.user.email, false],
        [signedUp.email, false],
      ]);
      const demo = users.find((u) => u.email === banner!.user.email)!;
      expect(demo.name).toBeTruthy();
      const measurements = await db.prisma.measurement.findMany({ where: { userId: demo.id } });
      expect(measurements.length).toBeGreaterThan(50);
      expect(new Set(measurements.map((m) => m.type)).size).toBeGreaterThanOrEqual(5);
      const clients = await db.prisma.oAuthClient.findMany({ orderBy: { firstParty: "asc" } });
      expect(clients.map((c) => [c.clientId, c.type, c.firstParty])).toEqual([
        [banner.client.id, "CONFIDENTIAL", false],
        [banner.firstParty.id, "CONFIDENTIAL", true],
      ]);
      const dump = JSON.stringify(clients);
      expect(dump).not.toContain(banner.client.secret);
      expect(dump).not.toContain(banner.firstParty.secret);
    } finally {
      await db.close();
    }
  }, 180_000);

  it("second start on the same DATA_DIR: seeds nothing, prints the URLs only, and the data survived", async () => {
    expect(banner, "the first start must have run").toBeDefined();
    const port = await freePort();
    const p = start({ PORT: String(port), DATA_DIR: dataDir });
    await p.ready();
    const url = `http://127.0.0.1:${port}`;
    expect(p.stderr).toContain(`scopegate is running at http://localhost:${port}`);
    expect(p.stderr).not.toMatch(/Demo data|password|client_secret|client_id/);

    expect((await healthz(url)).body).toEqual({ status: "ok" });
    for (const who of [banner!.user, signedUp]) {
      const client = new WebClient(url);
      const { res } = await client.signIn(who);
      expect(res.status, who.email).toBe(303);
      expect((await client.page("/")).html).toContain(who.email);
    }
    expect(await p.stop()).toEqual({ code: 0, signal: null });
    // Nothing to migrate the second time.
    expect(p.logLines().some((l) => l.msg === "applied migrations")).toBe(false);
    expect(p.stderr).not.toMatch(/Demo data/);

    const db = await openDatabase({ kind: "embedded", dataDir });
    try {
      expect(db.appliedMigrations).toEqual([]);
      expect(await db.prisma.user.count()).toBe(3);
      expect(await db.prisma.oAuthClient.count()).toBe(2);
    } finally {
      await db.close();
    }
  }, 120_000);

  it("SEED_DEMO=false seeds nothing; SIGTERM lets a request in flight finish, refuses new connections, then exits 0", async () => {
    const dir = join(tempDir(), "data");
    const port = await freePort();
    const p = start({ PORT: String(port), DATA_DIR: dir, SEED_DEMO: "false" });
    await p.ready();
    expect((await healthz(`http://127.0.0.1:${port}`)).body).toEqual({ status: "ok" });

    // A sign-in whose body is still being uploaded: the server has the request
    // (it answered 100-continue) but cannot answer until the body is complete.
    const req = http.request({
      host: "127.0.0.1",
      port,
      path: "/login",
      method: "POST",
      agent: false,
      headers: { "content-type": "application/x-www-form-urlencoded", expect: "100-continue", "x-request-id": "slow-upload" },
    });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on("response", (res) => {
        let body = "";
        res
          .setEncoding("utf8")
          .on("data", (c: string) => (body += c))
          .on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
    });
    response.catch(() => {}); // awaited below; don't let an early failure go unhandled
    await new Promise<void>((resolve) => req.once("continue", resolve));
    req.write("email=slow%40example.com&");

    p.child.kill("SIGTERM");
    await p.waitFor("stdout", /shutting down/);
    // Draining: the listening socket closes (the log line comes just before that,
    // so allow a moment), while the process stays up for the request in flight.
    const connectOnce = () =>
      new Promise<string>((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve("connected");
        });
        s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
    // A connection that lands in the backlog just as the listener closes is
    // reset (ECONNRESET); the ones after that must be refused outright.
    let refused = await connectOnce();
    for (let i = 0; i < 50 && refused !== "ECONNREFUSED"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      refused = await connectOnce();
    }
    expect(refused).toBe("ECONNREFUSED");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(p.running).toBe(true);

    req.end("password=still+uploading");
    const res = await response;
    expect(res.status).toBe(403); // no form token: refused, but answered in full
    expect(res.body).toContain("Sign in");

    expect(await p.exited).toEqual({ code: 0, signal: null });
    const line = p.logLines().find((l) => l.reqId === "slow-upload");
    expect(line).toMatchObject({ msg: "request", method: "POST", path: "/login", status: 403 });

    // SEED_DEMO=false: the fresh folder got every migration and no demo data.
    expect(p.stderr).not.toMatch(/Demo data|password|client_secret/);
    expect(p.logLines().find((l) => l.msg === "applied migrations")?.migrations).toEqual(readMigrations().map((m) => m.name));
    const db = await openDatabase({ kind: "embedded", dataDir: dir });
    try {
      expect(await db.prisma.user.count()).toBe(0);
      expect(await db.prisma.oAuthClient.count()).toBe(0);
    } finally {
      await db.close();
    }
  }, 120_000);
});

describeOn("pglite")("configuration errors", () => {
  // Each rule is a unit test of loadConfig (test/unit/config.test.ts); main.ts
  // turns every ConfigError into one line and exit 1 the same way, so one real
  // process proves that part for all of them.
  it("a bad value exits 1 with a one-line message, nothing on stdout, and no secret echoed", async () => {
    const r = await runUntilExit({ DATA_DIR: join(tempDir(), "data"), PORT: "0", DATABASE_URL: "mysql://app:hunter22@db/scopegate" });
    expectOneLineError(r, /DATABASE_URL must start with postgres:\/\//);
    expect(r.stderr).not.toContain("hunter22");
    expect(r.stdout).toBe("");
  });

  it("an unreachable DATABASE_URL exits 1 with a one-line message", async () => {
    const port = await freePort(); // nobody listens there
    const r = await runUntilExit({
      PORT: "0",
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/scopegate`,
      KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
    });
    expectOneLineError(r, /cannot connect to DATABASE_URL/);
  });
});

describeOn("postgres")("the server process on PostgreSQL", () => {
  const database = `sg_life_${randomBytes(6).toString("hex")}`;
  const databaseUrl = (() => {
    const u = new URL(POSTGRES_ADMIN_URL);
    u.pathname = `/${database}`;
    return u.href;
  })();

  async function query<T extends pg.QueryResultRow>(sql: string, db = database): Promise<T[]> {
    const client = new pg.Client({ ...parseDatabaseUrl(POSTGRES_ADMIN_URL), database: db });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    await query(`CREATE DATABASE "${database}"`, "postgres");
  });
  afterAll(async () => {
    await query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`, "postgres");
  });

  const migrationsTable = () =>
    query<{ migration_name: string; checksum: string; finished_at: Date }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
  const tables = () =>
    query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);

  it("a first start applies the migrations, a second applies none and changes nothing", async () => {
    const expected = readMigrations();
    const port = await freePort();
    const first = start({ PORT: String(port), DATABASE_URL: databaseUrl, KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET });
    await first.ready();
    // Seeding is off by default with DATABASE_URL.
    expect(first.stderr).not.toMatch(/Demo data|password|client_secret/);
    expect((await healthz(`http://127.0.0.1:${port}`)).body).toEqual({ status: "ok" });
    const account = { email: `pg-${randomBytes(4).toString("hex")}@example.com`, password: "on postgres now" };
    expect((await new WebClient(`http://127.0.0.1:${port}`).signUp({ name: "P", ...account })).res.status).toBe(303);
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect(first.logLines().find((l) => l.msg === "applied migrations")?.migrations).toEqual(expected.map((m) => m.name));

    const afterFirst = await migrationsTable();
    expect(afterFirst.map((r) => [r.migration_name, r.checksum])).toEqual(expected.map((m) => [m.name, m.checksum]));
    const tablesAfterFirst = await tables();
    expect(tablesAfterFirst.map((t) => t.table_name)).toEqual(expect.arrayContaining(["User", "OAuthClient", "_prisma_migrations"]));
    expect(await query(`SELECT count(*)::int AS n FROM "User"`)).toEqual([{ n: 1 }]);

    const port2 = await freePort();
    const second = start({ PORT: String(port2), DATABASE_URL: databaseUrl, KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET });
    await second.ready();
    expect((await new WebClient(`http://127.0.0.1:${port2}`).signIn(account)).res.status).toBe(303);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect(second.logLines().some((l) => l.msg === "applied migrations")).toBe(false);
    expect(await migrationsTable()).toEqual(afterFirst);
    expect(await tables()).toEqual(tablesAfterFirst);
  }, 120_000);

  it("refuses to start, exit 1 and one line, when an applied migration was changed", async () => {
    const [first] = readMigrations();
    await query(`UPDATE "_prisma_migrations" SET checksum = '${"0".repeat(64)}' WHERE migration_name = '${first!.name}'`);
    const r = await runUntilExit({
      HOST: "127.0.0.1",
      PORT: String(await freePort()),
      DATABASE_URL: databaseUrl,
      KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
    });
    expectOneLineError(r, new RegExp(`migration ${first!.name} was changed after it was applied`));
  }, 60_000);

  it("a DATABASE_URL naming a database that does not exist exits 1 with a clear message", async () => {
    const u = new URL(databaseUrl);
    u.pathname = `/sg_missing_${randomBytes(4).toString("hex")}`;
    const r = await runUntilExit({
      PORT: String(await freePort()),
      DATABASE_URL: u.href,
      KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
    });
    expectOneLineError(r, /cannot connect to DATABASE_URL: database "sg_missing_[0-9a-f]+" does not exist/);
  }, 60_000);
});
