import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { adminQuery } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// PostgreSQL restarts, failovers and idle-connection reapers end connections the
// server holds. The pool must drop them and open new ones, the change feed must
// reconnect, and the process must not crash on the idle connections' errors.
let server: TestServer;
let basic: string;

beforeAll(async () => {
  server = await startTestServer();
  const u = await signUp(server.db.prisma, { name: "Lost", email: "lost@example.com", password: "correct horse battery staple" });
  if (!u.ok) throw new Error("signup");
  const { client, clientSecret } = await insertClient(server.db.prisma, {
    ownerId: u.user.id,
    name: "Loss",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/cb"],
    scopes: ["data:read"],
  });
  basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`;
});
afterAll(async () => {
  await server?.stop();
});

async function readWithFreshToken(): Promise<number> {
  const token = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
    body: "grant_type=client_credentials",
  });
  if (token.status !== 200) return token.status;
  const { access_token } = (await token.json()) as { access_token: string };
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${access_token}` },
    body: JSON.stringify({ query: "{ me { id measurements(first: 1) { edges { cursor } } } }" }),
  });
  return res.status;
}

describe("connections ended by the database", () => {
  it("are replaced: the server keeps answering, and never crashes on an idle connection's error", async () => {
    expect(await readWithFreshToken()).toBe(200);
    const database = (server.db.connection as { database: string }).database;
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`);
    // A request already using a connection may see 503 (with Retry-After); after that, answers again.
    const until = Date.now() + 10_000;
    let status = await readWithFreshToken();
    while (status !== 200 && Date.now() < until) {
      expect(status).toBe(503);
      await new Promise((r) => setTimeout(r, 100));
      status = await readWithFreshToken();
    }
    expect(status).toBe(200);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
