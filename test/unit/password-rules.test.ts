import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  commonCores,
  commonPasswords,
  coreOf,
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
    ["ten spaces and more", " ".repeat(16), M.onlySpaces],
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

// Issue 12 item 2 / NIST SP 800-63B-4 3.1.1.2: values commonly used, expected or compromised,
// context-specific words included, are refused whole and not only verbatim.
describe("passwordProblem refuses whole classes of weak passwords", () => {
  const ada = { email: "ada.lovelace@example.com", name: "Ada Lovelace" };

  it.each([
    ["password1234567"],
    ["iloveyou12345678"],
    ["letmein123456789"],
    ["football12345678"],
    ["welcome12345678"],
    ["passwordpassword1"],
    ["Password1234567!"],
    ["LetMeIn123456789"],
    ["!!welcome2024!!!"],
    ["1234567iloveyou"],
    ["summer2024!!!!!!"],
    ["monkey12345678!"],
    ["sunshine1234567"],
    ["football!!!!!!!!"],
    ["qwerty123monkey!"],
    ["p\u200ba\u200bs\u200bs\u200bw\u200bo\u200br\u200bd\u200b1\u200b2\u200b3"],
  ])("a common password or word with padding: %j", (password) => {
    expect(passwordProblem(password.replace(/\\u200b/g, "\u200b"), ada)).toBe(M.commonPadded);
  });

  it.each([
    ["aaaaaaaaaaaaaab"],
    ["1111111111111112"],
    ["0000000000000000001"],
    ["abababababababc"],
    ["zzzzzzzzzzzzzzzy1"],
    ["xxxxxxxxxxxxxxxxxxxxhello"],
    ["a a a a a a a a b"],
  ])("too few different characters: %j", (password) => {
    expect(passwordProblem(password, ada)).toBe(M.fewCharacters);
  });

  it.each([
    ["adalovelace12345", M.name],
    ["ada lovelace ada", M.name],
    ["AdaLovelace2024!", M.name],
    ["lovelace.ada.1815", M.name],
    ["ada.lovelace@example.co", M.email],
    ["ada.lovelace@example.com!", M.email],
    ["example ada lovelace com", M.email],
    ["scopegate2026!!!", M.service],
    ["ScopeGate 123456789", M.service],
    ["ada lovelace scopegate", M.context],
  ])("built from the account's name or email or the service's name: %j", (password, message) => {
    expect(passwordProblem(password, ada)).toBe(message);
  });

  it.each([
    ["14 zero-width spaces then a zero-width non-joiner", `${"\u200b".repeat(14)}\u200c`],
    ["14 NULs then U+0001", `${"\u0000".repeat(14)}\u0001`],
    ["format characters", "\u200b\u200c\u200d\u2060".repeat(4)],
    ["controls", "\u0001\u0002\u0003\u0004\u0005".repeat(3)],
    ["separators and format characters", "\u2028\u2029\u200b\u3000".repeat(4)],
  ])("only invisible characters: %s", (_what, password) => {
    expect(passwordProblem(password, ada)).toBe(M.onlySpaces);
  });

  it.each([
    ["correct horse battery staple"],
    ["Correct Horse Battery Staple 42"],
    ["correct-horse-battery-staple-1"],
    ["tbmxa-rggnv-csbrd-2svgf"],
    ["9vq-72mk-w8rz-4hjd"],
    ["kq7vpz2mxr9tbw4h"],
    ["8#4!2@9$7%1^x&3*"],
    ["my 3 cats like 12 fish"],
    ["iloveyou more than tea"],
    ["ada lovelace's orchard"],
    ["Tr0ub4dor&3 horse battery"],
    ["password manager for my cats"],
  ])("a good password passes: %j", (password) => {
    expect(passwordProblem(password, ada)).toBeNull();
  });

  it("lets random diceware-style demo passwords and random printable passwords pass", () => {
    const alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
    for (let n = 0; n < 500; n++) {
      const chars = [...randomBytes(20)].map((b) => alphabet[b % alphabet.length]);
      const demo = [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join("")).join("-");
      expect(passwordProblem(demo, ada), demo).toBeNull();
      const random = [...randomBytes(16)].map((b) => printable[b % printable.length]).join("");
      expect(passwordProblem(random, ada), random).toBeNull();
    }
  });

  it("takes off weak padding only: runs, one short digit group and one short symbol group per end", () => {
    expect(coreOf("password1234567")).toBe("password");
    expect(coreOf("!!welcome2024!!!")).toBe("welcome");
    expect(coreOf("passwordpassword1")).toBe("passwordpassword");
    // Random digits and symbols beyond one short group stay.
    expect(coreOf("password8274619")).toBe("password8274619");
    expect(coreOf("8#4!2@9$7%1^x&3*")).toBe("4!2@9$7%1^x&");
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

  it("has the most common shorter passwords beside it for the padded-core check, with source and licence", () => {
    const short = readFileSync(new URL("../../src/accounts/common-passwords-short.txt", import.meta.url), "utf8");
    expect(short).toMatch(/^# .*SecLists/m);
    expect(short).toMatch(/^# .*MIT License/m);
    const entries = short.split("\n").filter((l) => l !== "" && l !== "#" && !l.startsWith("# "));
    expect(entries.length).toBeGreaterThanOrEqual(2000);
    expect(entries.slice(0, 3)).toEqual(["123456", "password", "12345678"]);
    const cores = commonCores();
    expect(commonCores()).toBe(cores);
    for (const word of ["password", "iloveyou", "letmein", "football", "welcome", "monkey", "sunshine"])
      expect(cores.has(word), word).toBe(true);
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
