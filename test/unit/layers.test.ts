import { createRequire } from "node:module";
import { cruise, type IReporterOutput } from "dependency-cruiser";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { describe, expect, it } from "vitest";

// Imports point down (issue 11 item 1, DESIGN.md "Layout"): the rules of
// .dependency-cruiser.cjs, checked here too so that `npm test` fails on an
// import that points up, not only `npm run lint:deps` in CI.

const require = createRequire(import.meta.url);
const config = require("../../.dependency-cruiser.cjs") as { forbidden: unknown[]; options: Record<string, unknown> };

async function violations(): Promise<string[]> {
  const result: IReporterOutput = await cruise(
    ["src"],
    { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true } as never,
    undefined,
    { tsConfig: extractTSConfig("tsconfig.json") },
  );
  if (typeof result.output === "string") throw new Error("expected the cruise result object");
  return result.output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
}

describe("module layers", () => {
  it("no import in src/ points up a layer, and no two folders import each other", async () => {
    expect(await violations()).toEqual([]);
  }, 60_000);
});
