import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/log.ts";
import { startServer } from "../../src/server.ts";
import { createTestDatabase } from "../helpers/db.ts";
import { freePort, startTestServer, testConfig, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("GET /healthz", () => {
  it("answers ok while the database answers", async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers 503 once the database is gone", async () => {
    const t = await createTestDatabase();
    const db = await openDatabase(t.target);
    const port = await freePort();
    const config = testConfig(port);
    const own = await startServer(config, createLogger("silent", false), { db });
    try {
      expect((await fetch(`${own.url}/healthz`)).status).toBe(200);
      // the embedded server stops / the PostgreSQL database is dropped under the running server
      await db.close();
      await t.drop();
      const res = await fetch(`${own.url}/healthz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: "unavailable" });
    } finally {
      await own.close(500);
    }
  });
});
