/**
 * The documentation's links hold: every relative link in README.md,
 * docs/*.md (and SECURITY.md and the example's and the benchmark's READMEs) points to a file or folder that exists, and a link with an anchor
 * into a Markdown file names one of its headings (GitHub's anchors); and
 * docs/README.md, the index, lists every page in docs/. Links in code blocks
 * and code spans are examples, not links, and absolute URLs are not fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCS = join(ROOT, "docs");
/** README.md and docs/, plus the other pages they send partners to. */
const PAGES = [
  ...["README.md", "SECURITY.md", "examples/partner-app/README.md", "bench/README.md"].map((f) => join(ROOT, f)),
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(DOCS, f)),
];

/** The text with fenced code blocks blanked out (line numbers kept). */
function withoutCodeBlocks(markdown: string): string {
  let fence: string | null = null;
  return markdown
    .split("\n")
    .map((line) => {
      const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
      if (fence === null && m) {
        fence = m[1]!;
        return "";
      }
      if (fence !== null) {
        if (m && m[1]!.startsWith(fence[0]!) && m[1]!.length >= fence.length && line.trim() === m[1]) fence = null;
        return "";
      }
      return line;
    })
    .join("\n");
}

/** A line with its code spans removed. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)[\s\S]*?\1/g, "");
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/[*`]/g, "") // emphasis and code marks
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors a Markdown file has: one per heading (repeats get -1, -2, ...), and explicit id/name attributes. */
function anchorsOf(file: string): Set<string> {
  const cached = anchorCache.get(file);
  if (cached) return cached;
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const text = withoutCodeBlocks(readFileSync(file, "utf8"));
  for (const line of text.split("\n")) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = slug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Every link target outside code in `markdown` (the text of `file`): inline links and images, reference definitions, and HTML href/src. */
function linksIn(markdown: string, file: string): Link[] {
  const links: Link[] = [];
  withoutCodeBlocks(markdown)
    .split("\n")
    .forEach((raw, i) => {
      const line = withoutCodeSpans(raw);
      const targets = [
        ...[...line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
        ...[...line.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/g)].map((m) => m[1]!),
        ...[...line.matchAll(/\b(?:href|src)="([^"]*)"/g)].map((m) => m[1]!),
      ];
      for (const target of targets) links.push({ file, line: i + 1, target });
    });
  return links;
}

function linksOf(file: string): Link[] {
  return linksIn(readFileSync(file, "utf8"), file);
}

/** Why a link points to nothing, or null when it holds. Absolute URLs (any scheme) are not checked. */
function problem(link: Link): string | null {
  const { target } = link;
  if (target === "") return "an empty link";
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return null;
  const hash = target.indexOf("#");
  const path = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
  const file = path === "" ? link.file : resolve(dirname(link.file), path);
  if (!file.startsWith(ROOT)) return "points outside the repository";
  if (!existsSync(file)) return `${relative(ROOT, file)} does not exist`;
  if (anchor !== null) {
    if (!statSync(file).isFile() || !file.endsWith(".md")) return "an anchor into something that is not a Markdown file";
    if (!anchorsOf(file).has(anchor)) return `${relative(ROOT, file)} has no heading with the anchor #${anchor}`;
  }
  return null;
}

describe("documentation links", () => {
  it("finds the pages and their links (the walk itself works)", () => {
    expect(PAGES.map((p) => relative(ROOT, p))).toContain("docs/README.md");
    const all = PAGES.flatMap(linksOf);
    expect(all.length).toBeGreaterThan(100);
    expect(all.some((l) => l.target.includes("#"))).toBe(true);
  });

  it("reports a missing file, a missing heading and a bad anchor, and leaves code and absolute URLs alone", () => {
    const from = join(DOCS, "README.md");
    const at = (target: string) => problem({ file: from, line: 1, target });
    expect(at("no-such-page.md")).toBe("docs/no-such-page.md does not exist");
    expect(at("tokens.md#no-such-heading")).toBe("docs/tokens.md has no heading with the anchor #no-such-heading");
    expect(at("#nowhere")).toBe("docs/README.md has no heading with the anchor #nowhere");
    expect(at("../package.json#name")).toBe("an anchor into something that is not a Markdown file");
    expect(at("../../elsewhere.md")).toBe("points outside the repository");
    for (const fine of [
      "tokens.md#refresh-tokens",
      "../SECURITY.md#reporting-a-vulnerability",
      "#at-a-glance",
      "../examples/partner-app",
      "https://example.com/x",
    ]) {
      expect(at(fine), fine).toBeNull();
    }
    const text = '```sh\n[a](fenced.md)\n```\nsee `[b](span.md)` and [c](real.md), <a href="html.md">d</a>\n[e]: reference.md';
    expect(linksIn(text, from).map((l) => l.target)).toEqual(["real.md", "html.md", "reference.md"]);
  });

  it("computes GitHub's anchors", () => {
    expect(slug("13. client_credentials: a client's own data")).toBe("13-client_credentials-a-clients-own-data");
    expect(slug("Signing keys: encryption at rest and rotation")).toBe("signing-keys-encryption-at-rest-and-rotation");
    expect(slug("`grant_type=authorization_code`")).toBe("grant_typeauthorization_code");
    expect(slug("The request body (token, revocation and introspection endpoints)")).toBe(
      "the-request-body-token-revocation-and-introspection-endpoints",
    );
    expect(slug("Saturation: 503, never 500")).toBe("saturation-503-never-500");
    expect(slug("Refresh-token rotation")).toBe("refresh-token-rotation");
  });

  it.each(PAGES.map((p) => [relative(ROOT, p), p]))(
    "%s: every relative link points to a file that exists, and every anchor to a heading",
    (_name, page) => {
      const broken = linksOf(page)
        .map((l) => ({ l, why: problem(l) }))
        .filter((x) => x.why !== null)
        .map(({ l, why }) => `${relative(ROOT, l.file)}:${l.line} (${l.target}): ${why}`);
      expect(broken).toEqual([]);
    },
  );

  it("docs/README.md lists every page in docs/", () => {
    const index = join(DOCS, "README.md");
    const listed = new Set(
      linksOf(index)
        .filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target))
        .map((l) => resolve(DOCS, l.target.split("#")[0]!)),
    );
    const missing = PAGES.filter((p) => dirname(p) === DOCS && p !== index && !listed.has(p)).map((p) => relative(ROOT, p));
    expect(missing, "pages in docs/ that docs/README.md does not link").toEqual([]);
  });
});
