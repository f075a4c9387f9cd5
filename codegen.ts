// GraphQL codegen: typed documents for the operations the tests send.
// `npm run codegen` reads schema.graphql (written by `npm run schema`) and
// test/graphql/**/*.graphql and writes test/generated/gql/, which is checked in;
// test/unit/codegen.test.ts fails when that output is stale.
import type { CodegenConfig } from "@graphql-codegen/cli";

/**
 * Where the typed documents go. test/unit/codegen.test.ts sets
 * SCOPEGATE_CODEGEN_OUTPUT to a temporary folder to regenerate them for comparison.
 */
const output = process.env.SCOPEGATE_CODEGEN_OUTPUT || "test/generated/gql/";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["test/graphql/**/*.graphql"],
  // No documents is a mistake here, not something to shrug off.
  ignoreNoDocuments: false,
  // Relative imports carry .ts, like the rest of the code (NodeNext + allowImportingTsExtensions).
  importExtension: ".ts",
  generates: {
    [output.endsWith("/") ? output : `${output}/`]: {
      preset: "client",
      presetConfig: {
        // Tests read fields directly; no fragment masking helpers to unwrap.
        fragmentMasking: false,
      },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: "string" },
      },
    },
  },
};

export default config;
