import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirInUseError, startEmbeddedDatabase } from "../../src/db/embedded.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the embedded data folder", () => {
  it("is opened by one process at a time: a second opener is refused with a clear message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "scopegate-lock-"));
    dirs.push(dir);
    // another live process (our parent) holds the lock
    writeFileSync(join(dir, "scopegate.lock"), String(process.ppid));
    await expect(startEmbeddedDatabase({ dataDir: dir })).rejects.toThrow(DataDirInUseError);
    await expect(startEmbeddedDatabase({ dataDir: dir })).rejects.toThrow(/in use by process \d+; stop it first/);
  });

  it("takes over a lock left by a process that died, and releases it on stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "scopegate-lock-"));
    dirs.push(dir);
    writeFileSync(join(dir, "scopegate.lock"), "999999999"); // no such process
    const db = await startEmbeddedDatabase({ dataDir: dir });
    try {
      // held now by this very process: a second open is refused too
      await expect(startEmbeddedDatabase({ dataDir: dir })).rejects.toThrow(DataDirInUseError);
    } finally {
      await db.stop();
    }
    expect(existsSync(join(dir, "scopegate.lock"))).toBe(false);
  });
});
