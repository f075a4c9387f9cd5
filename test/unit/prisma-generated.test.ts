// src/generated (the Prisma client and the Pothos types) is checked in; it must
// be what `npm run generate` makes of the current prisma/schema.prisma.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, compareTrees, listFiles, PRISMA_ENV, ROOT, runNode } from "./support.ts";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "scopegate-generate-")));
const fresh = join(tmp, "src/generated");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Prisma records where it generated the client (absolute paths in
 * internal/class.ts); `npm run generate` strips the checkout's root from them
 * (scripts/generate.mjs). Compare the fresh output the same way.
 */
function withoutCheckoutPath(text: string): string {
  return text
    .replace(/("value": ")(?:[^"]*\/)?(src\/generated\/prisma")/g, "$1$2")
    .replace(/("sourceFilePath": ")(?:[^"]*\/)?(prisma\/schema\.prisma")/g, "$1$2");
}

function report(what: string, problems: string[]): void {
  if (problems.length) {
    expect.fail(
      `${what} is stale: it is not what prisma/schema.prisma generates. ` +
        "Run `npm run generate` and commit src/generated.\n" +
        problems.map((p) => `  ${p}`).join("\n"),
    );
  }
}

beforeAll(async () => {
  // Same layout under a temporary root: the generators' output paths in
  // schema.prisma are relative to it, so they write to <tmp>/src/generated.
  mkdirSync(join(tmp, "prisma"));
  copyFileSync(join(ROOT, "prisma/schema.prisma"), join(tmp, "prisma/schema.prisma"));
  await runNode(BIN.prisma, ["generate", "--schema", join(tmp, "prisma/schema.prisma")], PRISMA_ENV);
}, 120_000);

describe("src/generated", () => {
  it("in the work tree matches `prisma generate` run on prisma/schema.prisma", () => {
    expect(listFiles(fresh)).toContain("pothos-types.ts");
    expect(listFiles(fresh)).toContain("prisma/client.ts");
    report("src/generated", compareTrees(join(ROOT, "src/generated"), fresh, withoutCheckoutPath));
  });

  // `npm ci` regenerates src/generated (postinstall), so on CI the work tree
  // says nothing about what was committed: compare the committed files too.
  it("as committed (HEAD) matches `prisma generate` too", () => {
    expect(existsSync(join(ROOT, ".git")), "this check needs the git repository").toBe(true);
    const committed = join(tmp, "head");
    mkdirSync(committed);
    const archive = execFileSync("git", ["archive", "--format=tar", "HEAD", "src/generated"], {
      cwd: ROOT,
      maxBuffer: 256 * 1024 * 1024,
    });
    execFileSync("tar", ["-x", "-C", committed], { input: archive });
    report("src/generated as committed", compareTrees(join(committed, "src/generated"), fresh, withoutCheckoutPath));
  });
});
