import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import type { Config } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { createLogger } from "../../src/lib/log.ts";
import { RETIRED_KEY_PUBLISHED_MS } from "../../src/oauth/key-schedule.ts";
import { KeyStore } from "../../src/oauth/keys.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { closeInstances, createTestDatabase, openInstances, type TestDatabase } from "../helpers/db.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET, testConfig } from "../helpers/server.ts";

const D = 86_400_000;
const keyEncryption = new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET);
const kids = (jwks: { keys: { kid?: string }[] }) => jwks.keys.map((k) => k.kid!).sort();

afterEach(closeInstances);

describe("automatic signing-key rotation (a clock the test moves)", () => {
  it("a key past its age gets a successor that is published at once, signs after the publish delay, while the old one verifies until its tokens expire", async () => {
    const [db] = (await openInstances(1)) as [Database];
    let now = Date.now();
    const schedule = { rotateAfterMs: 90 * D, publishBeforeUseMs: D };
    const store = new KeyStore(db.prisma, { keyEncryption, schedule, now: () => now });
    await store.init();
    const a0 = (await store.signingKey("access")).kid;
    const i0 = (await store.signingKey("id")).kid;
    expect(await store.rotateIfDue()).toEqual([]);

    now += 90 * D - 1;
    expect(await store.rotateIfDue()).toEqual([]);
    now += 1;
    const created = await store.rotateIfDue();
    expect(created).toHaveLength(2);
    const [a1, i1] = await Promise.all(
      ["access", "id"].map(async (use) => (await db.prisma.signingKey.findFirstOrThrow({ where: { use, kid: { in: created } } })).kid),
    );
    // published now, not signing yet
    expect(kids(await store.jwks())).toEqual([a0, a1, i0, i1].sort());
    expect((await store.signingKey("access")).kid).toBe(a0);
    expect((await store.signingKey("id")).kid).toBe(i0);
    const rows = await db.prisma.signingKey.findMany();
    const row = (kid: string) => rows.find((r) => r.kid === kid)!;
    expect(row(a1!).activatesAt).toEqual(new Date(now + D));
    expect(row(a0).retiredAt).toEqual(new Date(now + D));
    expect(KeyEncryption.isEnvelope(row(a1!).privateJwk)).toBe(true);
    // one successor at a time
    expect(await store.rotateIfDue()).toEqual([]);

    now += D - 1;
    expect((await store.signingKey("access")).kid).toBe(a0);
    now += 1;
    expect((await store.signingKey("access")).kid).toBe(a1);
    expect((await store.signingKey("id")).kid).toBe(i1);
    // the old keys verify until the last token they signed has expired
    now += RETIRED_KEY_PUBLISHED_MS - 1;
    expect(await store.verificationKey(a0, "access")).not.toBeNull();
    expect(kids(await store.jwks())).toEqual([a0, a1, i0, i1].sort());
    now += 1;
    expect(await store.verificationKey(a0, "access")).toBeNull();
    expect(kids(await store.jwks())).toEqual([a1, i1].sort());
    // a restart in between keeps the schedule: it is in the rows
    const restarted = new KeyStore(db.prisma, { keyEncryption, schedule, now: () => now });
    await restarted.init();
    expect((await restarted.signingKey("access")).kid).toBe(a1);
  });

  it("instances checking at the same moment create one successor per use between them", async () => {
    const dbs = await openInstances(3);
    let now = Date.now();
    const schedule = { rotateAfterMs: 90 * D, publishBeforeUseMs: D };
    const stores = dbs.map((db) => new KeyStore(db.prisma, { keyEncryption, schedule, now: () => now }));
    await Promise.all(stores.map((s) => s.init()));
    const before = await dbs[0]!.prisma.signingKey.count();
    now += 91 * D;
    const created = (await Promise.all(stores.map((s) => s.rotateIfDue()))).flat();
    expect(created).toHaveLength(2);
    expect(await dbs[0]!.prisma.signingKey.count()).toBe(before + 2);
    // every instance publishes the same keys (each reloaded after its attempt)
    const published = await Promise.all(stores.map(async (s) => kids(await s.jwks())));
    for (const p of published) expect(p).toEqual(published[0]);
    expect(published[0]).toEqual(expect.arrayContaining(created));
    // the change feed announced it
    expect(await dbs[0]!.prisma.changeEvent.count({ where: { kind: "keys.changed" } })).toBe(1);
  });
});

describe("automatic rotation seen by a real client (jose's createRemoteJWKSet)", () => {
  const PUBLISH_MS = 3_000;
  let t: TestDatabase;
  let db: Database;
  let server: RunningServer;
  let config: Config;
  let client: { clientId: string; secret: string };

  beforeAll(async () => {
    t = await createTestDatabase();
    db = await openDatabase(t.target);
    const port = await freePort();
    config = {
      ...testConfig(port),
      signingKeys: { rotateAfterMs: 90 * D, publishBeforeUseMs: PUBLISH_MS },
    };
    server = await startServer(config, createLogger("silent", false), { db });
    const u = await signUp(db.prisma, { name: "R", email: "r@example.com", password: "correct horse battery staple" });
    if (!u.ok) throw new Error("signup");
    const c = await insertClient(db.prisma, {
      ownerId: u.user.id,
      name: "Rotation",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: ["http://localhost:3000/cb"],
      scopes: ["data:read"],
    });
    client = { clientId: c.client.clientId, secret: c.clientSecret! };
  });
  afterAll(async () => {
    await server?.close();
    await db?.close();
    await t?.drop();
  });

  const opts = { [oauth.allowInsecureRequests]: true } as const;
  async function token(): Promise<string> {
    const url = new URL(config.issuer);
    const as = await oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { ...opts, algorithm: "oauth2" }));
    const c = { client_id: client.clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(client.secret), new URLSearchParams(), opts);
    return (await oauth.processClientCredentialsResponse(as, c, res)).access_token;
  }
  const kid = (jwt: string) => decodeProtectedHeader(jwt).kid!;
  const me = async (jwt: string) =>
    (
      await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${jwt}` },
        body: JSON.stringify({ query: "{ me { id } }" }),
      })
    ).status;

  it("the JWKS has the next key before any token is signed with it; a client that fetched it then verifies tokens across the switch without fetching again", async () => {
    const before = await token();
    const k0 = kid(before);

    // The keys have signed for 91 days (moved back in time in the database).
    await db.sql(`UPDATE "SigningKey" SET "createdAt" = "createdAt" - interval '91 days'`);
    server.keys.invalidate();
    await server.keys.jwks(); // reloads (the periodic check works from the loaded keys)
    const created = await server.keys.rotateIfDue();
    expect(created).toHaveLength(2);
    const [next] = await db.sql<{ kid: string; activatesAt: Date }>(
      `SELECT kid, "activatesAt" AT TIME ZONE 'UTC' AS "activatesAt" FROM "SigningKey" WHERE use = 'access' AND kid = ANY($1)`,
      [created],
    );
    const k1 = next!.kid;

    const served = (await (await fetch(`${config.issuer}/v1/oauth/jwks`)).json()) as { keys: { kid: string }[] };
    expect(kids(served)).toEqual(expect.arrayContaining([k0, k1]));
    expect(kid(await token())).toBe(k0); // published, not signing yet

    // A client (re)fetches the JWKS now, as its cache would within its lifetime.
    let fetches = 0;
    const jwks = createRemoteJWKSet(new URL(`${config.issuer}/v1/oauth/jwks`), {
      [customFetch]: (...args: Parameters<typeof fetch>) => {
        fetches++;
        return fetch(...args);
      },
    });
    const verify = (jwt: string) => jwtVerify(jwt, jwks, { issuer: config.issuer, audience: `${config.issuer}/graphql`, typ: "at+jwt" });
    await verify(before);
    expect(fetches).toBe(1);

    // The switch happens at activatesAt, not before.
    let after = await token();
    const deadline = Date.now() + PUBLISH_MS + 10_000;
    while (kid(after) === k0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = await token();
    }
    expect(kid(after)).toBe(k1);
    expect(decodeProtectedHeader(after).kid).toBe(k1);
    expect(Date.now()).toBeGreaterThanOrEqual(next!.activatesAt.getTime());

    // Tokens from both sides of the switch verify, the new one from the cached JWKS.
    await expect(verify(after)).resolves.toBeTruthy();
    await expect(verify(before)).resolves.toBeTruthy();
    expect(fetches).toBe(1);
    expect(await me(before)).toBe(200);
    expect(await me(after)).toBe(200);
  }, 60_000);
});
