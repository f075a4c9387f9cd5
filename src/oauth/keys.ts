import { createPrivateKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { recordChange, transaction } from "../db/changes.ts";
import type { Db, DbTx } from "../db/index.ts";
import { OUTLIVES_ACCESS_TOKENS_MS } from "../lib/lifetimes.ts";

/** access tokens: ES256 (fast to sign, only scopegate verifies them); id_tokens: RS256 (every OIDC client accepts it). */
export const KEY_ALGORITHMS = { access: "ES256", id: "RS256" } as const;
export type KeyUse = keyof typeof KEY_ALGORITHMS;

/**
 * A retired key stays published this long: longer than any token it signed can
 * live (access tokens are capped at a day, id_tokens live an hour).
 */
export const RETIRED_KEY_PUBLISHED_MS = OUTLIVES_ACCESS_TOKENS_MS;

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** the same private key for node:crypto, which signs ES256 faster than jose's WebCrypto path */
  privateKeyObject: KeyObject;
}

interface LoadedKey extends SigningKey {
  use: KeyUse;
  createdAt: Date;
  retiredAt: Date | null;
  publicJwk: JWK;
  publicKey: CryptoKey;
}

async function newKeyRow(use: KeyUse) {
  const alg = KEY_ALGORITHMS[use];
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg, use, publicJwk: { ...publicJwk, kid, alg, use: "sig" }, privateJwk: { ...privateJwk, kid, alg } };
}

/** Adds a new key for each use; the previous ones are retired (they still verify). */
export async function rotateSigningKeys(db: Db): Promise<string[]> {
  const rows = await Promise.all((Object.keys(KEY_ALGORITHMS) as KeyUse[]).map(newKeyRow));
  await transaction(db, async (tx) => {
    await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: new Date() } });
    for (const row of rows) await tx.signingKey.create({ data: row as never });
    // Every instance reloads its keys now rather than at its next periodic reload.
    await recordChange(tx, { kind: "keys.changed", subject: "", expiresAt: new Date(Date.now() + RETIRED_KEY_PUBLISHED_MS) });
  });
  return rows.map((r) => r.kid);
}

async function ensureKeys(db: DbTx): Promise<void> {
  for (const use of Object.keys(KEY_ALGORITHMS) as KeyUse[]) {
    const live = await db.signingKey.count({ where: { use, retiredAt: null } });
    if (live === 0) await db.signingKey.create({ data: (await newKeyRow(use)) as never });
  }
}

/** An unknown kid reloads the keys at most this often (a forged kid must not cost a query per request). */
const UNKNOWN_KID_RELOAD_MS = 10_000;

/**
 * Signing keys live in the database so that every instance and every restart
 * signs and verifies with the same keys. Cached here; reloaded every minute,
 * when the change feed says they changed, and (at most every 10 s) when a
 * token names a kid we have not seen.
 */
export class KeyStore {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private unknownKidReloadAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly refreshMs = 60_000,
  ) {}

  /** Creates the first keys if there are none (start-up). */
  async init(): Promise<void> {
    await ensureKeys(this.db);
    await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.db.signingKey.findMany({ orderBy: { createdAt: "desc" } });
        this.keys = await Promise.all(
          rows.map(async (r) => ({
            kid: r.kid,
            alg: r.alg,
            use: r.use as KeyUse,
            createdAt: r.createdAt,
            retiredAt: r.retiredAt,
            publicJwk: r.publicJwk as JWK,
            privateKey: (await importJWK(r.privateJwk as JWK, r.alg)) as CryptoKey,
            privateKeyObject: createPrivateKey({ key: r.privateJwk as JWK as import("node:crypto").JsonWebKey, format: "jwk" }),
            publicKey: (await importJWK(r.publicJwk as JWK, r.alg)) as CryptoKey,
          })),
        );
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
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
  async signingKey(use: KeyUse): Promise<LoadedKey> {
    let key = (await this.fresh()).find((k) => k.use === use && !k.retiredAt);
    if (!key) {
      await ensureKeys(this.db);
      await this.reload();
      key = this.keys.find((k) => k.use === use && !k.retiredAt);
    }
    if (!key) throw new Error(`no ${use} signing key`);
    return key;
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
