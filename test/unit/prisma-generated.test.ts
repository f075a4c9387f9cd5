// src/generated (the Prisma client and the Pothos types) is checked in; it must
// be what `npm run generate` makes of the current prisma/schema.prisma.
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, compareTrees, listFiles, PRISMA_ENV, ROOT, runNode } from "./support.ts";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "scopegate-generate-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("src/generated", () => {
  it("matches `prisma generate` run on prisma/schema.prisma", async () => {
    // Same layout under a temporary root: the generators' output paths in
    // schema.prisma are relative to it, so they write to <tmp>/src/generated.
    mkdirSync(join(tmp, "prisma"));
    copyFileSync(join(ROOT, "prisma/schema.prisma"), join(tmp, "prisma/schema.prisma"));
    await runNode(BIN.prisma, ["generate", "--schema", join(tmp, "prisma/schema.prisma")], PRISMA_ENV);

    const fresh = join(tmp, "src/generated");
    expect(listFiles(fresh)).toContain("pothos-types.ts");
    expect(listFiles(fresh)).toContain("prisma/client.ts");

    // The client records where it was generated (absolute paths in
    // internal/class.ts): read the temporary root as this checkout's root.
    const root = ROOT.replace(/\/$/, "");
    const problems = compareTrees(join(ROOT, "src/generated"), fresh, (text) => text.split(tmp).join(root));
    if (problems.length) {
      expect.fail(
        "src/generated is stale: it is not what prisma/schema.prisma generates. " +
          "Run `npm run generate` and commit src/generated.\n" +
          problems.map((p) => `  ${p}`).join("\n"),
      );
    }
  });
});
