// Shared by the "in step" unit tests: run a tool of this project the way its
// npm script does, under the same Node binary that runs the tests.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The JavaScript entry points behind the npm scripts' commands. */
export const BIN = {
  prisma: join(ROOT, "node_modules/prisma/build/index.js"),
  tsx: join(ROOT, "node_modules/tsx/dist/cli.mjs"),
  codegen: join(ROOT, "node_modules/@graphql-codegen/cli/esm/bin.js"),
};

/** What the npm scripts put in front of every Prisma CLI call (see STACK.md). */
export const PRISMA_ENV = {
  PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false",
  PRISMA_QUERY_ENGINE_LIBRARY: "/bin/false",
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
};

/** Runs `node <script> ...args` in the repository root; resolves to stdout, rejects with stderr. */
export function runNode(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: ROOT, env: { ...process.env, ...env, NO_COLOR: "1", FORCE_COLOR: "0" }, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${relative(ROOT, script)} ${args.join(" ")} failed: ${err.message}\n${stderr}\n${stdout}`.trim()));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/** Every file under `dir`, as paths relative to it, sorted; [] when it does not exist. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

/**
 * Compares two folders file by file. Returns one line per difference (missing,
 * extra or changed file, with its first changed line), [] when they are equal.
 * `normalise` rewrites both sides before comparing.
 */
export function compareTrees(committedDir: string, freshDir: string, normalise: (text: string) => string = (t) => t): string[] {
  const committed = listFiles(committedDir);
  const fresh = listFiles(freshDir);
  const problems: string[] = [];
  for (const f of fresh) if (!committed.includes(f)) problems.push(`missing: ${f} (the generator writes it)`);
  for (const f of committed) if (!fresh.includes(f)) problems.push(`extra: ${f} (the generator no longer writes it)`);
  for (const f of fresh) {
    if (!committed.includes(f)) continue;
    const a = normalise(readFileSync(join(committedDir, f), "utf8"));
    const b = normalise(readFileSync(join(freshDir, f), "utf8"));
    if (a !== b) problems.push(`changed: ${f}: ${firstDifference(a, b)}`);
  }
  return problems;
}

/** The first line where `a` (on disk) and `b` (regenerated) differ, cut around the first differing character. */
export function firstDifference(a: string, b: string, names: [string, string] = ["on disk", "regenerated"]): string {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) {
      let at = 0;
      while (x[i] !== undefined && y[i] !== undefined && x[i]![at] === y[i]![at]) at++;
      const from = Math.max(0, at - 40);
      const cut = (s: string | undefined) =>
        s === undefined ? "<end of file>" : (from > 0 ? "…" : "") + JSON.stringify(s.slice(from, from + 120));
      return `line ${i + 1}${from > 0 ? `, column ${at + 1}` : ""}: ${names[0]} ${cut(x[i])}, ${names[1]} ${cut(y[i])}`;
    }
  }
  return "no line differs";
}
