import { createDecipheriv, hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  generateKeyEncryptionSecret,
  KeyEncryption,
  KeyEncryptionError,
  MIN_SECRET_LENGTH,
  UnknownKeyIdError,
} from "../../src/lib/key-encryption.ts";

const A = `${"a".repeat(16)}-secret-number-one-0123456789`;
const B = `${"b".repeat(16)}-secret-number-two-0123456789`;
const C = `${"c".repeat(16)}-secret-number-three-01234567`;

describe("key encryption (AES-256-GCM under HKDF-SHA256 keys per label)", () => {
  it("seals into a versioned envelope naming the secret's key id, and opens it again", () => {
    const ke = new KeyEncryption(A);
    const sealed = ke.seal("signing-keys", '{"d":"private"}', "kid-1");
    expect(sealed).toMatch(/^ke1\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(sealed.split(".")[1]).toBe(ke.keyId);
    expect(sealed).not.toContain("private");
    expect(KeyEncryption.isEnvelope(sealed)).toBe(true);
    expect(KeyEncryption.keyIdOf(sealed)).toBe(ke.keyId);
    expect(ke.openText("signing-keys", sealed, "kid-1")).toBe('{"d":"private"}');
    // a fresh IV each time
    expect(ke.seal("signing-keys", "x")).not.toBe(ke.seal("signing-keys", "x"));
    // an empty value and binary values survive
    expect(ke.open("webhooks", ke.seal("webhooks", "")).length).toBe(0);
    const bytes = Uint8Array.from([0, 255, 1, 254]);
    expect([...ke.open("webhooks", ke.seal("webhooks", bytes))]).toEqual([...bytes]);
  });

  it("is AES-256-GCM with the key HKDF-SHA256 derives for the label, and the version, key id, label and context as authenticated data", () => {
    const ke = new KeyEncryption(A);
    const sealed = ke.seal("connectors", "hello", "row-7");
    const [, keyId, iv, ct, tag] = sealed.split(".") as [string, string, string, string, string];
    const key = Buffer.from(hkdfSync("sha256", Buffer.from(A), "scopegate key-encryption v1", "label:connectors", 32));
    const d = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    d.setAAD(Buffer.from(`ke1.${keyId}.connectors.row-7`));
    d.setAuthTag(Buffer.from(tag, "base64url"));
    expect(Buffer.concat([d.update(Buffer.from(ct, "base64url")), d.final()]).toString()).toBe("hello");
    expect(keyId).toBe(Buffer.from(hkdfSync("sha256", Buffer.from(A), "scopegate key-encryption v1", "key-id", 9)).toString("base64url"));
  });

  it("refuses to open under another label, another context, or once any part was changed", () => {
    const ke = new KeyEncryption(A);
    const sealed = ke.seal("signing-keys", "secret value", "kid-1");
    expect(() => ke.open("webhooks", sealed, "kid-1")).toThrow(KeyEncryptionError);
    expect(() => ke.open("signing-keys", sealed, "kid-2")).toThrow(KeyEncryptionError);
    expect(() => ke.open("signing-keys", sealed)).toThrow(KeyEncryptionError);
    const parts = sealed.split(".");
    for (let i = 2; i < parts.length; i++) {
      const p = parts[i]!;
      const flipped = (p[0] === "A" ? "B" : "A") + p.slice(1);
      const changed = [...parts.slice(0, i), flipped, ...parts.slice(i + 1)].join(".");
      expect(() => ke.open("signing-keys", changed, "kid-1")).toThrow(
        "the sealed value does not open: it was changed, or belongs to another label or row",
      );
    }
    for (const notSealed of ["", "ke1", '{"d":"x"}', sealed.replace(/^ke1/, "ke2"), `${sealed}.x`]) {
      expect(KeyEncryption.isEnvelope(notSealed)).toBe(false);
      expect(() => ke.open("signing-keys", notSealed, "kid-1")).toThrow(/^not a sealed value/);
    }
    expect(() => ke.seal("Signing.Keys", "x")).toThrow(/invalid label/);
  });

  it("opens with the previous secret while the secret is rotated, and says what to seal again", () => {
    const old = new KeyEncryption(A);
    const sealedOld = old.seal("signing-keys", "value", "k");
    const rotating = new KeyEncryption(B, A);
    expect(rotating.keyId).not.toBe(old.keyId);
    expect(rotating.isCurrent(sealedOld)).toBe(false);
    expect(rotating.openText("signing-keys", sealedOld, "k")).toBe("value");
    const resealed = rotating.reseal("signing-keys", sealedOld, "k");
    expect(rotating.isCurrent(resealed)).toBe(true);
    expect(rotating.reseal("signing-keys", resealed, "k")).toBe(resealed); // nothing to do
    // once the previous secret is gone, only the re-sealed value opens
    const after = new KeyEncryption(B);
    expect(after.openText("signing-keys", resealed, "k")).toBe("value");
    expect(() => after.open("signing-keys", sealedOld, "k")).toThrow(UnknownKeyIdError);
    expect(() => new KeyEncryption(C, B).open("signing-keys", sealedOld, "k")).toThrow(new UnknownKeyIdError(old.keyId).message);
    // new values are sealed under the current secret only
    expect(rotating.seal("x", "y").split(".")[1]).toBe(after.keyId);
  });

  it("refuses secrets shorter than 32 characters; generated ones carry 256 bits", () => {
    expect(MIN_SECRET_LENGTH).toBe(32);
    expect(() => new KeyEncryption("x".repeat(31))).toThrow(KeyEncryptionError);
    expect(() => new KeyEncryption(A, "short")).toThrow(/at least 32 characters/);
    const g = generateKeyEncryptionSecret();
    expect(g).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateKeyEncryptionSecret()).not.toBe(g);
    expect(new KeyEncryption(g).keyId).not.toBe(new KeyEncryption(A).keyId);
  });
});
