import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  commonPasswords,
  isRepetitive,
  isSequential,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  PASSWORD_MESSAGES as M,
  passwordProblem,
} from "../../src/accounts/password-rules.ts";

const account = { email: "Ada.Lovelace@Example.com", name: "Ada Byron Lovelace King" };

describe("passwordProblem (NIST SP 800-63B-4, single-factor)", () => {
  const cases: [what: string, password: string, message: string | null][] = [
    // Length: code points after NFKC, not UTF-16 units or bytes.
    ["empty", "", M.empty],
    ["14 characters", "river lamp 123", M.tooShort],
    ["15 characters", "river lamp 1234", null],
    ["14 astral characters (28 UTF-16 units)", "🐢🦊🐙🦉🐝🐞🦋🐌🐠🦀🐬🦑🦈🐊", M.tooShort],
    ["15 astral characters", "🐢🦊🐙🦉🐝🐞🦋🐌🐠🦀🐬🦑🦈🐊🦓", null],
    ["15 accented letters in NFD", "e\u0301".repeat(7) + "tortue lune", null],
    ["over the maximum", "plum wagon ".repeat(20), M.tooLong],
    ["at the maximum", `${"plum wagon ".repeat(18)}${"x".repeat(MAX_PASSWORD_LENGTH - 198)}`, null],
    ["a lone surrogate", "river lamp 1234\ud800", M.malformed],
    // Only spaces, or one character over and over.
    ["ten spaces and more", " ".repeat(16), M.repetitive],
    ["mixed whitespace only", " \t \n  \t\t \n   \t ", M.onlySpaces],
    ["one letter", "a".repeat(20), M.repetitive],
    ["one letter, full-width", "\uff41".repeat(20), M.repetitive],
    ["a repeated pattern", "abcabcabcabcabca", M.repetitive],
    ["a repeated word", "kettlekettlekettle", M.repetitive],
    ["a repeated word with spaces", "kettle kettle kettle", M.repetitive],
    ["a repeated pair", "xyxyxyxyxyxyxyxy", M.repetitive],
    // Sequential: by code point either way, digits wrapping, keyboard walks, and runs of these joined.
    ["a digit run", "123456789012345", M.sequential],
    ["a digit run downwards", "987654321098765", M.sequential],
    ["the alphabet", "abcdefghijklmnop", M.sequential],
    ["the alphabet backwards", "zyxwvutsrqponmlk", M.sequential],
    ["a keyboard row", "qwertyuiopasdfgh", M.sequential],
    ["a keyboard row backwards", "hgfdsapoiuytrewq", M.sequential],
    ["keyboard columns", "zaq1xsw2cde3vfr4", M.sequential],
    ["two runs joined", "abcdefgh12345678", M.sequential],
    ["runs of repeated characters", "aaaabbbbccccdddd", M.sequential],
    ["a keyboard walk then digits", "qwertyuiop12345", M.sequential],
    ["runs with spaces between", "abcdef 123456 qwerty", M.sequential],
    ["upper case runs", "ABCDEFGHIJKLMNOP", M.sequential],
    // Common: on the shipped list, case-insensitively after NFKC, with or without spaces.
    ["a common password", "mailcreated5240", M.common],
    ["a common password in other case", "PasswordStandard", M.common],
    ["a common password full-width", "ｐａｓｓｗｏｒｄｓｔａｎｄａｒｄ", M.common],
    ["a common password with spaces", "password standard", M.common],
    // The account's own email, its local part, its name.
    ["the email", "ada.lovelace@example.com", M.email],
    ["the email in other case", "ADA.LOVELACE@EXAMPLE.COM", M.email],
    ["the email's local part", "Ada.Lovelace", M.tooShort],
    ["the name", "ada byron lovelace king", M.name],
    ["the name without spaces", "AdaByronLovelaceKing", M.name],
    // Fine.
    ["a passphrase", "correct horse battery staple", null],
    ["a passphrase containing the name", "ada byron lovelace king of cats", null],
    ["random letters", "kq7vpz2mxr9tbw4h", null],
    ["a sentence with digits", "my 3 cats like 12 fish", null],
  ];
  it.each(cases)("%s", (_what, password, message) => {
    expect(passwordProblem(password, account)).toBe(message);
  });

  it("refuses the local part of a long email", () => {
    expect(passwordProblem("Grace.Brewster.Hopper", { email: "grace.brewster.hopper@navy.example" })).toBe(M.email);
  });

  it("checks without an account too", () => {
    expect(passwordProblem("correct horse battery staple")).toBeNull();
    expect(passwordProblem("short")).toBe(M.tooShort);
  });

  it("says the minimum in its message and stays at NIST's 15 and at least 64 maximum", () => {
    expect(MIN_PASSWORD_LENGTH).toBe(15);
    expect(MAX_PASSWORD_LENGTH).toBeGreaterThanOrEqual(64);
    expect(M.tooShort).toContain("15 characters");
  });
});

describe("isRepetitive and isSequential", () => {
  it("keep to whole-password patterns", () => {
    expect(isRepetitive("abab")).toBe(true);
    expect(isRepetitive("ababa")).toBe(true);
    expect(isRepetitive("abcab-")).toBe(false);
    expect(isSequential("1234")).toBe(true);
    expect(isSequential("123")).toBe(false);
    // A run of three inside does not make the password sequential.
    expect(isSequential("abc river 123 lamp")).toBe(false);
    expect(isSequential("abcdxyz")).toBe(false);
  });
});

describe("the common-password list", () => {
  const text = readFileSync(new URL("../../src/accounts/common-passwords.txt", import.meta.url), "utf8");

  it("names its source and licence in its header", () => {
    const header = text
      .split("\n")
      .filter((l) => l === "#" || l.startsWith("# "))
      .join("\n");
    expect(header).toMatch(/SecLists/);
    expect(header).toMatch(/MIT License/);
  });

  it("is loaded once into a Set of normalised entries of at least the minimum length", () => {
    const set = commonPasswords();
    expect(commonPasswords()).toBe(set);
    expect(set.size).toBeGreaterThan(9000);
    for (const entry of set) {
      expect(entry).toBe(entry.normalize("NFKC").toLowerCase());
      expect([...entry].length).toBeGreaterThanOrEqual(MIN_PASSWORD_LENGTH);
    }
  });
});
