import { describe, expect, it } from "vitest";
import { jsonProblem, textProblem } from "../../src/lib/text.ts";

describe("textProblem: what no request may carry", () => {
  it("refuses NUL and every lone surrogate, high or low, wherever it stands", () => {
    for (const s of ["\u0000", "a\u0000b", "\ud800", "\udbff", "\udc00", "\udfff", "a\ud800", "\udfffa", "\udc00\ud800", "😀\ud800"]) {
      expect(textProblem(s), JSON.stringify(s)).not.toBeNull();
    }
    expect(textProblem("a\u0000b")).toMatch(/NUL/);
    expect(textProblem("\ud800")).toMatch(/lone UTF-16 surrogate/);
  });

  it("accepts text: pairs (emoji), combining marks, other controls, the empty string", () => {
    for (const s of ["", "plain", "\ud83d\ude00", "e\u0301", "\t\r\n", "\u2028", "\ufeff", "%00", "\\u0000", "\\ud800"]) {
      expect(textProblem(s), JSON.stringify(s)).toBeNull();
    }
  });
});

describe("jsonProblem: text and depth in a JSON value", () => {
  it("names the path of the first string or key that is not text", () => {
    expect(jsonProblem({ a: [1, "ok", { b: "x\ud800" }] }, 10)).toEqual({
      path: "a[2].b",
      kind: "surrogate",
      problem: expect.stringMatching(/surrogate/),
    });
    expect(jsonProblem({ a: { "k\u0000": 1 } }, 10)).toEqual({
      path: "a",
      kind: "nul",
      problem: expect.stringMatching(/key that contains a NUL/),
    });
    expect(jsonProblem("\udfff", 10)?.path).toBe("");
  });

  it("measures nesting without recursion: a value 100,000 deep is refused, not a stack overflow", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(jsonProblem(deep, 10)?.problem).toBe("is nested more than 10 deep");
    expect(jsonProblem(JSON.parse(`${"[".repeat(50_000)}${"]".repeat(50_000)}`), 10)?.problem).toMatch(/nested/);
  });

  it("counts containers: maxDepth of them are allowed, one more is not", () => {
    const nested = (n: number): unknown => (n === 0 ? "leaf" : { a: nested(n - 1) });
    expect(jsonProblem(nested(3), 3)).toBeNull();
    expect(jsonProblem(nested(4), 3)).toEqual({ path: "a.a.a", kind: "depth", problem: "is nested more than 3 deep" });
    expect(jsonProblem({ list: Array.from({ length: 5_000 }, (_, i) => ({ i, s: "ok" })) }, 3)).toBeNull();
  });

  it("passes every other JSON value", () => {
    for (const v of [null, undefined, 0, -1e308, true, "", [], {}, { a: [null, 1.5, "😀"] }]) expect(jsonProblem(v, 5)).toBeNull();
  });
});
