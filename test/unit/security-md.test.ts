/**
 * SECURITY.md's citations hold: every test it names as proof (a test file in
 * backticks, then the titles in double quotes that follow it in the same
 * table cell) is a describe or test title in that file, and every source or
 * test path it names in backticks exists. A renamed test, a moved module or a
 * deleted file fails `npm test` instead of leaving the page citing something
 * that no longer proves anything.
 *
 * Titles are read from the test files' syntax (TypeScript's parser), not run:
 * the first argument of it/test/describe (and their .each, .skipIf, ...
 * forms). A title written as a template literal is cited as written
 * (`holds ${AUDIT_BUFFER_MAX} events by default`) or as it runs; an it.each
 * title is cited as its template ("refuses $what ...", "%s: 400 %s") or as
 * one of its cases ("refuses a common password ...").
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TEST_FUNCTIONS = new Set(["it", "test", "describe", "suite"]);

interface Title {
  /** the title as written in the source (a template literal without its backquotes) */
  text: string;
  /** written as a template literal with ${...} */
  template: boolean;
  /** an .each/.for title: $name and %s placeholders are filled in per case */
  each: boolean;
}

interface Citation {
  file: string;
  title: string;
  line: number;
}

/** Whether a call's callee is it/test/describe, possibly as it.each(...), it.skipIf(...), describe.concurrent; and whether it is an .each. */
function testCallee(callee: ts.Expression): { each: boolean } | null {
  let each = false;
  let e = callee;
  for (;;) {
    if (ts.isIdentifier(e)) return TEST_FUNCTIONS.has(e.text) ? { each } : null;
    if (ts.isPropertyAccessExpression(e)) {
      if (e.name.text === "each" || e.name.text === "for") each = true;
      e = e.expression;
    } else if (ts.isCallExpression(e)) {
      e = e.expression;
    } else {
      return null;
    }
  }
}

/** Every describe and test title in a test file's source. */
function titlesIn(source: string, fileName = "test.ts"): Title[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const titles: Title[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const callee = testCallee(node.expression);
      const first = node.arguments[0]!;
      if (callee) {
        if (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first)) {
          titles.push({ text: first.text, template: false, each: callee.each });
        } else if (ts.isTemplateExpression(first)) {
          titles.push({ text: first.getText(file).slice(1, -1), template: true, each: callee.each });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return titles;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether a cited title is this title: exactly as written, or with its placeholders filled in. */
function citesTitle(title: Title, cited: string): boolean {
  if (title.text === cited) return true;
  const placeholders: string[] = [];
  if (title.template) placeholders.push(String.raw`\$\{[^}]*\}`);
  // Vitest's each formats: $name (and $name.path) for objects, printf-style %s %d %i %f %j %o %p %c %# for arrays.
  if (title.each) placeholders.push(String.raw`\$[A-Za-z_][\w.]*`, "%[sdifjopc#]");
  if (placeholders.length === 0) return false;
  let pattern = "";
  let last = 0;
  for (const m of title.text.matchAll(new RegExp(placeholders.join("|"), "g"))) {
    pattern += `${escapeRegExp(title.text.slice(last, m.index))}[\\s\\S]+`;
    last = m.index + m[0].length;
  }
  pattern += escapeRegExp(title.text.slice(last));
  if (title.each) pattern = pattern.replaceAll("%%", "%");
  return new RegExp(`^${pattern}$`).test(cited);
}

/**
 * The (test file, title) pairs of a Markdown page: on each line, a test file
 * in backticks is followed by the quoted titles up to the next test file.
 * Code spans in between (`-t "..."` examples) are not titles.
 */
function citationsIn(markdown: string): Citation[] {
  const citations: Citation[] = [];
  for (const [i, line] of markdown.split("\n").entries()) {
    const files = [...line.matchAll(/`(test\/[^`\s]+\.test\.ts)`/g)];
    files.forEach((f, k) => {
      const end = files[k + 1]?.index ?? line.length;
      const cell = line.slice(f.index + f[0].length, end).replace(/(`+)[\s\S]*?\1/g, "");
      for (const q of cell.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
        // Markdown escapes (a table cell's \|) are not part of the title.
        citations.push({ file: f[1]!, title: q[1]!.replace(/\\([\\`*_{}[\]()#+\-.!|])/g, "$1"), line: i + 1 });
      }
    });
  }
  return citations;
}

/** The repository paths a Markdown page names in backticks (src/..., test/..., bench/..., scripts/...). */
function pathsIn(markdown: string): { path: string; line: number }[] {
  return markdown
    .split("\n")
    .flatMap((line, i) => [...line.matchAll(/`((?:src|test|bench|scripts)\/[^`\s]*)`/g)].map((m) => ({ path: m[1]!, line: i + 1 })));
}

const SECURITY_MD = readFileSync(join(ROOT, "SECURITY.md"), "utf8");

describe("SECURITY.md", () => {
  const citations = citationsIn(SECURITY_MD);

  it("cites tests as proof (the reader finds them)", () => {
    expect(citations.length).toBeGreaterThan(100);
    expect(new Set(citations.map((c) => c.file)).size).toBeGreaterThan(30);
  });

  it("cites only titles that are in their test file", () => {
    const titles = new Map<string, Title[] | null>();
    const stale: string[] = [];
    for (const c of citations) {
      if (!titles.has(c.file)) {
        const path = join(ROOT, c.file);
        titles.set(c.file, existsSync(path) ? titlesIn(readFileSync(path, "utf8"), path) : null);
      }
      const inFile = titles.get(c.file);
      if (inFile === null) stale.push(`line ${c.line}: ${c.file} does not exist`);
      else if (!inFile?.some((t) => citesTitle(t, c.title))) stale.push(`line ${c.line}: ${c.file} has no test "${c.title}"`);
    }
    expect(stale).toEqual([]);
  });

  it("names only source and test paths that exist", () => {
    const missing = pathsIn(SECURITY_MD)
      .filter((p) => !existsSync(join(ROOT, p.path)))
      .map((p) => `line ${p.line}: ${p.path}`);
    expect(missing).toEqual([]);
  });
});

describe("the citation check itself", () => {
  const source = `
    describe("outer block", () => {
      it("a plain title", () => {});
      it.each([["a common password", {}]])("refuses $what with a clear message", () => {});
      it.each([["x"]])("%s: 400 %s", () => {});
      it(\`holds \${MAX} events by default\`, () => {});
      it.skipIf(process.platform !== "linux")("runs on Linux only", () => {});
      it(
        "a title biome wrapped onto its own line",
        () => {},
      );
    });
    helper("not a test title");
  `;
  const titles = titlesIn(source);
  const cites = (cited: string) => titles.some((t) => citesTitle(t, cited));

  it("reads describe, it, it.each, it.skipIf and template titles, and nothing else", () => {
    expect(titles.map((t) => t.text)).toEqual([
      "outer block",
      "a plain title",
      "refuses $what with a clear message",
      "%s: 400 %s",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the title as written in the source
      "holds ${MAX} events by default",
      "runs on Linux only",
      "a title biome wrapped onto its own line",
    ]);
  });

  it("accepts exact titles, each templates as written or filled in, and template literals as written or run", () => {
    for (const ok of [
      "outer block",
      "a plain title",
      "refuses $what with a clear message",
      "refuses a common password with a clear message",
      "no redirect_uris: 400 invalid_client_metadata",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the title as written in the source
      "holds ${MAX} events by default",
      "holds 20000 events by default",
      "a title biome wrapped onto its own line",
    ]) {
      expect(cites(ok), ok).toBe(true);
    }
  });

  it("refuses near misses: a shortened or changed title, a placeholder outside an each, a quoted helper argument", () => {
    for (const bad of ["a plain", "a plain title!", "refuses with a clear message", "runs on $os only", "not a test title", "a title"]) {
      expect(cites(bad), bad).toBe(false);
    }
  });

  it("takes titles from the cell after their file, skipping code spans, and unescapes Markdown", () => {
    const md = [
      '| x | `test/unit/a.test.ts`: "first"; "second". `test/unit/b.test.ts` (describe): "third \\| pipe" (`-t "not a title"`) |',
      'Prose with "a quote" and no test file.',
    ].join("\n");
    expect(citationsIn(md)).toEqual([
      { file: "test/unit/a.test.ts", title: "first", line: 1 },
      { file: "test/unit/a.test.ts", title: "second", line: 1 },
      { file: "test/unit/b.test.ts", title: "third | pipe", line: 1 },
    ]);
  });
});
