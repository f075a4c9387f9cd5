import { closeSync, lstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { generateKeyEncryptionSecret, KeyEncryption, MIN_SECRET_LENGTH } from "../lib/key-encryption.ts";
import { DataDirPermissionError } from "./embedded.ts";

/** The embedded default's KEY_ENCRYPTION_SECRET, in its data folder. */
export const SECRET_FILE = "key-encryption-secret";

/** KEY_ENCRYPTION_SECRET is missing where it is required, or does not fit the database. */
export class KeyEncryptionSetupError extends Error {}

/**
 * The data folder's key-encryption secret, created on first use (256 random
 * bits, mode 0600). It sits beside what it encrypts, so it protects copies of
 * the database (dumps, a backup of the PGlite files alone) rather than the
 * folder itself, which 0700 guards; KEY_ENCRYPTION_SECRET overrides it. The
 * caller holds the data folder's lock, so no other process creates it at once.
 */
export function dataDirKeyEncryptionSecret(dataDir: string): string {
  const path = join(dataDir, SECRET_FILE);
  try {
    // O_EXCL: never write through a file (or symbolic link) someone put there.
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, `${generateKeyEncryptionSecret()}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const st = lstatSync(path);
  if (!st.isFile()) throw new DataDirPermissionError(`${path} is not a regular file (a symbolic link?): remove it`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirPermissionError(`${path} belongs to user ${st.uid}, not to the user running scopegate (${uid})`);
  }
  if (st.mode & 0o077) {
    throw new DataDirPermissionError(
      `${path} can be read or written by other users (mode 0${(st.mode & 0o777).toString(8)}): run chmod 600 ${path}`,
    );
  }
  const secret = readFileSync(path, "utf8").trim();
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new KeyEncryptionSetupError(
      `${path} holds no usable secret (at least ${MIN_SECRET_LENGTH} characters): restore it from a backup`,
    );
  }
  return secret;
}

export interface KeyEncryptionSettings {
  /** KEY_ENCRYPTION_SECRET */
  secret?: string;
  /** KEY_ENCRYPTION_SECRET_PREVIOUS: still opens what it sealed, while the secret is rotated */
  previousSecret?: string;
}

/**
 * The key encryption for a database: KEY_ENCRYPTION_SECRET when set, else the
 * embedded database's own (its data folder's file; for an in-memory one, a
 * secret that lives as long as the database). PostgreSQL requires the variable.
 */
export function keyEncryptionFor(
  settings: KeyEncryptionSettings,
  db: { kind: "embedded" | "postgres"; defaultKeyEncryptionSecret(): string | null },
): KeyEncryption {
  const secret = settings.secret ?? db.defaultKeyEncryptionSecret();
  if (!secret) {
    throw new KeyEncryptionSetupError(
      "KEY_ENCRYPTION_SECRET must be set with DATABASE_URL: it encrypts the signing keys stored in the database (at least 32 characters, e.g. from `openssl rand -base64 32`)",
    );
  }
  return new KeyEncryption(secret, settings.previousSecret);
}
