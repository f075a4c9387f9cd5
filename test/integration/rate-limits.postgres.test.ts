import { describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { openDatabase } from "../../src/db/index.ts";
import { createTestDatabase } from "../helpers/db.ts";
import { freePort, startInstances } from "../helpers/server.ts";

// Two instances on one PostgreSQL share a hot-path limit: each counts in
// memory and adds its counts to RateLimitWindow about once a second, reading
// the totals back (issue 12 item 2). Runs in the postgres project only.
describe("two instances sharing a rate limit", () => {
  it("see each other's counts after a sync, and the timer syncs without being asked", async () => {
    const t = await createTestDatabase();
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const dbs = [await openDatabase(t.target), await openDatabase(t.target)];
    const servers = [];
    try {
      servers.push(...(await startInstances(dbs, issuer, { TOKEN_RATE_LIMIT_PER_CLIENT: "6" })));
      const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
      const u = await signUp(dbs[0]!.prisma, { name: "M", email: "m@example.com", password: "correct horse battery" });
      if (!u.ok) throw new Error("signup");
      const { client, clientSecret } = await insertClient(dbs[0]!.prisma, {
        ownerId: u.user.id,
        name: "Shared",
        environment: "DEVELOPMENT",
        type: "CONFIDENTIAL",
        redirectUris: ["http://localhost:3000/cb"],
        scopes: ["data:read"],
      });
      const basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`;
      const token = async (url: string) =>
        (
          await fetch(`${url}/v1/oauth/token`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
            body: "grant_type=client_credentials",
          })
        ).status;

      // Three on each: each instance alone has room for three more.
      for (let i = 0; i < 3; i++) expect(await token(a.url)).toBe(200);
      for (let i = 0; i < 3; i++) expect(await token(b.url)).toBe(200);
      await a.syncRateLimits();
      await b.syncRateLimits(); // adds its 3: the total is 6, and b reads it back
      await a.syncRateLimits(); // a reads the total back
      expect(await token(a.url)).toBe(429);
      expect(await token(b.url)).toBe(429);

      // The once-a-second timer sends counts unasked: another client's requests
      // reach the shared table within a deadline (polled, not timed).
      const other = await insertClient(dbs[0]!.prisma, {
        ownerId: u.user.id,
        name: "Timed",
        environment: "DEVELOPMENT",
        type: "CONFIDENTIAL",
        redirectUris: ["http://localhost:3000/cb"],
        scopes: ["data:read"],
      });
      const otherBasic = `Basic ${Buffer.from(`${other.client.clientId}:${other.clientSecret}`).toString("base64")}`;
      const res = await fetch(`${b.url}/v1/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: otherBasic },
        body: "grant_type=client_credentials",
      });
      expect(res.status).toBe(200);
      const counted = async () =>
        (
          await dbs[0]!.sql<{ count: number }>(`SELECT "count" FROM "RateLimitWindow" WHERE "key" = $1`, [
            `token:client:${other.client.id}`,
          ])
        )
          .map((r) => r.count)
          .reduce((x, y) => x + y, 0);
      const until = Date.now() + 5_000;
      let n = await counted();
      while (n === 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        n = await counted();
      }
      expect(n).toBe(1);
    } finally {
      for (const s of servers) await s.close(500);
      for (const db of dbs) await db.close();
      await t.drop();
    }
  });
});
