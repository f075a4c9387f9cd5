// prisma generate, then make the generated client independent of where the
// repository is checked out: Prisma writes absolute paths into internal/class.ts
// (used only for messages), which would make every clone differ from the commit.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
execFileSync("npx", ["prisma", "generate"], {
  stdio: "inherit",
  cwd: root,
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false",
    PRISMA_QUERY_ENGINE_LIBRARY: "/bin/false",
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
  },
});
const file = `${root}src/generated/prisma/internal/class.ts`;
const text = readFileSync(file, "utf8");
writeFileSync(file, text.split(root).join(""));
