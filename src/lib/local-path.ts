/**
 * Where we may send a browser back to when the place comes from the request
 * (sign-in's `return_to`; connectors' return path next): a path on our own
 * origin, or nothing.
 *
 * Browsers and URL parsers disagree on the edges (`/\evil` is `//evil` to a
 * browser, `/%2e%2e/` may be decoded by a proxy, a tab or a newline is dropped
 * before parsing, `/.//evil` resolves to `//evil`), so this accepts a narrow
 * grammar rather than trying to normalise its way to safety: a path of plain
 * segments, then any query and fragment, in printable ASCII. Whatever falls
 * outside is refused whole; the caller picks its own fallback ("/").
 */

export const MAX_LOCAL_PATH = 2000;

// RFC 3986 pchar without "@" (no userinfo look-alikes) and without "%" (escapes are checked one by one below).
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:/]$/;
// Query and fragment: any printable ASCII except the backslash (a browser's second slash); escapes checked below.
const QUERY_CHAR = /^[\x21-\x5b\x5d-\x7e]$/;
// Escaped bytes a path may not carry: controls and space, '%' (a second round of decoding), '.', '/', '\' and
// '@' (would become dot segments, slashes or userinfo once decoded), DEL, and non-ASCII (U+2028, full-width
// solidus and the like hide there).
function forbiddenInPath(byte: number): boolean {
  return byte <= 0x20 || byte === 0x25 || byte === 0x2e || byte === 0x2f || byte === 0x40 || byte === 0x5c || byte >= 0x7f;
}

/** `raw` when it is a same-origin path by the grammar above, else null. */
export function safeLocalPath(raw: unknown, maxLength = MAX_LOCAL_PATH): string | null {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > maxLength) return null;
  // Must begin with exactly one "/": not "//evil" (scheme-relative), not "https:", "javascript:", "data:" or a relative path.
  if (raw[0] !== "/" || raw[1] === "/") return null;

  const cut = raw.search(/[?#]/);
  const path = cut === -1 ? raw : raw.slice(0, cut);
  const rest = cut === -1 ? "" : raw.slice(cut);

  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch === "%") {
      const byte = hexByte(path, i + 1);
      if (byte === null || forbiddenInPath(byte)) return null;
      i += 2;
    } else if (!PATH_CHAR.test(ch)) {
      // Backslashes, whitespace, controls, U+2028, lone surrogates, "@" and any other non-ASCII character.
      return null;
    }
  }
  // No empty segments ("//" anywhere) and no dot segments: nothing for a resolver to collapse.
  const segments = path.split("/").slice(1);
  if (segments.some((s, i) => s === "." || s === ".." || (s === "" && i < segments.length - 1))) return null;

  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (ch === "%") {
      if (hexByte(rest, i + 1) === null) return null;
      i += 2;
    } else if (!QUERY_CHAR.test(ch)) {
      return null;
    }
  }

  // Belt and braces: the WHATWG parser must agree that this stays on our origin and keeps the path as given.
  const base = "http://local.invalid";
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return null;
  }
  if (url.origin !== base || url.pathname !== path) return null;
  return raw;
}

function hexByte(s: string, at: number): number | null {
  const hex = s.slice(at, at + 2);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? Number.parseInt(hex, 16) : null;
}
