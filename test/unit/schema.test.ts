// schema.graphql at the repository root is the printed schema (DESIGN.md):
// partners and codegen read it, so it must always match the code.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, firstDifference, ROOT, runNode } from "./support.ts";

describe("schema.graphql", () => {
  it("equals printedSchema(), what `npm run schema` writes", async () => {
    // printedSchema() runs under tsx, exactly as scripts/print-schema.ts does
    // (in-process, Vite's resolver would load a second copy of graphql).
    const current = await runNode(BIN.tsx, [
      "--eval",
      'import { printedSchema } from "./src/graphql/schema.ts"; process.stdout.write(printedSchema());',
    ]);
    expect(current).toContain("type Query {");
    const committed = readFileSync(join(ROOT, "schema.graphql"), "utf8");
    if (committed !== current) {
      expect.fail(
        "schema.graphql is stale: it differs from the schema the code builds. " +
          "Run `npm run schema` (and `npm run codegen`) and commit the result.\n" +
          firstDifference(committed, current, ["schema.graphql", "code"]),
      );
    }
  });
});
