import { describe, expect, it } from "vitest";
import { MAX_LOCAL_PATH, safeLocalPath } from "../../src/lib/local-path.ts";

/**
 * Each class of off-site redirect, several spellings each. A browser given any
 * of these as Location (or a proxy that decodes it first) could leave our origin,
 * or the path is one we would never produce ourselves: all are refused whole.
 */
const refused: Record<string, string[]> = {
  "scheme-relative": ["//evil.example", "//evil.example/path", "///evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example"],
  "absolute URLs": [
    "https://evil.example",
    "http://evil.example/",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:x",
    "file:///etc/passwd",
    "https:evil.example",
    "evil.example",
    "account/apps",
    "./account",
    "?x=1",
    "#top",
  ],
  userinfo: ["/@evil.example", "/x@evil.example", "http://x@evil.example", "/%40evil.example", "//user:pass@evil.example", "/a/@b"],
  "dot segments": [
    "/..",
    "/../evil",
    "/../../../evil",
    "/.//evil.example",
    "/./",
    "/a/../..//evil.example",
    "/a/./b",
    "/a/..",
    "/a/../../b",
    "/a//b",
    "/a/b//",
  ],
  "single percent-encoding": [
    "/%2f%2fevil.example",
    "/%2F%2Fevil.example",
    "/%2fevil.example",
    "/%5cevil.example",
    "/%5C%5Cevil.example",
    "/%2e%2e/evil",
    "/%2E%2E%2Fevil",
    "/.%2e/evil",
    "/%2e/",
    "/a%2f..%2f..%2fevil",
    "/%09/evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "/%00",
    "/%e2%80%a8evil",
    "/%ef%bc%8fevil.example",
    "/%7f",
    "/%zz",
    "/%",
    "/%2",
  ],
  "double percent-encoding": ["/%252f%252fevil.example", "/%252e%252e/evil", "/%255cevil.example", "/%25%32%66evil", "/%2525"],
  backslashes: ["/\\", "/a\\b", "/\\/evil.example", "/a?next=\\\\evil.example", "/a#\\evil"],
  "control characters and whitespace": [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\u0000evil",
    "/a\u0000",
    "/ /evil.example",
    "/a b",
    "/\u000b",
    "/\u000c",
    "/\u007f",
    "/\u0085",
    "/\u00a0evil",
    "/\u2028/evil.example",
    "/\u2029/evil.example",
    "/\u200bevil",
    "/\u202eevil",
    "/\ufeffevil",
    "/\u3000evil",
    "/a?q=a b",
    "/a?q=\t",
    "/a#\n",
    " /account",
    "/account ",
    "\t//evil.example",
  ],
  "lone surrogates and non-ASCII": [
    "/\ud800",
    "/\udc00x",
    "/a?x=\ud83d",
    "/\uff0f\uff0fevil.example",
    "/\u2215evil",
    "/ü",
    "/a?q=ü",
    "/\ud83d\ude00",
  ],
  "not a string or out of bounds": ["", "/".padEnd(MAX_LOCAL_PATH + 1, "a")],
};

const accepted = [
  "/",
  "/account",
  "/account/apps",
  "/account/apps/",
  "/developers",
  "/account/apps?updated=abc",
  "/v1/oauth/authorize?response_type=code&client_id=c_1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20profile%3Aread&state=a%25b%2F..%5C",
  "/login?return_to=%2Faccount&prompt=login",
  "/a#section",
  "/a?x=//evil.example",
  "/a:b",
  "/a.b/c..d/.e/f.",
  "/~user/x-y_z",
  "/%41",
  "/".padEnd(MAX_LOCAL_PATH, "a"),
];

describe("safeLocalPath", () => {
  for (const [kind, values] of Object.entries(refused)) {
    it(`refuses ${kind}`, () => {
      for (const value of values) expect(safeLocalPath(value), JSON.stringify(value)).toBeNull();
    });
  }

  it("refuses values that are not strings", () => {
    for (const value of [undefined, null, 1, ["/"], { toString: () => "/" }]) expect(safeLocalPath(value)).toBeNull();
  });

  it("keeps same-origin paths exactly as given, query and fragment included", () => {
    for (const value of accepted) expect(safeLocalPath(value), value).toBe(value);
  });

  it("never accepts a value that a URL parser or a decoding proxy would take off-site", () => {
    // Whatever it accepts, resolved against any origin, decoded once or twice first, stays on that origin.
    const all = [...Object.values(refused).flat(), ...accepted];
    for (const value of all) {
      const ok = safeLocalPath(value);
      if (ok === null) continue;
      for (const candidate of [ok, safeDecode(ok), safeDecode(safeDecode(ok))]) {
        const url = new URL(candidate.replace(/\\/g, "/"), "https://app.example");
        expect(url.origin, value).toBe("https://app.example");
        expect(url.pathname.startsWith("//"), value).toBe(false);
      }
    }
  });

  it("honours a smaller length limit", () => {
    expect(safeLocalPath("/abcdef", 5)).toBeNull();
    expect(safeLocalPath("/abcd", 5)).toBe("/abcd");
  });
});

function safeDecode(s: string): string {
  // Only the path part: a decoded query may hold anything, and never changes the origin.
  const cut = s.search(/[?#]/);
  const path = cut === -1 ? s : s.slice(0, cut);
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
