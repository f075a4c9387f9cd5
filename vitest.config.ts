import { createRequire } from "node:module";
import { defineConfig, type ViteUserConfig } from "vitest/config";
import { postgresAnswers } from "./test/helpers/kinds.ts";

// Integration tests run once per database kind: embedded PGlite always, and
// real PostgreSQL whenever it answers (TEST_DATABASES=pglite limits the run).
export default defineConfig(async (): Promise<ViteUserConfig> => {
  const wanted = (process.env.TEST_DATABASES ?? "pglite,postgres").split(",").map((s) => s.trim());
  const kinds = wanted.filter((k) => k === "pglite" || k === "postgres");
  const withPostgres = kinds.includes("postgres") && (await postgresAnswers());
  const databaseKinds = kinds.filter((k) => k === "pglite" || withPostgres);
  process.env.SCOPEGATE_TEST_KINDS = databaseKinds.join(",");
  if (kinds.includes("postgres") && !withPostgres) {
    console.warn("PostgreSQL does not answer on 127.0.0.1:5432: integration tests run on PGlite only");
  }
  return {
    resolve: {
      // Node loads graphql's CommonJS build for the packages (Pothos, Yoga); Vite
      // would hand our own files the .mjs build, and graphql refuses objects
      // from "another realm". One copy for everyone.
      alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve("graphql") }],
    },
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: "forks" as const,
      // Measured on the 2-core machines this runs on. Vitest's default there is
      // one worker (cores - 1), yet much of an integration file is waiting: on
      // child processes, Chromium, PostgreSQL, scrypt's thread pool. Two workers
      // keep both cores busy.
      maxWorkers: 2,
      // A worker keeps its loaded modules from one test file to the next instead
      // of importing src/ (Prisma, Pothos, the schema build) afresh for each
      // file: about a third of the CPU time in the integration projects went
      // there. Each file still starts its own servers on its own database, and
      // no test mocks modules or leaves globals changed.
      isolate: false,
      projects: [
        { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
        ...databaseKinds.map((kind) => ({
          extends: true as const,
          test: {
            name: kind,
            include: ["test/integration/**/*.test.ts"],
            // *.postgres.test.ts need a real server (several instances on one database);
            // *.pglite.test.ts are about the embedded database's own data folder
            exclude: kind === "postgres" ? ["test/integration/**/*.pglite.test.ts"] : ["test/integration/**/*.postgres.test.ts"],
            globalSetup: ["./test/global-setup.ts"],
            env: { TEST_DATABASE: kind },
          },
        })),
      ],
    },
  };
});
