import type { Context } from "hono";

/**
 * A submitted HTML form. Every page reads its forms through readForm, so a
 * field sent twice means the same thing everywhere: missing for one(), every
 * value for all() (checkboxes repeat).
 */
export class Form {
  constructor(
    private readonly fields: ReadonlyMap<string, readonly string[]> = new Map(),
    /** the fields sent more than once, in the order their second value came (when known) */
    private readonly repeats?: readonly string[],
  ) {}

  /** The fields sent more than once: in the order their second value came for an urlencoded body. */
  repeated(): string[] {
    return this.repeats ? [...this.repeats] : [...this.fields].filter(([, values]) => values.length > 1).map(([name]) => name);
  }

  /** The single value of a field; undefined when absent or sent more than once. */
  one(name: string): string | undefined {
    const v = this.fields.get(name);
    return v && v.length === 1 ? v[0] : undefined;
  }

  /** Every value of a field, in the order sent. */
  all(name: string): string[] {
    return [...(this.fields.get(name) ?? [])];
  }

  /** Every field and value, repeats included (fields in the order first sent). */
  entries(): [string, string][] {
    return [...this.fields].flatMap(([name, values]) => values.map((v): [string, string] => [name, v]));
  }

  /** A form from an urlencoded text (what a browser posts by default). */
  static fromUrlEncoded(body: string): Form {
    const fields = new Map<string, string[]>();
    const repeats: string[] = [];
    for (const [name, value] of new URLSearchParams(body)) {
      const list = fields.get(name);
      if (!list) fields.set(name, [value]);
      else if (list.push(value) === 2) repeats.push(name);
    }
    return new Form(fields, repeats);
  }
}

/** The request's media type: its Content-Type without parameters, in lower case ("" when there is none). */
export function mediaTypeOf(c: Context): string {
  return (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * The request's body as a JSON object, or what is wrong with it: not JSON, or
 * JSON that is not an object (an array, a string, null). Each endpoint words
 * its own refusal (RFC 6749's invalid_request, RFC 7591's invalid_client_metadata).
 */
export async function readJsonObject(
  c: Context,
): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; problem: "not_json" | "not_object" }> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return { ok: false, problem: "not_json" };
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return { ok: false, problem: "not_object" };
  return { ok: true, value: body as Record<string, unknown> };
}

/**
 * The request's form (urlencoded or multipart). Anything else, or a body that
 * cannot be read, reads as an empty form; uploaded files are ignored.
 */
export async function readForm(c: Context): Promise<Form> {
  const type = mediaTypeOf(c);
  if (type !== "application/x-www-form-urlencoded" && type !== "multipart/form-data") return new Form();
  const body = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
  const fields = new Map<string, string[]>();
  for (const [name, value] of Object.entries(body)) {
    fields.set(
      name,
      (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string"),
    );
  }
  return new Form(fields);
}
