import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Secrets kept at rest in the database (private signing keys; next, webhook
 * signing secrets and connectors' tokens) are sealed with AES-256-GCM under a
 * key derived from one operator secret (KEY_ENCRYPTION_SECRET) with
 * HKDF-SHA256, one key per label: what one feature seals, another cannot open.
 *
 * An envelope is one string, `ke1.<key id>.<iv>.<ciphertext>.<tag>` (the
 * last three base64url): the version says how to read the rest, and the key id
 * names the operator secret it was sealed under, so that while that secret is
 * rotated the previous one still opens what it sealed and the caller can tell
 * what to seal again. The authenticated data binds the version, key id, label
 * and a caller's context (the row the value belongs to, say): an envelope
 * copied to another row or another feature does not open.
 */

export const ENVELOPE_VERSION = "ke1";
/** An operator secret shorter than this is refused: HKDF is no password hash, the secret must carry its own entropy. */
export const MIN_SECRET_LENGTH = 32;

const HKDF_SALT = "scopegate key-encryption v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const LABEL = /^[a-z0-9][a-z0-9-]{0,63}$/;
const ENVELOPE = /^ke1\.([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{22})$/;

export class KeyEncryptionError extends Error {}

/** An envelope sealed under an operator secret that is neither the current one nor the previous one. */
export class UnknownKeyIdError extends KeyEncryptionError {
  constructor(readonly keyId: string) {
    super(`sealed under an unknown secret (key id ${keyId})`);
  }
}

function derive(secret: Buffer, info: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, HKDF_SALT, info, bytes));
}

/** One operator secret: its key id and its per-label keys. */
class OperatorSecret {
  readonly id: string;
  private readonly secret: Buffer;
  private readonly keys = new Map<string, Buffer>();

  constructor(secret: string) {
    this.secret = Buffer.from(secret, "utf8");
    // Derived, so it tells secrets apart without revealing anything about them.
    this.id = derive(this.secret, "key-id", 9).toString("base64url");
  }

  key(label: string): Buffer {
    let key = this.keys.get(label);
    if (!key) {
      key = derive(this.secret, `label:${label}`, 32);
      this.keys.set(label, key);
    }
    return key;
  }
}

function checkLabel(label: string): void {
  if (!LABEL.test(label)) throw new KeyEncryptionError(`invalid label "${label}" (a-z, 0-9 and -)`);
}

function aad(keyId: string, label: string, context: string): Buffer {
  // The label cannot hold a ".", so label and context cannot be confused.
  return Buffer.from(`${ENVELOPE_VERSION}.${keyId}.${label}.${context}`, "utf8");
}

export class KeyEncryption {
  private readonly current: OperatorSecret;
  private readonly previous: OperatorSecret | null;

  /**
   * `secret` seals and opens; `previous` (while the secret is being rotated)
   * only opens. Each at least MIN_SECRET_LENGTH characters.
   */
  constructor(secret: string, previous?: string) {
    for (const s of [secret, previous]) {
      if (s !== undefined && s.length < MIN_SECRET_LENGTH) {
        throw new KeyEncryptionError(`a key-encryption secret must be at least ${MIN_SECRET_LENGTH} characters`);
      }
    }
    this.current = new OperatorSecret(secret);
    const prev = previous === undefined ? null : new OperatorSecret(previous);
    this.previous = prev && prev.id !== this.current.id ? prev : null;
  }

  /** The key id of the current secret (what seal() writes into envelopes). */
  get keyId(): string {
    return this.current.id;
  }

  /**
   * How every envelope sealed under the current secret begins: a query can
   * pick out the rows sealed under another one without reading the rest.
   */
  get currentPrefix(): string {
    return `${ENVELOPE_VERSION}.${this.current.id}.`;
  }

  /** True when `value` has the shape of an envelope (of any version this code reads). */
  static isEnvelope(value: unknown): value is string {
    return typeof value === "string" && ENVELOPE.test(value);
  }

  /** The key id an envelope names, or null when it is not an envelope. */
  static keyIdOf(envelope: string): string | null {
    return ENVELOPE.exec(envelope)?.[1] ?? null;
  }

  /** True when the envelope was sealed under the current secret: nothing to seal again. */
  isCurrent(envelope: string): boolean {
    return KeyEncryption.keyIdOf(envelope) === this.current.id;
  }

  seal(label: string, plaintext: string | Uint8Array, context = ""): string {
    checkLabel(label);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.current.key(label), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(this.current.id, label, context));
    const data = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const parts = [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64url"));
    return [ENVELOPE_VERSION, this.current.id, ...parts].join(".");
  }

  /** The sealed bytes; throws KeyEncryptionError (UnknownKeyIdError for a secret we don't hold) when it does not open. */
  open(label: string, envelope: string, context = ""): Buffer {
    checkLabel(label);
    const m = ENVELOPE.exec(envelope);
    if (!m) throw new KeyEncryptionError("not a sealed value (expected ke1.<key id>.<iv>.<ciphertext>.<tag>)");
    const [, keyId, iv, ciphertext, tag] = m as unknown as [string, string, string, string, string];
    const secret = [this.current, this.previous].find((s) => s?.id === keyId);
    if (!secret) throw new UnknownKeyIdError(keyId);
    const decipher = createDecipheriv("aes-256-gcm", secret.key(label), Buffer.from(iv, "base64url"), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(keyId, label, context));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]);
    } catch {
      throw new KeyEncryptionError("the sealed value does not open: it was changed, or belongs to another label or row");
    }
  }

  openText(label: string, envelope: string, context = ""): string {
    return this.open(label, envelope, context).toString("utf8");
  }

  /** The value sealed under the current secret: `envelope` itself when it already is. */
  reseal(label: string, envelope: string, context = ""): string {
    return this.isCurrent(envelope) ? envelope : this.seal(label, this.open(label, envelope, context), context);
  }
}

/** A new operator secret: 256 random bits, base64url (43 characters). */
export function generateKeyEncryptionSecret(): string {
  return randomBytes(32).toString("base64url");
}
