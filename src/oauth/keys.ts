import { createPrivateKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { recordChange, transaction } from "../db/changes.ts";
import type { Db, DbTx } from "../db/index.ts";
import { KeyEncryption, UnknownKeyIdError } from "../lib/key-encryption.ts";
import { OUTLIVES_ACCESS_TOKENS_MS } from "../lib/lifetimes.ts";
import type { Logger } from "../lib/log.ts";

/** access tokens: ES256 (fast to sign, only scopegate verifies them); id_tokens: RS256 (every OIDC client accepts it). */
export const KEY_ALGORITHMS = { access: "ES256", id: "RS256" } as const;
export type KeyUse = keyof typeof KEY_ALGORITHMS;

/**
 * A retired key stays published this long: longer than any token it signed can
 * live (access tokens are capped at a day, id_tokens live an hour).
 */
export const RETIRED_KEY_PUBLISHED_MS = OUTLIVES_ACCESS_TOKENS_MS;

/** The key-encryption label of private signing keys (src/lib/key-encryption.ts); each is sealed with its kid as context. */
export const SIGNING_KEYS_LABEL = "signing-keys";

/** Every change to the set of signing keys takes this lock (in its transaction): one instance at a time. */
const KEYS_LOCK_KEY = 72_707_370; // beside the migrations' 72_707_369

async function lockKeys(tx: DbTx): Promise<void> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${KEYS_LOCK_KEY})`);
}

/** A signing key's private part cannot be opened with KEY_ENCRYPTION_SECRET (or _PREVIOUS). */
export class SigningKeyEncryptionError extends Error {}

function unopenable(kid: string, err: unknown): SigningKeyEncryptionError {
  const why =
    err instanceof UnknownKeyIdError
      ? `it was sealed under another secret (key id ${err.keyId}) than KEY_ENCRYPTION_SECRET or KEY_ENCRYPTION_SECRET_PREVIOUS: set KEY_ENCRYPTION_SECRET_PREVIOUS to the secret it was sealed under`
      : `${(err as Error).message}`;
  return new SigningKeyEncryptionError(`signing key ${kid} cannot be opened: ${why}`);
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** the same private key for node:crypto, which signs ES256 faster than jose's WebCrypto path */
  privateKeyObject: KeyObject;
}

interface LoadedKey {
  kid: string;
  alg: string;
  use: KeyUse;
  createdAt: Date;
  retiredAt: Date | null;
  publicJwk: JWK;
  publicKey: CryptoKey;
  /** the private part, opened only for a key that may still sign */
  signing: SigningKey | null;
  /** why a key that may still sign could not be opened here */
  signingError?: Error;
}

const USES = Object.keys(KEY_ALGORITHMS) as KeyUse[];

/** A new key pair for a use, its private part sealed (never stored in clear). */
async function newKeyRow(use: KeyUse, keyEncryption: KeyEncryption) {
  const alg = KEY_ALGORITHMS[use];
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg,
    use,
    publicJwk: { ...publicJwk, kid, alg, use: "sig" },
    privateJwk: keyEncryption.seal(SIGNING_KEYS_LABEL, JSON.stringify({ ...privateJwk, kid, alg }), kid),
  };
}

/** The private JWK of a stored key: sealed (or, written by a version before sealing, in clear). */
function openPrivateJwk(row: { kid: string; privateJwk: unknown }, keyEncryption: KeyEncryption): JWK {
  if (!KeyEncryption.isEnvelope(row.privateJwk)) return row.privateJwk as JWK;
  try {
    return JSON.parse(keyEncryption.openText(SIGNING_KEYS_LABEL, row.privateJwk, row.kid)) as JWK;
  } catch (err) {
    throw unopenable(row.kid, err);
  }
}

/** Adds a new key for each use; the previous ones are retired (they still verify). */
export async function rotateSigningKeys(db: Db, keyEncryption: KeyEncryption): Promise<string[]> {
  const rows = await Promise.all(USES.map((use) => newKeyRow(use, keyEncryption)));
  await transaction(db, async (tx) => {
    await lockKeys(tx);
    await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: new Date() } });
    for (const row of rows) await tx.signingKey.create({ data: row });
    // Every instance reloads its keys now rather than at its next periodic reload.
    await recordChange(tx, { kind: "keys.changed", subject: "", expiresAt: new Date(Date.now() + RETIRED_KEY_PUBLISHED_MS) });
  });
  return rows.map((r) => r.kid);
}

async function ensureKeys(db: Db, keyEncryption: KeyEncryption): Promise<void> {
  const live = await db.signingKey.groupBy({ by: ["use"], where: { retiredAt: null } });
  if (USES.every((use) => live.some((l) => l.use === use))) return;
  await transaction(db, async (tx) => {
    // Instances starting together on an empty table: the first creates, the others find its keys.
    await lockKeys(tx);
    for (const use of USES) {
      const count = await tx.signingKey.count({ where: { use, retiredAt: null } });
      if (count === 0) await tx.signingKey.create({ data: await newKeyRow(use, keyEncryption) });
    }
  });
}

/**
 * Seals every private key stored in clear (by a version before sealing) or
 * under the previous KEY_ENCRYPTION_SECRET, at start-up: in one transaction,
 * under the keys' lock, so instances starting together do it once, and a
 * crash leaves every key as it was. A key that may still sign must open; one
 * that no longer can is left as it is (its private part is never needed again).
 */
export async function sealStoredKeys(db: Db, keyEncryption: KeyEncryption, logger?: Pick<Logger, "info" | "warn">): Promise<void> {
  const rows = await db.signingKey.findMany({ select: { kid: true, privateJwk: true } });
  if (rows.every((r) => KeyEncryption.isEnvelope(r.privateJwk) && keyEncryption.isCurrent(r.privateJwk))) return;
  const sealed = await transaction(db, async (tx) => {
    await lockKeys(tx);
    const now = Date.now();
    const stored = await tx.signingKey.findMany({ select: { kid: true, privateJwk: true, retiredAt: true } });
    const done: string[] = [];
    for (const row of stored) {
      if (KeyEncryption.isEnvelope(row.privateJwk) && keyEncryption.isCurrent(row.privateJwk)) continue;
      let jwk: JWK;
      try {
        jwk = openPrivateJwk(row, keyEncryption);
      } catch (err) {
        if (row.retiredAt && row.retiredAt.getTime() <= now) {
          logger?.warn({ kid: row.kid }, `a retired signing key was left as it is: ${(err as Error).message}`);
          continue;
        }
        throw err;
      }
      await tx.signingKey.update({
        where: { kid: row.kid },
        data: { privateJwk: keyEncryption.seal(SIGNING_KEYS_LABEL, JSON.stringify(jwk), row.kid) },
      });
      done.push(row.kid);
    }
    return done;
  });
  if (sealed.length)
    logger?.info({ kids: sealed, keyId: keyEncryption.keyId }, "sealed the private signing keys under KEY_ENCRYPTION_SECRET");
}

/** An unknown kid reloads the keys at most this often (a forged kid must not cost a query per request). */
const UNKNOWN_KID_RELOAD_MS = 10_000;

export interface KeyStoreOptions {
  /** seals new private keys and opens stored ones */
  keyEncryption: KeyEncryption;
  logger?: Pick<Logger, "info" | "warn">;
  refreshMs?: number;
}

/**
 * Signing keys live in the database so that every instance and every restart
 * signs and verifies with the same keys. Cached here; reloaded every minute,
 * when the change feed says they changed, and (at most every 10 s) when a
 * token names a kid we have not seen. Private parts are stored sealed
 * (KEY_ENCRYPTION_SECRET) and opened once per key, only for keys that may
 * still sign.
 */
export class KeyStore {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private unknownKidReloadAt = 0;
  private loading: Promise<void> | undefined;
  private readonly keyEncryption: KeyEncryption;
  private readonly logger: Pick<Logger, "info" | "warn"> | undefined;
  private readonly refreshMs: number;

  constructor(
    private readonly db: Db,
    options: KeyStoreOptions,
  ) {
    this.keyEncryption = options.keyEncryption;
    this.logger = options.logger;
    this.refreshMs = options.refreshMs ?? 60_000;
  }

  /** Seals keys stored in clear or under the previous secret, creates the first keys if there are none (start-up). */
  async init(): Promise<void> {
    await sealStoredKeys(this.db, this.keyEncryption, this.logger);
    await ensureKeys(this.db, this.keyEncryption);
    await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.db.signingKey.findMany({ orderBy: { createdAt: "desc" } });
        const known = new Map(this.keys.map((k) => [k.kid, k]));
        this.keys = await Promise.all(
          rows.map(async (r): Promise<LoadedKey> => {
            const before = known.get(r.kid);
            const mayStillSign = !r.retiredAt;
            const base = {
              kid: r.kid,
              alg: r.alg,
              use: r.use as KeyUse,
              createdAt: r.createdAt,
              retiredAt: r.retiredAt,
              publicJwk: r.publicJwk as JWK,
            };
            // Opened once: a private part already in memory is kept (also while the secret is rotated elsewhere).
            if (before) return { ...before, ...base };
            const loaded: LoadedKey = { ...base, publicKey: (await importJWK(base.publicJwk, r.alg)) as CryptoKey, signing: null };
            if (mayStillSign) {
              try {
                loaded.signing = await this.openSigning(r);
              } catch (err) {
                // It still verifies (the public part is in clear); signing with it fails with this reason.
                loaded.signingError = err as Error;
                this.logger?.warn({ kid: r.kid }, (err as Error).message);
              }
            }
            return loaded;
          }),
        );
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private async openSigning(row: { kid: string; alg: string; privateJwk: unknown }): Promise<SigningKey> {
    const jwk = openPrivateJwk(row, this.keyEncryption);
    return {
      kid: row.kid,
      alg: row.alg,
      privateKey: (await importJWK(jwk, row.alg)) as CryptoKey,
      privateKeyObject: createPrivateKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" }),
    };
  }

  /** The keys changed elsewhere: reload before the next use. */
  invalidate(): void {
    this.loadedAt = 0;
  }

  private async fresh(): Promise<LoadedKey[]> {
    if (Date.now() - this.loadedAt > this.refreshMs) await this.reload();
    return this.keys;
  }

  /** The newest live key for a use. */
  async signingKey(use: KeyUse): Promise<SigningKey> {
    let key = (await this.fresh()).find((k) => k.use === use && !k.retiredAt);
    if (!key) {
      await ensureKeys(this.db, this.keyEncryption);
      await this.reload();
      key = this.keys.find((k) => k.use === use && !k.retiredAt);
    }
    if (!key?.signing) throw key?.signingError ?? new Error(`no ${use} signing key`);
    return key.signing;
  }

  /** The key that verifies a token with this kid, if it is still published. */
  async verificationKey(kid: string | undefined, use: KeyUse): Promise<CryptoKey | null> {
    if (!kid) return null;
    let key = (await this.fresh()).find((k) => k.kid === kid);
    if (!key && Date.now() - this.unknownKidReloadAt >= UNKNOWN_KID_RELOAD_MS) {
      this.unknownKidReloadAt = Date.now();
      await this.reload();
      key = this.keys.find((k) => k.kid === kid);
    }
    if (!key || key.use !== use || !isPublished(key)) return null;
    return key.publicKey;
  }

  /** The JWKS document: every key whose tokens may still be live. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.fresh()).filter(isPublished).map((k) => k.publicJwk) };
  }
}

function isPublished(k: { retiredAt: Date | null }): boolean {
  return !k.retiredAt || Date.now() - k.retiredAt.getTime() < RETIRED_KEY_PUBLISHED_MS;
}
