/**
 * Text that no request may bring in, whatever the field (issue 12: these gave
 * 500s). NUL: PostgreSQL cannot store it in text, so the query fails. A lone
 * UTF-16 surrogate (a JSON `\ud800` escape): it is not Unicode, and every
 * UTF-8 encoder on the way (the database driver, hashes, HTTP) writes it as
 * U+FFFD, so two different values would be stored, hashed or compared as one.
 */
const NOT_TEXT = /\u0000|\p{Cs}/u;
// In a /u pattern a well-formed pair is one code point, so \p{Cs} matches only a lone surrogate.
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `value` holds a UTF-16 surrogate without its pair: it would be encoded (hashed, signed, stored) as U+FFFD. */
export function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}

/** Why `value` is not text a request may carry, or null when it is. */
export function textProblem(value: string): string | null {
  if (!NOT_TEXT.test(value)) return null;
  return value.includes("\u0000") ? "contains a NUL character" : "contains a lone UTF-16 surrogate (not Unicode text)";
}

/**
 * The first string in a JSON value (keys included) that is not text a request
 * may carry, or the first list or object deeper than `maxDepth`; null when there
 * is none. The walk is iterative, so a value nested thousands deep is measured,
 * not a stack overflow.
 */
export function jsonProblem(
  value: unknown,
  maxDepth: number,
): { path: string; kind: "depth" | "nul" | "surrogate"; problem: string } | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: "", depth: 0 }];
  const text = (s: string, path: string, prefix = "") => {
    const problem = textProblem(s);
    return problem ? { path, kind: s.includes("\u0000") ? ("nul" as const) : ("surrogate" as const), problem: prefix + problem } : null;
  };
  while (stack.length) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === "string") {
      const found = text(v, path);
      if (found) return found;
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (depth >= maxDepth) return { path, kind: "depth", problem: `is nested more than ${maxDepth} deep` };
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        stack.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 });
      });
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      const found = text(key, path, "has a key that ");
      if (found) return found;
      stack.push({ value: item, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  return null;
}
