import { createHash, randomBytes } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { grantAccess } from "../../src/consent/grants.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/log.ts";
import { createAuthorizationCode } from "../../src/oauth/codes.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { freePort, testConfig } from "../helpers/server.ts";

// Automatic signing-key rotation across two instances on one PostgreSQL: the
// instance whose scheduler creates the next key announces it on the change
// feed (keys.changed), and the other must publish it in its JWKS without
// waiting for its minute-long refresh, then verify the tokens the first one
// signs with it. (Manual rotation has its test in revocation-feed.postgres.test.ts.)
// Polled with a deadline that leaves room for a loaded machine.
const DEADLINE_MS = 5_000;
/** How long A publishes the next key before signing with it: short, so that the test sees the switch. */
const PUBLISH_BEFORE_USE_MS = 3_000;
const REDIRECT = "https://partner.example/cb";

let t: TestDatabase;
let dbs: [Database, Database];
let a: RunningServer;
let b: RunningServer;

beforeAll(async () => {
  t = await createTestDatabase();
  const issuer = `http://127.0.0.1:${await freePort()}`; // one public issuer in front of both
  dbs = [await openDatabase(t.target), await openDatabase(t.target)];
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent", false);
  // B: the default schedule (its keys are not due for 90 days). A: the same age, and a short publish delay.
  b = await startServer(testConfig(await freePort(), { ISSUER: issuer }), logger, { db: dbs[1] });
  const configA = testConfig(await freePort(), { ISSUER: issuer });
  a = await startServer({ ...configA, signingKeys: { ...configA.signingKeys, publishBeforeUseMs: PUBLISH_BEFORE_USE_MS } }, logger, {
    db: dbs[0],
  });
});

afterAll(async () => {
  for (const s of [a, b]) await s?.close(500);
  for (const db of dbs ?? []) await db.close();
  await t?.drop();
});

async function jwksKids(server: RunningServer): Promise<string[]> {
  const res = await fetch(`${server.url}/v1/oauth/jwks`);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
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

/** Polls until `probe` gives `want` or `ms` pass; returns the last value seen. */
async function eventually<T>(probe: () => Promise<T>, want: T, ms = DEADLINE_MS): Promise<T> {
  const until = Date.now() + ms;
  let last = await probe();
  while (last !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    last = await probe();
  }
  return last;
}

/** A user, a confidential client, and a refresh token from A (a consent and a code made directly, exchanged at A). */
async function connectAtA() {
  const password = randomBytes(18).toString("base64url");
  const signed = await signUp(dbs[0].prisma, { name: "Keys", email: `keys-${Date.now()}@example.com`, password });
  if (!signed.ok) throw new Error("signup");
  const userId = signed.user.id;
  const { client, clientSecret } = await insertClient(dbs[0].prisma, {
    ownerId: userId,
    name: "Key feed test",
    environment: "PRODUCTION",
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes: ["profile:read"],
  });
  const basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`;
  const verifier = randomBytes(32).toString("base64url");
  const code = await dbs[0].prisma.$transaction(async (tx) => {
    const grant = await grantAccess(tx, { userId, client, scopes: ["profile:read"] });
    return createAuthorizationCode(tx, {
      grantId: grant.id,
      clientRowId: client.id,
      userId,
      redirectUri: REDIRECT,
      scopes: ["profile:read"],
      audience: null,
      codeChallenge: createHash("sha256").update(verifier).digest("base64url"),
      authTime: new Date(),
    });
  });
  let refresh = "";
  const token = async (body: Record<string, string>) => {
    const res = await fetch(`${a.url}/v1/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
      body: new URLSearchParams(body),
    });
    const json = (await res.json()) as Record<string, string>;
    expect(res.status, JSON.stringify(json)).toBe(200);
    refresh = json.refresh_token!;
    return json.access_token!;
  };
  const first = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
  return { first, next: () => token({ grant_type: "refresh_token", refresh_token: refresh }) };
}

describe("automatic signing-key rotation across two instances on one PostgreSQL", () => {
  it("the next key A's scheduler creates is in B's JWKS through the change feed, and B verifies the tokens A signs with it", async () => {
    const session = await connectAtA();
    const oldKid = decodeProtectedHeader(session.first).kid!;
    expect(await status(b, session.first)).toBe(200);
    const before = await jwksKids(b); // B has just read its keys: its own refresh is a minute away
    expect(before).toContain(oldKid);

    // The keys have signed longer than SIGNING_KEY_ROTATE_AFTER (default 90 days): A's scheduler, on its next tick, rotates.
    await dbs[0].sql(`UPDATE "SigningKey" SET "createdAt" = "createdAt" - interval '91 days'`);
    a.keys.invalidate(); // A reads them again (the scheduler decides from the loaded keys)
    await a.keys.jwks();
    const created = await a.keys.rotateIfDue(); // what the scheduler's timer calls
    expect(created).toHaveLength(2); // the access-token key and the id_token key
    const rows = await dbs[0].prisma.signingKey.findMany({ where: { kid: { in: created } } });
    const next = rows.find((r) => r.use === "access")!;
    expect(next.activatesAt!.getTime() - next.createdAt.getTime()).toBe(PUBLISH_BEFORE_USE_MS);

    // B publishes both new keys, through the feed (not its own refresh, a minute away).
    const hasBoth = async () => {
      const kids = await jwksKids(b);
      return created.every((kid) => kids.includes(kid));
    };
    expect(await eventually(hasBoth, true)).toBe(true);
    expect(await jwksKids(b)).toContain(oldKid); // the old key stays published for its tokens

    // Once the new key signs, A's tokens carry it, and B verifies them; the old key's token still verifies too.
    const kidOfNext = async () => decodeProtectedHeader(await session.next()).kid;
    expect(await eventually(kidOfNext, next.kid, PUBLISH_BEFORE_USE_MS + DEADLINE_MS)).toBe(next.kid);
    const signedWithNext = await session.next();
    expect(decodeProtectedHeader(signedWithNext).kid).toBe(next.kid);
    expect(await status(b, signedWithNext)).toBe(200);
    expect(await status(a, signedWithNext)).toBe(200);
    expect(await status(b, session.first)).toBe(200);
  });
});
