import { describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { openDatabase } from "../../src/db/index.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { createTestDatabase } from "../helpers/db.ts";
import { freePort, startInstances } from "../helpers/server.ts";

// Two stateless instances on one PostgreSQL, as DESIGN.md's "Scale" describes
// (runs in the postgres project only: see vitest.config.ts).
describe("two instances on one PostgreSQL", () => {
  it("share keys and clients, and a revocation on one holds on the other within a second", async () => {
    const t = await createTestDatabase();
    const issuer = `http://127.0.0.1:${await freePort()}`; // one public issuer in front of both
    const dbs = [await openDatabase(t.target), await openDatabase(t.target)];
    const servers = [];
    try {
      servers.push(...(await startInstances(dbs, issuer)));
      const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
      const u = await signUp(dbs[0]!.prisma, { name: "M", email: "m@example.com", password: "correct horse battery" });
      if (!u.ok) throw new Error("signup");
      const { client, clientSecret } = await insertClient(dbs[0]!.prisma, {
        ownerId: u.user.id,
        name: "Multi",
        environment: "DEVELOPMENT",
        type: "CONFIDENTIAL",
        redirectUris: ["http://localhost:3000/cb"],
        scopes: ["data:read"],
      });
      const basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`;
      const form = { "content-type": "application/x-www-form-urlencoded", authorization: basic };
      const token = (
        await (await fetch(`${a.url}/v1/oauth/token`, { method: "POST", headers: form, body: "grant_type=client_credentials" })).json()
      ).access_token;
      const me = (url: string) =>
        fetch(`${url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: "{ me { id } }" }),
        });
      expect((await me(a.url)).status).toBe(200);
      expect((await me(b.url)).status).toBe(200); // b verifies a's token: the keys live in the database
      expect(await (await fetch(`${a.url}/v1/oauth/jwks`)).json()).toEqual(await (await fetch(`${b.url}/v1/oauth/jwks`)).json());

      expect(
        (await fetch(`${a.url}/v1/oauth/revoke`, { method: "POST", headers: form, body: new URLSearchParams({ token }) })).status,
      ).toBe(200);
      // The deliberate change of issue 10: the other instance learns of it within a second
      // (the change feed), not at its very next request. Polled with a deadline, not timed.
      const until = Date.now() + 5_000;
      let status = (await me(b.url)).status;
      while (status !== 401 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await me(b.url)).status;
      }
      expect(status).toBe(401);
    } finally {
      for (const s of servers) await s.close(500);
      for (const db of dbs) await db.close();
      await t.drop();
    }
  });
});
