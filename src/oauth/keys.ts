import { createPrivateKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { recordChange, transaction } from "../db/changes.ts";
import type { Db, DbTx } from "../db/index.ts";
import { KeyEncryption, UnknownKeyIdError } from "../lib/key-encryption.ts";
import type { Logger } from "../lib/log.ts";
import {
  currentKey,
  DEFAULT_ROTATION,
  isPublished,
  mayStillSign,
  RETIRED_KEY_PUBLISHED_MS,
  rotationDue,
  type KeyTimes,
  type RotationSchedule,
} from "./key-schedule.ts";

export { RETIRED_KEY_PUBLISHED_MS };

/** access tokens: ES256 (fast to sign, only scopegate verifies them); id_tokens: RS256 (every OIDC client accepts it). */
export const KEY_ALGORITHMS = { access: "ES256", id: "RS256" } as const;
export type KeyUse = keyof typeof KEY_ALGORITHMS;

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

interface LoadedKey extends KeyTimes {
  kid: string;
  alg: string;
  use: KeyUse;
  publicJwk: JWK;
  publicKey: CryptoKey;
  /** the private part, opened only for a key that may still sign */
  signing: SigningKey | null;
  /** why a key that may still sign could not be opened here */
  signingError?: Error;
}

const USES = Object.keys(KEY_ALGORITHMS) as KeyUse[];

/** A new key pair for a use, its private part sealed (never stored in clear). */
async function newKeyRow(use: KeyUse, keyEncryption: KeyEncryption, createdAt: Date) {
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
    createdAt,
  };
}

const TIMES = { kid: true, use: true, createdAt: true, activatesAt: true, retiredAt: true } as const;

/** The private JWK of a stored key: sealed (or, written by a version before sealing, in clear). */
function openPrivateJwk(row: { kid: string; privateJwk: unknown }, keyEncryption: KeyEncryption): JWK {
  if (!KeyEncryption.isEnvelope(row.privateJwk)) return row.privateJwk as JWK;
  try {
    return JSON.parse(keyEncryption.openText(SIGNING_KEYS_LABEL, row.privateJwk, row.kid)) as JWK;
  } catch (err) {
    throw unopenable(row.kid, err);
  }
}

/**
 * Now, by hand (npm run keys:rotate, a key thought compromised): a new key for
 * each use signs from now on; every key that signs or would sign is retired
 * (they still verify until their tokens expire).
 */
export async function rotateSigningKeys(db: Db, keyEncryption: KeyEncryption, now = Date.now()): Promise<string[]> {
  const rows = await Promise.all(USES.map((use) => newKeyRow(use, keyEncryption, new Date(now))));
  await transaction(db, async (tx) => {
    await lockKeys(tx);
    await tx.signingKey.updateMany({
      where: { OR: [{ retiredAt: null }, { retiredAt: { gt: new Date(now) } }] },
      data: { retiredAt: new Date(now) },
    });
    for (const row of rows) await tx.signingKey.create({ data: row });
    // Every instance reloads its keys now rather than at its next periodic reload.
    await recordChange(tx, { kind: "keys.changed", subject: "", expiresAt: new Date(now + RETIRED_KEY_PUBLISHED_MS) });
  });
  return rows.map((r) => r.kid);
}

/** A key that signs now for each use: created at the first start (or if none is left). */
async function ensureKeys(db: Db, keyEncryption: KeyEncryption, now: number): Promise<void> {
  const missing = (rows: { use: string; createdAt: Date; activatesAt: Date | null; retiredAt: Date | null }[]) =>
    USES.filter(
      (use) =>
        !currentKey(
          rows.filter((r) => r.use === use),
          now,
        ),
    );
  if (missing(await db.signingKey.findMany({ select: TIMES })).length === 0) return;
  await transaction(db, async (tx) => {
    // Instances starting together on an empty table: the first creates, the others find its keys.
    await lockKeys(tx);
    for (const use of missing(await tx.signingKey.findMany({ select: TIMES }))) {
      await tx.signingKey.create({ data: await newKeyRow(use, keyEncryption, new Date(now)) });
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
export async function sealStoredKeys(
  db: Db,
  keyEncryption: KeyEncryption,
  logger?: Pick<Logger, "info" | "warn">,
  now = Date.now(),
): Promise<void> {
  const rows = await db.signingKey.findMany({ select: { kid: true, privateJwk: true } });
  if (rows.every((r) => KeyEncryption.isEnvelope(r.privateJwk) && keyEncryption.isCurrent(r.privateJwk))) return;
  const sealed = await transaction(db, async (tx) => {
    await lockKeys(tx);
    const stored = await tx.signingKey.findMany({ select: { ...TIMES, privateJwk: true } });
    const done: string[] = [];
    for (const row of stored) {
      if (KeyEncryption.isEnvelope(row.privateJwk) && keyEncryption.isCurrent(row.privateJwk)) continue;
      let jwk: JWK;
      try {
        jwk = openPrivateJwk(row, keyEncryption);
      } catch (err) {
        if (!mayStillSign(row, now)) {
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
  /** how often the cached keys are read again, and the rotation checked */
  refreshMs?: number;
  /** automatic rotation (SIGNING_KEY_ROTATE_AFTER, SIGNING_KEY_PUBLISH_BEFORE_USE) */
  schedule?: RotationSchedule;
  /** the clock the schedule and the unknown-kid reload limit are read with (tests move it) */
  now?: () => number;
}

/**
 * Signing keys live in the database so that every instance and every restart
 * signs and verifies with the same keys. Cached here; reloaded every minute,
 * when the change feed says they changed, and (at most every 10 s) when a
 * token names a kid we have not seen. Private parts are stored sealed
 * (KEY_ENCRYPTION_SECRET) and opened once per key, only for keys that may
 * still sign.
 *
 * Rotation (src/oauth/key-schedule.ts): every refreshMs, an instance whose
 * cached keys say the current key has signed for rotateAfterMs creates the
 * next key under the keys' lock (one instance does; the others find it there),
 * published at once and signing publishBeforeUseMs later, and announces it on
 * the change feed so that every instance's JWKS has it within a second.
 */
export class KeyStore {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private unknownKidReloadAt = 0;
  private loading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private rotating: Promise<string[]> | undefined;
  private readonly keyEncryption: KeyEncryption;
  private readonly logger: Pick<Logger, "info" | "warn"> | undefined;
  private readonly refreshMs: number;
  private readonly schedule: RotationSchedule;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    options: KeyStoreOptions,
  ) {
    this.keyEncryption = options.keyEncryption;
    this.logger = options.logger;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.schedule = options.schedule ?? DEFAULT_ROTATION;
    this.now = options.now ?? Date.now;
  }

  /**
   * Start-up: seals keys stored in clear or under the previous secret, creates
   * the first keys if there are none, and the next ones if they are due.
   */
  async init(): Promise<void> {
    await sealStoredKeys(this.db, this.keyEncryption, this.logger, this.now());
    await ensureKeys(this.db, this.keyEncryption, this.now());
    await this.reload();
    await this.rotateIfDue();
  }

  /** Checks the rotation every refreshMs (from the cached keys: no statement unless one is due). */
  start(): void {
    this.timer ??= setInterval(() => {
      this.rotateIfDue().catch((err: Error) => this.logger?.warn({ err: err.message }, "signing key rotation failed; trying again later"));
    }, this.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.rotating?.catch(() => {});
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.db.signingKey.findMany({ orderBy: { createdAt: "desc" } });
        const known = new Map(this.keys.map((k) => [k.kid, k]));
        const now = this.now();
        this.keys = await Promise.all(
          rows.map(async (r): Promise<LoadedKey> => {
            const before = known.get(r.kid);
            const base = {
              kid: r.kid,
              alg: r.alg,
              use: r.use as KeyUse,
              createdAt: r.createdAt,
              activatesAt: r.activatesAt,
              retiredAt: r.retiredAt,
              publicJwk: r.publicJwk as JWK,
            };
            // Opened once: a private part already in memory is kept (also while the secret is rotated elsewhere).
            if (before?.signing) return { ...before, ...base };
            const loaded: LoadedKey = {
              ...base,
              publicKey: before?.publicKey ?? ((await importJWK(base.publicJwk, r.alg)) as CryptoKey),
              signing: null,
            };
            if (mayStillSign(r, now)) {
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

  /**
   * Creates the next key of each use whose current key has signed for
   * rotateAfterMs (none when one is already waiting): published now, signing
   * from now + publishBeforeUseMs, when the current one retires. Returns the
   * new kids (none when nothing was due, or another instance was first).
   */
  rotateIfDue(): Promise<string[]> {
    this.rotating ??= (async () => {
      try {
        return await this.rotateNow();
      } finally {
        this.rotating = undefined;
      }
    })();
    return this.rotating;
  }

  private async rotateNow(): Promise<string[]> {
    const now = this.now();
    const due = USES.filter((use) =>
      rotationDue(
        this.keys.filter((k) => k.use === use),
        now,
        this.schedule,
      ),
    );
    if (due.length === 0) return [];
    // Generated before the lock is taken (an RSA key takes a while); unused if another instance was first.
    const fresh = await Promise.all(due.map((use) => newKeyRow(use, this.keyEncryption, new Date(now))));
    const created = await transaction(this.db, async (tx) => {
      await lockKeys(tx);
      const rows = await tx.signingKey.findMany({ select: TIMES });
      const made: { kid: string; use: string; activatesAt: Date }[] = [];
      for (const row of fresh) {
        const plan = rotationDue(
          rows.filter((r) => r.use === row.use),
          now,
          this.schedule,
        );
        if (!plan) continue;
        await tx.signingKey.update({ where: { kid: plan.current.kid }, data: { retiredAt: plan.activatesAt } });
        await tx.signingKey.create({ data: { ...row, activatesAt: plan.activatesAt } });
        made.push({ kid: row.kid, use: row.use, activatesAt: plan.activatesAt });
      }
      // Every instance reloads now, and so publishes the next key long before it signs.
      if (made.length) await recordChange(tx, { kind: "keys.changed", subject: "", expiresAt: new Date(now + RETIRED_KEY_PUBLISHED_MS) });
      return made;
    });
    this.invalidate();
    await this.reload();
    for (const k of created) {
      this.logger?.info({ kid: k.kid, use: k.use, activatesAt: k.activatesAt.toISOString() }, "published the next signing key");
    }
    return created.map((k) => k.kid);
  }

  /** The key that signs now for a use. */
  async signingKey(use: KeyUse): Promise<SigningKey> {
    const pick = () =>
      currentKey(
        this.keys.filter((k) => k.use === use),
        this.now(),
      );
    await this.fresh();
    let key = pick();
    if (!key) {
      await ensureKeys(this.db, this.keyEncryption, this.now());
      await this.reload();
      key = pick();
    }
    if (!key?.signing) throw key?.signingError ?? new Error(`no ${use} signing key`);
    return key.signing;
  }

  /** The key that verifies a token with this kid, if it is still published. */
  async verificationKey(kid: string | undefined, use: KeyUse): Promise<CryptoKey | null> {
    if (!kid) return null;
    let key = (await this.fresh()).find((k) => k.kid === kid);
    if (!key && this.now() - this.unknownKidReloadAt >= UNKNOWN_KID_RELOAD_MS) {
      this.unknownKidReloadAt = this.now();
      await this.reload();
      key = this.keys.find((k) => k.kid === kid);
    }
    if (!key || key.use !== use || !isPublished(key, this.now())) return null;
    return key.publicKey;
  }

  /** The JWKS document: every key whose tokens may still be live, and the next key before it signs. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.now();
    return { keys: (await this.fresh()).filter((k) => isPublished(k, now)).map((k) => k.publicJwk) };
  }
}
