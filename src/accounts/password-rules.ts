import { readFileSync } from "node:fs";
import { hasLoneSurrogate } from "../lib/text.ts";

/**
 * What a new password must be (NIST SP 800-63B-4, section 3.1.1.2, for a
 * password used as the only factor): at least 15 characters, counted as
 * Unicode code points after NFKC; no composition rules; compared against
 * values that are commonly used, expected or compromised, which here means
 * refused when it is
 *
 * - made only of spaces or invisible characters (Unicode Cc, Cf, Z*);
 * - repetitive or sequential (`aaaa…`, `abcabc…`, `12345…`, `qwerty…`), or
 *   made of too few different characters (`aaaaaaaaaaaaaab`, `1111111111111112`);
 * - on the shipped list of common passwords, or such a password (or a common
 *   word, `password`, `iloveyou`) with weak padding around it: runs like
 *   `12345678`, a few digits (`1`, `2024`), a few symbols (`!`, `!@#`)
 *   (`password1234567`, `letmein123456789`, `passwordpassword1`);
 * - built from the account's own email, its local part or domain, its name,
 *   or the name of the service, with nothing but such padding or separators
 *   besides (`adalovelace12345`, `ada lovelace ada`, `scopegate2026!!!`).
 *
 * Invisible characters do not hide a password from these checks: they are
 * compared without them. Each refusal says which rule and why, in words the
 * sign-up and password-change forms show as they are. Long passphrases and
 * random passwords pass: a password refused for its padding has nothing else
 * in it than a common or expected word.
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
  onlySpaces: "Use letters, digits or symbols in your password, not only spaces or invisible characters.",
  fewCharacters: "Use more different characters: this password is mostly one or two characters over and over.",
  common: "This password is on a list of commonly used passwords, so it is among the first an attacker tries. Choose another.",
  commonPadded:
    "This password is a common password or word with digits, symbols or a run like 12345 added, which attackers try first. Choose another.",
  repetitive: "Don't repeat one character or a short pattern (like aaaa… or abcabc…): choose a password that is harder to guess.",
  sequential: "Don't build your password from runs like 12345…, abcde…, qwerty… or aaaa…: choose one that is harder to guess.",
  email: "Don't use your email address as your password.",
  name: "Don't use your name as your password.",
  service: "Don't build your password from the name of this service (scopegate).",
  context: "Don't build your password from your name, your email address or the name of this service.",
} as const;

/** The name of the service, a context-specific word (NIST SP 800-63B-4 3.1.1.2) refused as a password's core. */
export const SERVICE_NAME = "scopegate";

/** The rules in one line, under the password fields of sign-up and password change. */
export const PASSWORD_HINT = `At least ${MIN_PASSWORD_LENGTH} characters; not a common password or word, your email or your name (not even with digits added), and no runs like 12345 or aaaa.`;

/** Lower-cased after NFKC, the form every comparison uses (so "ＰＡＳＳ" and "pass" are the same). */
export function normalizePassword(s: string): string {
  return s.normalize("NFKC").toLowerCase();
}

/** Spaces and invisible characters (controls, format characters such as U+200B, separators): never part of a comparison. */
const INVISIBLE = /[\s\p{Cc}\p{Cf}\p{Z}]/gu;

/** `s` without its spaces and invisible characters. */
export function withoutInvisible(s: string): string {
  return s.replace(INVISIBLE, "");
}

/** The entries of a shipped list (its header names source and licence), normalised. */
function readList(file: string): Set<string> {
  const text = readFileSync(new URL(file, import.meta.url), "utf8");
  const set = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "" || line === "#" || line.startsWith("# ")) continue;
    set.add(normalizePassword(line));
  }
  return set;
}

let common: Set<string> | undefined;
/** The shipped list of common passwords of 15 characters or more (src/accounts/common-passwords.txt), loaded once. */
export function commonPasswords(): Set<string> {
  if (!common) common = readList("./common-passwords.txt");
  return common;
}

let cores: Set<string> | undefined;
/**
 * What a longer password may be padded out from: the most common passwords
 * of any length (src/accounts/common-passwords-short.txt: `iloveyou`,
 * `letmein`, `monkey`), and the core of each entry of both lists (coreOf: its
 * weak padding taken off, `password123456789` → `password`, `monkey1` →
 * `monkey`) and the unit of one that is a word repeated (`footballfootball`
 * → `football`). Entries shorter than MIN_CORE are left out: a core that short
 * is refused anyway.
 */
export function commonCores(): Set<string> {
  if (!cores) {
    const set = new Set<string>();
    const add = (s: string) => {
      if ([...s].length >= MIN_CORE) set.add(s);
    };
    for (const entry of [...readList("./common-passwords-short.txt"), ...commonPasswords()]) {
      const compact = withoutInvisible(entry);
      if (compact.length < MIN_PASSWORD_LENGTH) add(compact);
      const core = coreOf(compact);
      if (core !== compact) add(core);
      const unit = repeatedUnit(core);
      if (unit) add(unit);
    }
    cores = set;
  }
  return cores;
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
  // The same value with and without its spaces and invisible characters:
  // "kettle kettle kettle" is "kettlekettlekettle", "pass\u200bword…" is "password…".
  const compact = withoutInvisible(n);
  const forms = compact === n ? [n] : [n, compact];
  // Nothing visible at all (spaces, U+200B, NUL...): whatever pattern it has, that is what to say.
  if (compact === "") return PASSWORD_MESSAGES.onlySpaces;
  // The patterns first: their messages say more than "common" (many of them are on the list too).
  if (forms.some(isRepetitive)) return PASSWORD_MESSAGES.repetitive;
  if (hasFewCharacters(compact)) return PASSWORD_MESSAGES.fewCharacters;
  if (forms.some(isSequential)) return PASSWORD_MESSAGES.sequential;
  const list = commonPasswords();
  if (forms.some((f) => list.has(f))) return PASSWORD_MESSAGES.common;

  // What is left once weak padding (runs, a few digits or symbols) is taken off both ends.
  const core = coreOf(compact);
  if (core !== compact) {
    if (list.has(core) || commonCores().has(core)) return PASSWORD_MESSAGES.commonPadded;
    // Nearly all padding ("ab12345678901234"), or a word repeated and padded ("kettlekettle2024!").
    if ([...core].length < MIN_CORE) return PASSWORD_MESSAGES.sequential;
    if (repeatedUnit(core) !== null) return PASSWORD_MESSAGES.repetitive;
  }
  return contextProblem(compact, account);
}

/**
 * Refused when nearly all of it is one character, or it has at most three
 * different ones: `aaaaaaaaaaaaab`, `1111111111111112`, `abababababababc`.
 */
export function hasFewCharacters(compact: string): boolean {
  const counts = new Map<string, number>();
  let total = 0;
  for (const cp of compact) {
    counts.set(cp, (counts.get(cp) ?? 0) + 1);
    total++;
  }
  if (counts.size <= MAX_FEW_CHARACTERS) return true;
  return Math.max(...counts.values()) * 3 >= total * 2;
}
/** At most this many different characters (spaces and invisible ones aside) is too few. */
const MAX_FEW_CHARACTERS = 3;

/** The shortest core worth comparing: shorter ones are nothing but padding (and the length rule did not count them). */
const MIN_CORE = 4;
/** Padding: a digit group of at most this many (`1`, `12`, `2024`)... */
const MAX_PAD_DIGITS = 4;
/** ...and a symbol group of at most this many (`!`, `!!`, `!@#`), at each end; runs of any length. */
const MAX_PAD_SYMBOLS = 3;

/**
 * `compact` without the weak padding at either end that people add to a word
 * to pass length rules: any number of runs (four or more characters in
 * sequence, repeated, or along the keyboard: `12345678`, `!!!!`, `qwerty`),
 * and at most one group of up to four digits and one of up to three symbols
 * (neither letters nor digits) per end. `password1234567` → `password`,
 * `passwordpassword1` → `passwordpassword`, `!!welcome2024` → `welcome`. A
 * random string keeps nearly all of itself: only one short group per end goes.
 */
export function coreOf(compact: string): string {
  const cps = [...compact];
  const start = paddingLength(cps);
  const rest = cps.slice(start).reverse();
  const end = paddingLength(rest);
  return rest.slice(end).reverse().join("");
}

function paddingLength(cps: string[]): number {
  let at = 0;
  let digits = false;
  let symbols = false;
  while (at < cps.length) {
    const run = Math.max(stepRunEnd(cps, at), keyboardRunEnd(cps, at)) - at;
    if (run >= MIN_RUN) {
      at += run;
      continue;
    }
    const d = leading(cps, at, isDigit);
    if (d > 0 && !digits && d <= MAX_PAD_DIGITS) {
      digits = true;
      at += d;
      continue;
    }
    const sym = leading(cps, at, isSymbol);
    if (sym > 0 && !symbols && sym <= MAX_PAD_SYMBOLS) {
      symbols = true;
      at += sym;
      continue;
    }
    break;
  }
  return at;
}

const isDigit = (c: string) => /\p{Nd}/u.test(c);
/** Neither a letter nor a digit: punctuation, symbols (spaces and invisible characters are gone before this). */
const isSymbol = (c: string) => !/[\p{L}\p{N}]/u.test(c);

/** How many characters from `at` on pass `test`. */
function leading(cps: string[], at: number, test: (c: string) => boolean): number {
  let i = at;
  while (i < cps.length && test(cps[i]!)) i++;
  return i - at;
}

/** The unit of `s` when it is one piece repeated whole (`kettlekettle` → `kettle`), else null. */
function repeatedUnit(s: string): string | null {
  const cps = [...s];
  for (let unit = 1; unit <= cps.length / 2; unit++) {
    if (cps.length % unit !== 0) continue;
    let repeated = true;
    for (let i = unit; i < cps.length && repeated; i++) repeated = cps[i] === cps[i % unit];
    if (repeated) return cps.slice(0, unit).join("");
  }
  return null;
}

/**
 * Context-specific words (NIST SP 800-63B-4 3.1.1.2: the service's name, the
 * username, and derivatives): the email, its local part and the words in it,
 * its domain's labels (not the top-level one), the name and its words, and
 * "scopegate". A password is refused when nothing but padding or separators
 * (fewer than MIN_CORE letters or digits) remains once these are taken out:
 * `adalovelace12345`, `ada lovelace ada`, `ada.lovelace@example.co`. A
 * passphrase that merely contains the name (`ada lovelace's orchard`) passes.
 */
function contextProblem(compact: string, account: { email?: string; name?: string }): string | null {
  const email = account.email ? withoutInvisible(normalizePassword(account.email.trim())) : "";
  const at = email.lastIndexOf("@");
  const local = at > 0 ? email.slice(0, at) : "";
  const labels =
    at > 0
      ? email
          .slice(at + 1)
          .split(".")
          .slice(0, -1)
      : [];
  const emailWords = [email, local, ...wordsOf(local), ...labels.flatMap(wordsOf)];
  const name = account.name ? normalizePassword(account.name.trim()) : "";
  const nameWords = name ? [withoutInvisible(name), ...wordsOf(name)] : [];
  const service = [SERVICE_NAME];
  const checks: [words: string[], message: string][] = [
    [service, PASSWORD_MESSAGES.service],
    [nameWords, PASSWORD_MESSAGES.name],
    [emailWords, PASSWORD_MESSAGES.email],
    [[...emailWords, ...nameWords, ...service], PASSWORD_MESSAGES.context],
  ];
  for (const [words, message] of checks) if (onlyWords(compact, words)) return message;
  return null;
}

/** The words of a name or an email part: its runs of letters and digits, three or more long. */
function wordsOf(s: string): string[] {
  return s.split(/[^\p{L}\p{N}]+/u).filter((w) => [...w].length >= 3);
}

/** Whether `compact` is nothing but `words` (longest first, wherever they are) and fewer than MIN_CORE other letters or digits. */
function onlyWords(compact: string, words: string[]): boolean {
  const usable = [...new Set(words.filter((w) => w.length > 0))].sort((a, b) => b.length - a.length);
  if (usable.length === 0) return false;
  let rest = compact;
  let found = false;
  for (const w of usable) {
    if (rest.includes(w)) {
      found = true;
      rest = rest.split(w).join(" ");
    }
  }
  if (!found) return false;
  const left = rest.replace(/[^\p{L}\p{N}]/gu, "");
  return [...coreOf(left)].length < MIN_CORE;
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
