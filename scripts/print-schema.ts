// npm run schema: rewrites schema.graphql and docs/scopes.md from the code.
import { mkdirSync, writeFileSync } from "node:fs";
import { printedSchema, printedScopesDoc } from "../src/graphql/schema.ts";

writeFileSync(new URL("../schema.graphql", import.meta.url), printedSchema());
mkdirSync(new URL("../docs/", import.meta.url), { recursive: true });
writeFileSync(new URL("../docs/scopes.md", import.meta.url), printedScopesDoc());
console.log("wrote schema.graphql and docs/scopes.md");
