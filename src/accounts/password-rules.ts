import { readFileSync } from "node:fs";
import { hasLoneSurrogate } from "../lib/text.ts";

/**
 * What a new password must be (NIST SP 800-63B-4, section 3.1.1.2, for a
 * password used as the only factor): at least 15 characters, counted as
 * Unicode code points after NFKC; no composition rules; refused when it is
 * on a list of common passwords, repetitive or sequential, or the account's
 * own email (or its local part) or name. Each refusal says which rule and why,
 * in words the sign-up and password-change forms show as they are.
 *
 * Checked wherever a password is set (sign-up, password change); never at
 * sign-in, where an old password made under older rules must still work.
 */

export const MIN_PASSWORD_LENGTH = 15;
/** In UTF-16 units, as sign-in reads it: a longer password could never be typed back in. */
export const MAX_PASSWORD_LENGTH = 200;

export const PASSWORD_MESSAGES = {
  empty: "Enter a password.",
  tooShort: `Use at least ${MIN_PASSWORD_LENGTH} characters for your password. A few unrelated words make a long password that is easy to remember.`,
  tooLong: `Keep your password under ${MAX_PASSWORD_LENGTH} characters.`,
  malformed: "Your password contains characters that cannot be stored. Please type it again.",
  onlySpaces: "Use more than spaces in your password.",
  common: "This password is on a list of commonly used passwords, so it is among the first an attacker tries. Choose another.",
  repetitive: "Don't repeat one character or a short pattern (like aaaa… or abcabc…): choose a password that is harder to guess.",
  sequential: "Don't build your password from runs like 12345…, abcde…, qwerty… or aaaa…: choose one that is harder to guess.",
  email: "Don't use your email address as your password.",
  name: "Don't use your name as your password.",
} as const;

/** The rules in one line, under the password fields of sign-up and password change. */
export const PASSWORD_HINT = `At least ${MIN_PASSWORD_LENGTH} characters; not a common password, your email or your name, and no runs like 12345 or aaaa.`;

/** Lower-cased after NFKC, the form every comparison uses (so "ＰＡＳＳ" and "pass" are the same). */
export function normalizePassword(s: string): string {
  return s.normalize("NFKC").toLowerCase();
}

let common: Set<string> | undefined;
/** The shipped list (src/accounts/common-passwords.txt, its header names source and licence), loaded once. */
export function commonPasswords(): Set<string> {
  if (!common) {
    const text = readFileSync(new URL("./common-passwords.txt", import.meta.url), "utf8");
    const set = new Set<string>();
    for (const line of text.split("\n")) {
      if (line === "" || line === "#" || line.startsWith("# ")) continue;
      set.add(normalizePassword(line));
    }
    common = set;
  }
  return common;
}

/**
 * Why `password` may not be set for the account with this email and name, or
 * null when it may. `email` and `name` as typed (they are normalised here).
 */
export function passwordProblem(password: string, account: { email?: string; name?: string } = {}): string | null {
  if (password.length === 0) return PASSWORD_MESSAGES.empty;
  if (password.length > MAX_PASSWORD_LENGTH) return PASSWORD_MESSAGES.tooLong;
  // A lone surrogate would be hashed as U+FFFD: two different passwords would then match.
  if (hasLoneSurrogate(password)) return PASSWORD_MESSAGES.malformed;
  const n = normalizePassword(password);
  if ([...n].length < MIN_PASSWORD_LENGTH) return PASSWORD_MESSAGES.tooShort;
  // The same value with and without its spaces: "kettle kettle kettle" is "kettlekettlekettle".
  const compact = n.replace(/\s+/gu, "");
  const forms = compact === n ? [n] : [n, compact];
  // The patterns first: their messages say more than "common" (many of them are on the list too).
  if (forms.some(isRepetitive)) return PASSWORD_MESSAGES.repetitive;
  if (compact === "") return PASSWORD_MESSAGES.onlySpaces;
  if (forms.some(isSequential)) return PASSWORD_MESSAGES.sequential;
  const list = commonPasswords();
  if (forms.some((f) => list.has(f))) return PASSWORD_MESSAGES.common;

  const email = account.email ? normalizePassword(account.email.trim()) : "";
  const local = email.includes("@") ? email.slice(0, email.lastIndexOf("@")) : "";
  if (matchesAny(forms, [email, local])) return PASSWORD_MESSAGES.email;
  if (account.name && matchesAny(forms, [normalizePassword(account.name.trim())])) return PASSWORD_MESSAGES.name;
  return null;
}

function matchesAny(forms: string[], values: string[]): boolean {
  for (const v of values) {
    if (!v) continue;
    const vCompact = v.replace(/\s+/gu, "");
    if (forms.some((f) => f === v || f === vCompact)) return true;
  }
  return false;
}

/** One character, or one short pattern, repeated throughout (a partial last repetition allowed): `aaaa…`, `abcabc…`. */
export function isRepetitive(s: string): boolean {
  const cps = [...s];
  for (let unit = 1; unit <= cps.length / 2; unit++) {
    let repeated = true;
    for (let i = unit; i < cps.length && repeated; i++) repeated = cps[i] === cps[i % unit];
    if (repeated) return true;
  }
  return false;
}

// Keyboard rows and columns (US layout) that people walk along; alphabet and digit runs are found by code point.
const KEYBOARD = ["qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp", "1234567890"];
const KEYBOARD_BOTH_WAYS = KEYBOARD.flatMap((k) => [k, [...k].reverse().join("")]);
/** The shortest run that counts as one: shorter ones occur in any passphrase. */
const MIN_RUN = 4;

/**
 * Made entirely of runs of at least four characters, each a sequence by code
 * point (`12345`, `abcde`, `zyxw`, `9012` wrapping through 0), a repeated
 * character, or a walk along a keyboard row or column (`qwerty`, `1qaz2wsx`),
 * in either direction: `123456789…`, `abcdefgh12345678`, `qwertyuiop1234`.
 */
export function isSequential(s: string): boolean {
  const cps = [...s];
  const len = cps.length;
  if (len < MIN_RUN) return false;
  // longest[j]: how far one run starting at j can reach.
  const longest = cps.map((_, j) => Math.max(stepRunEnd(cps, j), keyboardRunEnd(cps, j)));
  // covered[i]: cps[0..i) splits into runs of at least MIN_RUN characters.
  const covered = new Array<boolean>(len + 1).fill(false);
  covered[0] = true;
  for (let j = 0; j < len; j++) {
    if (!covered[j]) continue;
    for (let i = j + MIN_RUN; i <= longest[j]!; i++) covered[i] = true;
  }
  return covered[len]!;
}

function follows(a: string, b: string, step: number): boolean {
  const d = b.codePointAt(0)! - a.codePointAt(0)!;
  if (d === step) return true;
  // 7890 and 2109: digit runs wrap through zero, as on the keyboard.
  return (step === 1 && a === "9" && b === "0") || (step === -1 && a === "0" && b === "9");
}

function stepRunEnd(cps: string[], j: number): number {
  let best = j + 1;
  for (const step of [-1, 0, 1]) {
    let i = j + 1;
    while (i < cps.length && follows(cps[i - 1]!, cps[i]!, step)) i++;
    best = Math.max(best, i);
  }
  return best;
}

function keyboardRunEnd(cps: string[], j: number): number {
  let best = j + 1;
  for (const row of KEYBOARD_BOTH_WAYS) {
    const at = row.indexOf(cps[j]!);
    if (at === -1) continue;
    let k = 1;
    while (j + k < cps.length && row[at + k] === cps[j + k]) k++;
    best = Math.max(best, j + k);
  }
  return best;
}
