import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

/** The rules run over a small tree of `files` (path -> source) in a temporary directory instead of src/. */
async function violationsIn(files: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "scopegate-layers-"));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const tsconfig = join(dir, "tsconfig.json");
    writeFileSync(
      tsconfig,
      JSON.stringify({
        compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true },
      }),
    );
    const result: IReporterOutput = await cruise(
      ["src"],
      {
        ...config.options,
        tsConfig: { fileName: tsconfig },
        baseDir: dir,
        ruleSet: { forbidden: config.forbidden },
        validate: true,
      } as never,
      undefined,
      { tsConfig: extractTSConfig(tsconfig) },
    );
    if (typeof result.output === "string") throw new Error("expected the cruise result object");
    return result.output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The application's wiring at the top of src/, as in the real tree: context.ts names the protocol's services.
const wiring = {
  "src/app.ts": 'import type { AppDeps } from "./context.ts";\nexport function createApp(deps: AppDeps) { return deps; }\n',
  "src/request-env.ts": "export type AppEnv = { Variables: { requestId: string } };\n",
  "src/context.ts":
    'import type { KeyStore } from "./oauth/keys.ts";\nexport interface AppDeps { keys: KeyStore }\nexport const WIRED = true;\n',
  "src/oauth/keys.ts": "export class KeyStore {}\n",
  "src/pages/home.ts": 'import type { AppDeps } from "../context.ts";\nexport const home = (deps: AppDeps) => deps;\n',
};

describe("module layer rules", () => {
  it("pass the tree they are shown with: folders that import the listed top-level files as types, none that imports back", async () => {
    expect(
      await violationsIn({
        ...wiring,
        "src/oauth/token.ts": 'import type { AppEnv } from "../request-env.ts";\nexport type E = AppEnv;\n',
      }),
    ).toEqual([]);
  }, 60_000);

  it("report a value import of a top-level file from oauth/ (createApp from app.ts: a cycle oauth -> app.ts -> oauth)", async () => {
    const found = await violationsIn({
      ...wiring,
      "src/oauth/codes.ts": 'import { createApp } from "../app.ts";\nexport const app = createApp;\n',
    });
    expect(found).toContain("top-level-files-as-types-only: src/oauth/codes.ts -> src/app.ts");
    expect(found).toContain("folders-import-only-the-listed-top-level-files: src/oauth/codes.ts -> src/app.ts");
  }, 60_000);

  it("report oauth/ importing context.ts, even as types: context.ts names oauth's services (the folder cycle no-folder-cycles missed)", async () => {
    const found = await violationsIn({
      ...wiring,
      "src/oauth/token.ts": 'import type { AppDeps } from "../context.ts";\nexport const route = (deps: AppDeps) => deps;\n',
    });
    expect(found).toEqual(["only-listed-folders-import-context.ts: src/oauth/token.ts -> src/context.ts"]);
  }, 60_000);

  it("report a value import of context.ts from oauth/ that closes a cycle of modules", async () => {
    const found = await violationsIn({
      ...wiring,
      "src/oauth/keys.ts": 'import { WIRED } from "../context.ts";\nexport class KeyStore { wired = WIRED; }\n',
    });
    expect(found).toContain("top-level-files-as-types-only: src/oauth/keys.ts -> src/context.ts");
    expect(found).toContain("only-listed-folders-import-context.ts: src/oauth/keys.ts -> src/context.ts");
    expect(found).toContain("no-cycles-through-top-level-files: src/context.ts -> src/oauth/keys.ts");
  }, 60_000);

  it("report a type import of an entry point from a surface, a top-level file from a layer below oauth/, and request-env.ts importing from oauth/", async () => {
    const found = await violationsIn({
      ...wiring,
      "src/pages/app-type.ts": 'import type { createApp } from "../app.ts";\nexport type A = typeof createApp;\n',
      "src/accounts/env.ts": 'import type { AppEnv } from "../request-env.ts";\nexport type E = AppEnv;\n',
      "src/request-env.ts": 'import type { KeyStore } from "./oauth/keys.ts";\nexport type AppEnv = { Variables: { keys: KeyStore } };\n',
    });
    expect(found).toContain("folders-import-only-the-listed-top-level-files: src/pages/app-type.ts -> src/app.ts");
    expect(found).toContain("only-listed-folders-import-request-env.ts: src/accounts/env.ts -> src/request-env.ts");
    expect(found).toContain("request-env.ts-imports-none-of-its-importers: src/request-env.ts -> src/oauth/keys.ts");
  }, 60_000);
});
