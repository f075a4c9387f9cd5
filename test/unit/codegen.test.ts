// test/generated/gql (the typed documents the tests use) is checked in; it must
// be what `npm run codegen` makes of schema.graphql and test/graphql/**/*.graphql.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, compareTrees, listFiles, ROOT, runNode } from "./support.ts";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "scopegate-codegen-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("test/generated/gql", () => {
  it("matches `npm run codegen` (graphql-codegen --config codegen.ts)", async () => {
    const fresh = join(tmp, "gql");
    await runNode(BIN.codegen, ["--config", "codegen.ts"], { SCOPEGATE_CODEGEN_OUTPUT: fresh });

    expect(listFiles(fresh)).toEqual(expect.arrayContaining(["gql.ts", "graphql.ts", "index.ts"]));
    const problems = compareTrees(join(ROOT, "test/generated/gql"), fresh);
    if (problems.length) {
      expect.fail(
        "test/generated/gql is stale: it is not what codegen makes of schema.graphql and test/graphql/**/*.graphql. " +
          "Run `npm run codegen` and commit test/generated/gql.\n" +
          problems.map((p) => `  ${p}`).join("\n"),
      );
    }
  });

  it("is generated twice the same way", async () => {
    const again = join(tmp, "again");
    await runNode(BIN.codegen, ["--config", "codegen.ts"], { SCOPEGATE_CODEGEN_OUTPUT: again });
    expect(compareTrees(join(tmp, "gql"), again)).toEqual([]);
  });
});
