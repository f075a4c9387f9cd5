// Writes prisma/migrations/<timestamp>_<name>/migration.sql: the SQL that takes
// the schema of the last migration to prisma/schema.prisma.
// Usage: npm run migration:new -- <name>
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run migration:new -- <name_in_snake_case>");
  process.exit(1);
}
const migrationsDir = "prisma/migrations";
const snapshot = "prisma/migrations/schema.snapshot.prisma";
const existing = existsSync(migrationsDir)
  ? readdirSync(migrationsDir)
      .filter((d) => /^\d{14}_/.test(d))
      .sort()
  : [];
const from = existing.length && existsSync(snapshot) ? ["--from-schema-datamodel", snapshot] : ["--from-empty"];
if (existing.length && !existsSync(snapshot)) {
  console.error(`${snapshot} is missing: cannot tell what the last migration left`);
  process.exit(1);
}
const sql = execFileSync("npx", ["prisma", "migrate", "diff", ...from, "--to-schema-datamodel", "prisma/schema.prisma", "--script"], {
  encoding: "utf8",
  env: { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1" },
});
if (!sql.trim() || !/CREATE|ALTER|DROP/i.test(sql)) {
  console.error("prisma migrate diff produced no SQL: the schema has not changed (or the diff failed)");
  process.exit(1);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = join(migrationsDir, `${stamp}_${name}`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "migration.sql"), sql);
writeFileSync(snapshot, readFileSync("prisma/schema.prisma", "utf8"));
console.log(`wrote ${dir}/migration.sql`);
