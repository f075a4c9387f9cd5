import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountAbuseLimits } from "../../src/accounts/abuse-limits.ts";
import { deleteAccount } from "../../src/accounts/deletion.ts";
import { RateLimiter } from "../../src/db/rate-limit.ts";
import { signUp } from "../../src/accounts/accounts.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { revokeClient, rotateClientSecret, updateClient } from "../../src/clients/client-admin.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { createAuthorizationCode } from "../../src/oauth/codes.ts";
import { narrowConnectedApp, revokeConnectedApp } from "../../src/consent/connected-apps.ts";
import { grantAccess } from "../../src/consent/grants.ts";
import { rotateSigningKeys } from "../../src/oauth/keys.ts";
import type { RunningServer } from "../../src/server.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { freePort, startInstances, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";

// Two instances on one PostgreSQL (issue 10): credential checks are answered
// from each instance's memory, so a revocation made through one instance must
// hold on that instance at its very next request, and on the other within a
// second (the change feed: NOTIFY plus a catch-up read every 250 ms). The other
// instance is polled with a deadline that leaves room for a loaded machine;
// nothing here asserts a duration.
const DEADLINE_MS = 5_000;
const REDIRECT = "https://partner.example/cb";
const PASSWORD = "correct horse battery staple";

let t: TestDatabase;
let dbs: [Database, Database];
let a: RunningServer;
let b: RunningServer;
let issuer: string;

beforeAll(async () => {
  t = await createTestDatabase();
  issuer = `http://127.0.0.1:${await freePort()}`; // one public issuer in front of both
  dbs = [await openDatabase(t.target), await openDatabase(t.target)];
  [a, b] = (await startInstances(dbs, issuer)) as [RunningServer, RunningServer];
});

afterAll(async () => {
  for (const s of [a, b]) await s?.close(500);
  for (const db of dbs ?? []) await db.close();
  await t?.drop();
});

let n = 0;
async function user() {
  const u = await signUp(dbs[0].prisma, { name: "Rev", email: `rev${++n}-${Date.now()}@example.com`, password: PASSWORD });
  if (!u.ok) throw new Error("signup");
  return u.user;
}

async function confidentialClient(ownerId: string, scopes = ["profile:read", "data:read", "data:write"]) {
  const { client, clientSecret } = await insertClient(dbs[0].prisma, {
    ownerId,
    name: "Feed test",
    environment: "PRODUCTION",
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes,
  });
  return { client, secret: clientSecret!, basic: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}` };
}

async function tokenRequest(server: RunningServer, basic: string, body: Record<string, string>) {
  const res = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
    body: new URLSearchParams(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** A user's consent and a code made directly, exchanged at instance A like any partner would. */
async function connect(client: OAuthClient, basic: string, userId: string, scopes: string[]) {
  const verifier = randomBytes(32).toString("base64url");
  const code = await dbs[0].prisma.$transaction(async (tx) => {
    const grant = await grantAccess(tx, { userId, client, scopes });
    return createAuthorizationCode(tx, {
      grantId: grant.id,
      clientRowId: client.id,
      userId,
      redirectUri: REDIRECT,
      scopes,
      audience: null,
      codeChallenge: createHash("sha256").update(verifier).digest("base64url"),
      authTime: new Date(),
    });
  });
  const res = await tokenRequest(a, basic, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
  expect(res.status).toBe(200);
  const grant = await dbs[0].prisma.grant.findFirstOrThrow({ where: { userId, clientId: client.id, revokedAt: null } });
  return { access: res.body.access_token!, refresh: res.body.refresh_token!, grantId: grant.id };
}

async function status(server: RunningServer, token: string): Promise<number> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Polls until `probe` gives `want` or the deadline passes; returns the last value seen. */
async function eventually<T>(probe: () => Promise<T>, want: T): Promise<T> {
  const until = Date.now() + DEADLINE_MS;
  let last = await probe();
  while (last !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    last = await probe();
  }
  return last;
}

/** Both instances admit the token; after `revoke` (through A), A refuses it at once and B within the deadline. */
async function expectRevokedEverywhere(token: string, revoke: () => Promise<unknown>) {
  expect(await status(a, token)).toBe(200);
  expect(await status(b, token)).toBe(200);
  await revoke();
  expect(await status(a, token)).toBe(401);
  expect(await eventually(() => status(b, token), 401)).toBe(401);
}

describe("revocations across two instances on one PostgreSQL", () => {
  it("a single access token revoked at /v1/oauth/revoke", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    const { access } = await connect(c.client, c.basic, u.id, ["data:read"]);
    await expectRevokedEverywhere(access, async () => {
      const res = await fetch(`${a.url}/v1/oauth/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: c.basic },
        body: new URLSearchParams({ token: access, token_type_hint: "access_token" }),
      });
      expect(res.status).toBe(200);
    });
    // Introspection on the other instance agrees.
    const intro = await fetch(`${b.url}/v1/oauth/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: c.basic },
      body: new URLSearchParams({ token: access }),
    });
    expect(await intro.json()).toEqual({ active: false });
  });

  it("a grant revoked by the user (connected apps)", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    const { access, grantId } = await connect(c.client, c.basic, u.id, ["data:read"]);
    await expectRevokedEverywhere(access, () => revokeConnectedApp(dbs[0].prisma, u.id, grantId));
  });

  it("a grant narrowed by the user ends tokens with the removed scope only", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    const { access, refresh, grantId } = await connect(c.client, c.basic, u.id, ["profile:read", "data:read"]);
    await expectRevokedEverywhere(access, () => narrowConnectedApp(dbs[0].prisma, u.id, grantId, ["data:read"]));
    // The app refreshes (at B) into a narrower token, which both instances admit.
    const next = await tokenRequest(b, c.basic, { grant_type: "refresh_token", refresh_token: refresh });
    expect(next.status).toBe(200);
    expect(next.body.scope).toBe("data:read");
    expect(await status(a, next.body.access_token!)).toBe(200);
    expect(await status(b, next.body.access_token!)).toBe(200);
  });

  it("a scope removed from the client by its developer", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    const { access } = await connect(c.client, c.basic, u.id, ["profile:read", "data:read"]);
    const cc = await tokenRequest(a, c.basic, { grant_type: "client_credentials", scope: "data:read" });
    await expectRevokedEverywhere(access, () =>
      updateClient(dbs[0].prisma, { id: u.id, isAdmin: false }, c.client.clientId, { scopes: ["data:read"] }),
    );
    // A token without the removed scope lives on.
    expect(await status(b, cc.body.access_token!)).toBe(200);
  });

  it("a client revoked by its developer: its tokens end and it can no longer get any", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    expect((await tokenRequest(b, c.basic, { grant_type: "client_credentials" })).status).toBe(200); // B caches the client
    const cc = await tokenRequest(a, c.basic, { grant_type: "client_credentials" });
    await expectRevokedEverywhere(cc.body.access_token!, () =>
      revokeClient(dbs[0].prisma, { id: u.id, isAdmin: false }, c.client.clientId),
    );
    const refused = await eventually(async () => (await tokenRequest(b, c.basic, { grant_type: "client_credentials" })).status, 401);
    expect(refused).toBe(401);
  });

  it("a rotated secret stops working on both instances", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    expect((await tokenRequest(b, c.basic, { grant_type: "client_credentials" })).status).toBe(200); // B caches the client
    const { clientSecret } = await rotateClientSecret(dbs[0].prisma, { id: u.id, isAdmin: false }, c.client.clientId);
    expect((await tokenRequest(a, c.basic, { grant_type: "client_credentials" })).status).toBe(401);
    expect(await eventually(async () => (await tokenRequest(b, c.basic, { grant_type: "client_credentials" })).status, 401)).toBe(401);
    const fresh = `Basic ${Buffer.from(`${c.client.clientId}:${clientSecret}`).toString("base64")}`;
    expect((await tokenRequest(b, fresh, { grant_type: "client_credentials" })).status).toBe(200);
  });

  it("an account deleted", async () => {
    const owner = await user();
    const c = await confidentialClient(owner.id);
    const u = await user();
    const { access } = await connect(c.client, c.basic, u.id, ["data:read"]);
    await expectRevokedEverywhere(access, async () => {
      const guard = { limits: new AccountAbuseLimits(new RateLimiter(dbs[0].prisma)), address: "test" };
      expect(await deleteAccount(dbs[0].prisma, { userId: u.id, password: PASSWORD }, guard)).toMatchObject({ ok: true });
    });
  });

  it("new signing keys are published by every instance", async () => {
    const before = (await (await fetch(`${b.url}/v1/oauth/jwks`)).json()) as { keys: { kid: string }[] };
    const [accessKid] = await rotateSigningKeys(dbs[0].prisma, new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET));
    const hasKid = async () =>
      ((await (await fetch(`${b.url}/v1/oauth/jwks`)).json()) as { keys: { kid: string }[] }).keys.some((k) => k.kid === accessKid);
    expect(before.keys.some((k) => k.kid === accessKid)).toBe(false);
    expect(await eventually(hasKid, true)).toBe(true);
  });

  it("fails closed: an instance that cannot read the change log answers 503, never a possibly revoked token's data", async () => {
    const u = await user();
    const c = await confidentialClient(u.id);
    const { access } = await connect(c.client, c.basic, u.id, ["data:read"]);
    expect(await status(b, access)).toBe(200);
    const admin = new pg.Client({ ...dbs[0].connection });
    await admin.connect();
    try {
      await admin.query('ALTER TABLE "ChangeEvent" RENAME TO "ChangeEventAway"');
      // Once its view is more than a second old, B checks the log, cannot read it, and refuses.
      const res = await eventually(() => status(b, access), 503);
      expect(res).toBe(503);
      const again = await fetch(`${b.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${access}` },
        body: JSON.stringify({ query: "{ me { id } }" }),
      });
      expect(again.status).toBe(503);
      expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await admin.query('ALTER TABLE "ChangeEventAway" RENAME TO "ChangeEvent"');
      await admin.end();
    }
    expect(await eventually(() => status(b, access), 200)).toBe(200);
  });
});
