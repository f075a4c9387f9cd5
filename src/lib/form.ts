import type { Context } from "hono";

/**
 * A submitted HTML form. Every page reads its forms through readForm, so a
 * field sent twice means the same thing everywhere: missing for one(), every
 * value for all() (checkboxes repeat).
 */
export class Form {
  constructor(private readonly fields: ReadonlyMap<string, readonly string[]> = new Map()) {}

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
    for (const [name, value] of new URLSearchParams(body)) {
      const list = fields.get(name);
      if (list) list.push(value);
      else fields.set(name, [value]);
    }
    return new Form(fields);
  }
}

/**
 * The request's form (urlencoded or multipart). Anything else, or a body that
 * cannot be read, reads as an empty form; uploaded files are ignored.
 */
export async function readForm(c: Context): Promise<Form> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
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
