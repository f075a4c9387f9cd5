/**
 * The pieces of the property-based input test (test/integration/fuzz.test.ts,
 * issue 12 item 5): arbitraries for hostile values, encoders that can send what
 * a well-behaved client never would (lone surrogates, invalid UTF-8, broken
 * percent-encoding, duplicated keys, JSON nested thousands deep), and the oracle
 * every answer is held to.
 *
 * Values are symbolic where they name something the test set up (a client id,
 * a token): `Fx` is resolved against the fixtures when the request is built, so
 * a counterexample prints the same way on every run and can be replayed with
 * its seed.
 */
import fc from "fast-check";

// ---------------------------------------------------------------- symbolic values

/** A fixture by name (resolved when the request is sent), optionally with something appended. */
export class Fx {
  constructor(
    readonly name: string,
    readonly suffix = "",
  ) {}
  toString(): string {
    return `Fx(${this.name}${this.suffix ? ` + ${JSON.stringify(this.suffix)}` : ""})`;
  }
  [Symbol.for("fast-check/toStringMethod")](): string {
    return this.toString();
  }
}

/** JSON text sent as it is (nesting too deep to build as an object, a duplicated key). */
export class RawJson {
  constructor(
    readonly text: string,
    readonly label = text.length > 60 ? `${text.slice(0, 30)}…(${text.length} chars)` : text,
  ) {}
  [Symbol.for("fast-check/toStringMethod")](): string {
    return `RawJson(${this.label})`;
  }
}

/** An enum value: a bare name in a GraphQL literal, a string in JSON. */
export class EnumName {
  constructor(readonly name: string) {}
  [Symbol.for("fast-check/toStringMethod")](): string {
    return `Enum(${this.name})`;
  }
}

export type Fixtures = Record<string, string>;

/** A symbolic value with every Fx replaced by its fixture. */
export function resolve(value: unknown, fixtures: Fixtures): unknown {
  if (value instanceof Fx) {
    const v = fixtures[value.name];
    if (v === undefined) throw new Error(`no fixture ${value.name}`);
    return v + value.suffix;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, fixtures));
  if (value instanceof JsonEntries) return new JsonEntries(value.entries.map(([k, v]) => [k, resolve(v, fixtures)]));
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, fixtures)]));
  }
  return value;
}

export function resolveString(value: string | Fx, fixtures: Fixtures): string {
  return resolve(value, fixtures) as string;
}

// ---------------------------------------------------------------- hostile strings

export const LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"];

const b64url = (text: string) => Buffer.from(text).toString("base64url");

/** Cursors nobody handed out: base64url of the cursor format with odd content, and of other things. */
export const HOME_MADE_CURSORS = [
  b64url(JSON.stringify(["2026-02-30T00:00:00.000Z", "00000000-0000-0000-0000-000000000000"])),
  b64url(JSON.stringify(["+275760-09-13T00:00:00.000Z", "x"])),
  b64url(JSON.stringify(["2026-01-01T00:00:00.000Z", "\ud800"])),
  b64url(JSON.stringify(["2026-01-01T00:00:00.000Z", "a\u0000b"])),
  b64url(JSON.stringify(["2026-01-01T00:00:00.000Z", ["nested"]])),
  b64url(JSON.stringify(["2026-01-01T00:00:00.000Z"])),
  b64url(JSON.stringify({ at: "2026-01-01T00:00:00.000Z", id: "x" })),
  b64url("[".repeat(3000)),
  b64url("1e999"),
  b64url("\xff\xfe"),
  `${b64url(JSON.stringify(["2026-01-01T00:00:00.000Z", "x"]))}==`,
  "eyJ",
  "%%%",
];

/** Strings that mean something to some parser: numbers that are not, words, separators, encodings. */
const SPECIAL = [
  "",
  " ",
  "NaN",
  "Infinity",
  "-Infinity",
  "-0",
  "1e309",
  "-1e309",
  "9".repeat(400),
  "0x10",
  "1_000",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  '{"a":1}',
  "__proto__",
  "constructor",
  "hasOwnProperty",
  "%",
  "%zz",
  "%E0%A4%A",
  "%ED%A0%80",
  "%ED%BF%BF",
  "%C0%AF",
  "%FF%FE",
  "%u0000",
  "%00",
  "%2e%2e%2f",
  "..%2f..%2f",
  "\\u0000",
  "\\ud800",
  "a\u0000b",
  "\u0000",
  "\r\n",
  "\u2028",
  "\ufeff",
  "\u202e",
  "\ud83d\ude00",
  "e\u0301",
  "javascript:alert(1)",
  "//evil.example",
  "https://evil.example/callback",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "$where",
  "x".repeat(5_000),
  "\ud800".repeat(300),
  "é".repeat(3_000),
];

/** Long enough to cross every length limit; sent only in bodies (a URL this long is the HTTP server's 431). */
export const HUGE = ["x".repeat(70_000), "\u00e9\ud800".repeat(20_000)];

const piece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
  { weight: 2, arbitrary: fc.constantFrom(...LONE_SURROGATES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "\u0000",
      "\t",
      "\n",
      "%",
      "%zz",
      "%ED%A0%80",
      "%FF",
      "+",
      "&",
      "=",
      "#",
      "?",
      "/",
      "\\",
      "..",
      '"',
      "<",
      "{",
      "[",
      ";",
    ),
  },
);

/** One hostile string. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(piece, { maxLength: 5 }).map((a) => a.join("")) },
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.constantFrom(...HOME_MADE_CURSORS) },
);

/** A fixture, a fixture with something hostile appended, or a hostile string. */
export function fixtureOr(...names: string[]): fc.Arbitrary<string | Fx> {
  if (!names.length) return nastyString;
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...names).map((n) => new Fx(n)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...names), nastyString).map(([n, s]) => new Fx(n, s || "\ud800")) },
    { weight: 4, arbitrary: nastyString },
  );
}

/** JSON nested `depth` deep (arrays or objects), as text: too deep for JSON.stringify to be the one building it. */
export function deepJson(depth: number, kind: "array" | "object"): RawJson {
  const text = kind === "array" ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  return new RawJson(text, `${kind} nested ${depth} deep`);
}

/** Any JSON value, of any type, including numbers JSON cannot hold exactly and deep nesting. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1e21, 1e308, -1e308, 5e-324, 0.5, -0) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(nastyString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(nastyString, nastyString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(100, 3_000, 20_000).chain((d) => fc.constantFrom(deepJson(d, "array"), deepJson(d, "object"))) },
  { weight: 1, arbitrary: fc.constant(new RawJson('{"a":1,"a":2,"__proto__":{"polluted":true}}')) },
);

// ---------------------------------------------------------------- encoders

/**
 * The bytes of a string as UTF-8, except that a lone surrogate is written the
 * way a careless encoder writes it (ED A0 80 for U+D800: invalid UTF-8), not as
 * U+FFFD: what Buffer.from would do hides exactly the input under test.
 */
export function wtf8(text: string): Buffer {
  if (!LONE.test(text)) return Buffer.from(text);
  const parts: Buffer[] = [];
  for (const piece of text.split(LONE_SPLIT)) {
    const cu = piece.length === 1 ? piece.charCodeAt(0) : 0;
    if (cu >= 0xd800 && cu <= 0xdfff) parts.push(Buffer.from([0xe0 | (cu >> 12), 0x80 | ((cu >> 6) & 0x3f), 0x80 | (cu & 0x3f)]));
    else parts.push(Buffer.from(piece));
  }
  return Buffer.concat(parts);
}

const LONE = /\p{Cs}/u;
const LONE_SPLIT = /(\p{Cs})/u;

/** Percent-encodes every byte but the unreserved ones (lone surrogates as WTF-8 bytes). */
export function percentEncode(text: string): string {
  return text
    .split(LONE_SPLIT)
    .map((piece) =>
      LONE.test(piece)
        ? [...wtf8(piece)].map((b) => `%${b.toString(16).toUpperCase()}`).join("")
        : encodeURIComponent(piece).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("");
}

export type Entries = [string, string][];

/** application/x-www-form-urlencoded: properly encoded, or raw (what was generated goes out as it is). */
export function formBody(entries: Entries, raw: boolean): Buffer {
  const text = entries.map(([k, v]) => (raw ? `${k}=${v}` : `${percentEncode(k)}=${percentEncode(v)}`)).join("&");
  return wtf8(text);
}

/** A query string (without "?"); raw values go into the URL as generated, for the URL parser to deal with. */
export function queryString(entries: Entries, raw: boolean): string {
  return entries.map(([k, v]) => (raw ? `${k}=${v}` : `${percentEncode(k)}=${percentEncode(v)}`)).join("&");
}

/** JSON text of a value; keys repeat when given as entries (`JsonEntries`), RawJson goes in as it is. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof EnumName) return JSON.stringify(value.name);
  if (value instanceof JsonEntries) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(",")}}`;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
      .join(",")}}`;
  }
  // NaN and the infinities are not JSON: JSON.stringify writes null, a hand-made client might not.
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value) ?? "null";
}

/** A JSON object with its keys in order, repeats kept. */
export class JsonEntries {
  constructor(readonly entries: [string, unknown][]) {}
}

/** multipart/form-data with one part per entry. */
export function multipartBody(entries: Entries, boundary: string): Buffer {
  const parts = entries.map(([k, v]) =>
    Buffer.concat([wtf8(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n`), wtf8(v), Buffer.from("\r\n")]),
  );
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
}

/** A header value fetch will send (visible ASCII and spaces only). */
export function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, "").trim();
}

/** Bodies no encoder makes: invalid UTF-8, a BOM, truncated escapes, binary noise. */
export const RAW_BODIES: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from([0xc0, 0xaf, 0x3d, 0x31]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from("\ufeff{}"),
    Buffer.from('{"a":"\\ud800"}'),
    Buffer.from('{"a":"\\u00"}'),
    Buffer.from('{"a":1,}'),
    Buffer.from("{"),
    Buffer.from("[]"),
    Buffer.from("null"),
    Buffer.from('"text"'),
    Buffer.from("a=1&a=2&a[]=3&a[b]=4"),
    Buffer.from("=&&==&%"),
    Buffer.from(`--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n`),
    Buffer.alloc(0),
  ),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
);

/** Content types, right and wrong. */
export const CONTENT_TYPES = [
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=ISO-8859-1",
  "application/json",
  "application/json; charset=utf-16",
  "APPLICATION/JSON",
  "application/graphql",
  "application/graphql-response+json",
  "multipart/form-data",
  "multipart/form-data; boundary=",
  "text/plain",
  "application/xml",
  "application/octet-stream",
  "*/*",
  ";;;",
  "",
];

// ---------------------------------------------------------------- the oracle

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  ms: number;
}

/** Text that only an internal error would put in an answer: a stack frame, a source path, an exception's name. */
const LEAK =
  /\n\s+at |\bat [\w$.<>]+ \(|\.(?:ts|js|mjs|cjs):\d+|node_modules|file:\/\/|\b(?:Type|Range|Reference|Syntax|URI|Eval|Aggregate|Prisma\w*)Error\b|(?:^|["'>])Error: |Invalid `prisma|Unexpected error\./;

export function leaks(text: string): string | null {
  return LEAK.exec(text)?.[0] ?? null;
}

function jsonOf(a: Answer): unknown {
  try {
    return JSON.parse(a.text);
  } catch {
    return undefined;
  }
}

/** What is wrong with an answer of the OAuth API (JSON; errors with `error`), or null. */
export function apiProblem(a: Answer): string | null {
  if (a.status >= 300 && a.status < 400) return `a redirect (${a.headers.get("location")}) from the API`;
  if (a.status < 400) {
    if (a.text && jsonOf(a) === undefined) return "a success that is not JSON";
    return null;
  }
  if (!/json/i.test(a.headers.get("content-type") ?? "")) return `an error that is not JSON (${a.headers.get("content-type")})`;
  const body = jsonOf(a) as { error?: unknown } | undefined;
  if (typeof body?.error !== "string") return "an error without `error`";
  return null;
}

/** A redirect target a page may send the browser to: a path on this site. */
export function isLocalPath(location: string): boolean {
  return /^\/(?![/\\])/.test(location);
}

/**
 * What is wrong with a page's answer (HTML, or a redirect to a path on this
 * site or, for `registered`, to one of those exact URIs with `error` or `code`), or null.
 */
export function pageProblem(a: Answer, registered: string[] = [], other?: (a: Answer) => boolean): string | null {
  if (other?.(a)) return null;
  if (a.status >= 300 && a.status < 400) {
    const location = a.headers.get("location") ?? "";
    if (isLocalPath(location)) return null;
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return `a redirect to ${location}`;
    }
    if (!registered.includes(`${url.origin}${url.pathname}`)) return `a redirect off-site to ${location}`;
    if (!url.searchParams.has("error") && !url.searchParams.has("code")) return `a redirect without error or code: ${location}`;
    return null;
  }
  if (!/^text\/html/i.test(a.headers.get("content-type") ?? "")) return `a page answered ${a.headers.get("content-type")}`;
  return null;
}

/** What is wrong with a GraphQL answer (`errors`, each with a message, or `data`), or null. */
export function graphqlProblem(a: Answer, allowHtml: boolean): string | null {
  const type = a.headers.get("content-type") ?? "";
  if (/^text\/html/i.test(type)) return allowHtml && a.status === 200 ? null : `HTML with ${a.status}`;
  if (!/json/i.test(type)) return `an answer in ${type}`;
  const body = jsonOf(a) as { errors?: unknown; data?: unknown } | undefined;
  if (!body || typeof body !== "object") return "not a JSON object";
  if (body.errors !== undefined) {
    if (!Array.isArray(body.errors) || !body.errors.length) return "errors is not a non-empty list";
    for (const e of body.errors as { message?: unknown }[]) if (typeof e?.message !== "string") return "an error without a message";
    return null;
  }
  if (a.status >= 400) return `${a.status} without errors`;
  if (!("data" in body)) return "neither data nor errors";
  return null;
}

/**
 * What is wrong with an answer of the MCP endpoint (JSON-RPC 2.0: a response
 * with `result` or an `error` with a code and message, or a batch of them;
 * 202 with no body for notifications), or null.
 */
export function jsonRpcProblem(a: Answer): string | null {
  if (a.status === 202 && !a.text) return null;
  const type = a.headers.get("content-type") ?? "";
  if (!/json/i.test(type)) return `an answer in ${type || "no content type"}`;
  const body = jsonOf(a);
  const messages = Array.isArray(body) ? body : [body];
  if (!messages.length) return "an empty batch";
  for (const m of messages as { jsonrpc?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } }[]) {
    if (!m || typeof m !== "object") return "not a JSON-RPC message";
    if (m.jsonrpc !== "2.0") return "a message without jsonrpc 2.0";
    if ("error" in m) {
      if (!Number.isInteger(m.error?.code) || typeof m.error?.message !== "string") return "an error without an integer code and a message";
      // JSON-RPC's "Internal error" is its 500: the server's fault, never the answer to a client's bad input.
      if (m.error?.code === -32603) return "a JSON-RPC internal error (-32603)";
    } else if (!("result" in m)) return "neither result nor error";
    else if (a.status >= 400) return `${a.status} with a result`;
  }
  return null;
}

/**
 * What is wrong with an answer of the connector routes, or null: an error as
 * JSON (`error`, or the `detail` these routes have answered with) or, for a
 * browser, as a page; a redirect to a path on this site or to one of
 * `providers` (their authorization endpoints).
 */
export function connectorProblem(a: Answer, providers: string[]): string | null {
  if (a.status >= 300 && a.status < 400) {
    const location = a.headers.get("location") ?? "";
    if (isLocalPath(location) || providers.some((p) => location.startsWith(p))) return null;
    return `a redirect to ${location}`;
  }
  const type = a.headers.get("content-type") ?? "";
  if (a.status < 400) return /json/i.test(type) && jsonOf(a) !== undefined ? null : `a success in ${type}`;
  if (/^text\/html/i.test(type)) return null;
  if (!/json/i.test(type)) return `an error that is neither JSON nor a page (${type})`;
  const body = jsonOf(a) as { error?: unknown; detail?: unknown } | undefined;
  if (typeof body?.error === "string" || typeof body?.detail === "string" || Array.isArray(body?.detail)) return null;
  return "an error without `error` or `detail`";
}

/**
 * The oracle common to every surface: no 5xx (unless `documented`: an answer
 * the documentation gives for this case, such as 502 for a provider that does
 * not answer), answered in time, nothing internal shown; then the surface's own check.
 */
export function problem(a: Answer, surface: string | null, timeoutMs: number, documented = false): string | null {
  if (a.status >= 500 && !documented) return `status ${a.status}`;
  if (a.ms > timeoutMs) return `answered after ${Math.round(a.ms)} ms`;
  const leak = leaks(a.text);
  if (leak) return `the body shows ${JSON.stringify(leak)}`;
  return surface;
}
