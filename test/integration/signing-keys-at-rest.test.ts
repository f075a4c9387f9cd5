import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import type { Database } from "../../src/db/index.ts";
import { KeyEncryptionSetupError } from "../../src/db/key-encryption-secret.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { createLogger, type Logger } from "../../src/lib/log.ts";
import { KeyStore, SIGNING_KEYS_LABEL, SigningKeyEncryptionError } from "../../src/oauth/keys.ts";
import { startServer } from "../../src/server.ts";
import { closeInstances, openInstances } from "../helpers/db.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";

const SECRET_A = TEST_KEY_ENCRYPTION_SECRET;
const SECRET_B = "the-next-key-encryption-secret-0123456789";
const SECRET_C = "a-key-encryption-secret-nobody-configured-01";

afterEach(closeInstances);

/** A key row as the versions before sealing wrote it: the private JWK in clear. */
async function clearKeyRow(use: "access" | "id", retiredAt: Date | null = null) {
  const alg = use === "access" ? "ES256" : "RS256";
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  return { kid, alg, use, publicJwk: { ...publicJwk, kid, alg, use: "sig" }, privateJwk, retiredAt };
}

function recorder() {
  const lines: { level: string; fields: unknown; msg: string }[] = [];
  const log = (level: string) => (fields: unknown, msg: string) => void lines.push({ level, fields, msg });
  return { lines, logger: { info: log("info"), warn: log("warn") } as unknown as Pick<Logger, "info" | "warn"> };
}

async function privateColumn(db: Database): Promise<{ kid: string; text: string }[]> {
  return db.sql<{ kid: string; text: string }>(`SELECT kid, "privateJwk"::text AS text FROM "SigningKey" ORDER BY kid`);
}

describe("private signing keys at rest", () => {
  it("are stored sealed (AES-256-GCM under KEY_ENCRYPTION_SECRET): the table holds no private key material", async () => {
    const [db] = (await openInstances(1)) as [Database];
    const keyEncryption = new KeyEncryption(SECRET_A);
    const keys = new KeyStore(db.prisma, { keyEncryption });
    await keys.init();
    const rows = await privateColumn(db);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const envelope = JSON.parse(row.text) as string; // a JSON string in the Json column
      expect(KeyEncryption.isEnvelope(envelope)).toBe(true);
      expect(keyEncryption.isCurrent(envelope)).toBe(true);
      expect(row.text).not.toMatch(/"(d|p|q|dp|dq|qi)"/);
      // it opens under its own kid only: an envelope copied onto another row does not
      const jwk = JSON.parse(keyEncryption.openText(SIGNING_KEYS_LABEL, envelope, row.kid)) as JWK;
      expect(jwk.d).toBeTruthy();
      expect(jwk.kid).toBe(row.kid);
      const other = rows.find((r) => r.kid !== row.kid)!;
      expect(() => keyEncryption.open(SIGNING_KEYS_LABEL, envelope, other.kid)).toThrow();
    }
    // and the keys sign
    expect(rows.map((r) => r.kid)).toContain((await keys.signingKey("access")).kid);
  });

  it("stored in clear by an earlier version are sealed at the first start, once, even with several instances starting together", async () => {
    const dbs = await openInstances(3);
    const db = dbs[0]!;
    const access = await clearKeyRow("access");
    const id = await clearKeyRow("id");
    const retired = await clearKeyRow("access", new Date(Date.now() - 3_600_000));
    await db.prisma.signingKey.createMany({ data: [retired, access, id] });

    const keyEncryption = new KeyEncryption(SECRET_A);
    const logs = dbs.map(() => recorder());
    const stores = dbs.map((d, i) => new KeyStore(d.prisma, { keyEncryption, logger: logs[i]!.logger }));
    await Promise.all(stores.map((s) => s.init()));

    // One instance sealed all three (the others found them sealed under the lock).
    const sealedBy = logs.filter((l) => l.lines.some((x) => x.msg === "sealed the private signing keys under KEY_ENCRYPTION_SECRET"));
    expect(sealedBy).toHaveLength(1);
    expect(sealedBy[0]!.lines[0]!.fields).toEqual({
      kids: expect.arrayContaining([access.kid, id.kid, retired.kid]),
      keyId: keyEncryption.keyId,
    });
    const rows = await privateColumn(db);
    expect(rows).toHaveLength(3); // no new key was created: the clear ones were kept
    for (const row of rows) {
      const envelope = JSON.parse(row.text) as string;
      expect(keyEncryption.isCurrent(envelope)).toBe(true);
      const before = [access, id, retired].find((k) => k.kid === row.kid)!;
      expect(JSON.parse(keyEncryption.openText(SIGNING_KEYS_LABEL, envelope, row.kid))).toEqual(before.privateJwk);
    }
    // every instance signs with the key it had before, so tokens signed before the upgrade still verify
    for (const s of stores) {
      expect((await s.signingKey("access")).kid).toBe(access.kid);
      expect((await s.signingKey("id")).kid).toBe(id.kid);
      expect(await s.verificationKey(access.kid, "access")).not.toBeNull();
    }
    // a later start changes nothing
    const again = recorder();
    await new KeyStore(db.prisma, { keyEncryption, logger: again.logger }).init();
    expect(await privateColumn(db)).toEqual(rows);
    expect(again.lines).toEqual([]);
  });

  it("KEY_ENCRYPTION_SECRET_PREVIOUS opens keys while the secret is rotated; they are sealed again under the new secret at start", async () => {
    const [db] = (await openInstances(1)) as [Database];
    await new KeyStore(db.prisma, { keyEncryption: new KeyEncryption(SECRET_A) }).init();
    const underA = await privateColumn(db);
    const accessKid = underA[0]!.kid;

    // A new secret alone cannot open them: refused at start, naming what to set.
    const refused = new KeyStore(db.prisma, { keyEncryption: new KeyEncryption(SECRET_B) }).init();
    await expect(refused).rejects.toBeInstanceOf(SigningKeyEncryptionError);
    await expect(new KeyStore(db.prisma, { keyEncryption: new KeyEncryption(SECRET_B) }).init()).rejects.toThrow(
      new RegExp(
        `^signing key \\S+ cannot be opened: it was sealed under another secret \\(key id ${new KeyEncryption(SECRET_A).keyId}\\) than KEY_ENCRYPTION_SECRET or KEY_ENCRYPTION_SECRET_PREVIOUS: set KEY_ENCRYPTION_SECRET_PREVIOUS to the secret it was sealed under$`,
      ),
    );
    expect(await privateColumn(db)).toEqual(underA); // nothing was changed

    const rotating = new KeyEncryption(SECRET_B, SECRET_A);
    const store = new KeyStore(db.prisma, { keyEncryption: rotating });
    await store.init();
    const underB = await privateColumn(db);
    expect(underB.map((r) => r.kid)).toEqual(underA.map((r) => r.kid));
    for (const row of underB) expect(rotating.isCurrent(JSON.parse(row.text))).toBe(true);
    expect(underB.map((r) => r.text)).not.toEqual(underA.map((r) => r.text));

    // Once every instance has restarted, the previous secret can go.
    const after = new KeyStore(db.prisma, { keyEncryption: new KeyEncryption(SECRET_B) });
    await after.init();
    expect([(await after.signingKey("access")).kid, (await after.signingKey("id")).kid]).toContain(accessKid);
  });

  it("a retired key that no secret opens does not stop a start (its private part is never needed again)", async () => {
    const [db] = (await openInstances(1)) as [Database];
    const lost = await clearKeyRow("access", new Date(Date.now() - 3_600_000));
    const sealedElsewhere = new KeyEncryption(SECRET_C).seal(SIGNING_KEYS_LABEL, JSON.stringify(lost.privateJwk), lost.kid);
    await db.prisma.signingKey.create({ data: { ...lost, privateJwk: sealedElsewhere } });
    const { lines, logger } = recorder();
    const store = new KeyStore(db.prisma, { keyEncryption: new KeyEncryption(SECRET_A), logger });
    await store.init();
    expect(lines).toContainEqual({
      level: "warn",
      fields: { kid: lost.kid },
      msg: expect.stringMatching(
        /^a retired signing key was left as it is: signing key \S+ cannot be opened: it was sealed under another secret/,
      ),
    });
    expect(await store.verificationKey(lost.kid, "access")).not.toBeNull(); // still published: the public part is in clear
    expect((await store.signingKey("access")).kid).not.toBe(lost.kid);
  });

  it("the server needs KEY_ENCRYPTION_SECRET on PostgreSQL; the embedded database brings its own", async () => {
    const [db] = (await openInstances(1)) as [Database];
    const port = await freePort();
    const config = { ...loadConfig({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, SEED_DEMO: "false" }), host: "127.0.0.1" };
    const logger = createLogger("silent", false);
    if (db.kind === "postgres") {
      await expect(startServer(config, logger, { db })).rejects.toThrow(
        new KeyEncryptionSetupError(
          "KEY_ENCRYPTION_SECRET must be set with DATABASE_URL: it encrypts the signing keys stored in the database (at least 32 characters, e.g. from `openssl rand -base64 32`)",
        ),
      );
      expect(await db.prisma.signingKey.count()).toBe(0);
    } else {
      const server = await startServer(config, logger, { db });
      await server.close();
      const [row] = await privateColumn(db);
      // sealed under the in-memory database's own secret
      expect(new KeyEncryption(db.defaultKeyEncryptionSecret()!).isCurrent(JSON.parse(row!.text))).toBe(true);
    }
  });
});
