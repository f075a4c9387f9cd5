import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirPermissionError } from "../../src/db/embedded.ts";
import { dataDirKeyEncryptionSecret, KeyEncryptionSetupError, keyEncryptionFor } from "../../src/db/key-encryption-secret.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "scopegate-kes-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the embedded data folder's key-encryption secret", () => {
  it("is generated at first use (256 random bits, mode 0600) and read back afterwards", () => {
    const dir = tempDir();
    const secret = dataDirKeyEncryptionSecret(dir);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const path = join(dir, "key-encryption-secret");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toBe(`${secret}\n`);
    expect(dataDirKeyEncryptionSecret(dir)).toBe(secret);
    expect(dataDirKeyEncryptionSecret(tempDir())).not.toBe(secret);
  });

  it("is refused when others may read it, when it is a symbolic link, or when it holds no usable secret", () => {
    const dir = tempDir();
    const path = join(dir, "key-encryption-secret");
    dataDirKeyEncryptionSecret(dir);
    chmodSync(path, 0o640);
    expect(() => dataDirKeyEncryptionSecret(dir)).toThrow(
      new DataDirPermissionError(`${path} can be read or written by other users (mode 0640): run chmod 600 ${path}`),
    );

    const linked = tempDir();
    writeFileSync(join(linked, "elsewhere"), "x".repeat(43), { mode: 0o600 });
    symlinkSync(join(linked, "elsewhere"), join(linked, "key-encryption-secret"));
    expect(() => dataDirKeyEncryptionSecret(linked)).toThrow(/is not a regular file \(a symbolic link\?\): remove it$/);

    const truncated = tempDir();
    writeFileSync(join(truncated, "key-encryption-secret"), "\n", { mode: 0o600 });
    expect(() => dataDirKeyEncryptionSecret(truncated)).toThrow(KeyEncryptionSetupError);
  });

  it("KEY_ENCRYPTION_SECRET takes precedence; without it PostgreSQL is refused and the embedded database uses its own", () => {
    const configured = "a-configured-key-encryption-secret-0123456789";
    const embedded = { kind: "embedded" as const, defaultKeyEncryptionSecret: () => "the-data-folder-secret-0123456789abcdef" };
    const postgres = { kind: "postgres" as const, defaultKeyEncryptionSecret: () => null };
    expect(keyEncryptionFor({ secret: configured }, embedded).keyId).toBe(new KeyEncryption(configured).keyId);
    expect(keyEncryptionFor({}, embedded).keyId).toBe(new KeyEncryption("the-data-folder-secret-0123456789abcdef").keyId);
    expect(keyEncryptionFor({ secret: configured }, postgres).keyId).toBe(new KeyEncryption(configured).keyId);
    expect(() => keyEncryptionFor({}, postgres)).toThrow(/^KEY_ENCRYPTION_SECRET must be set with DATABASE_URL/);
    // the previous secret opens what it sealed
    const old = new KeyEncryption(configured).seal("signing-keys", "v");
    expect(
      keyEncryptionFor({ secret: "the-next-secret-0123456789abcdefghij", previousSecret: configured }, postgres).openText(
        "signing-keys",
        old,
      ),
    ).toBe("v");
  });
});
