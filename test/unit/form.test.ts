import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { Form, readForm } from "../../src/lib/form.ts";

/** What readForm makes of a request body, through a real Hono request. */
async function read(body: BodyInit, contentType?: string) {
  const app = new Hono();
  app.post("/", async (c) => {
    const form = await readForm(c);
    return c.json({ csrf: form.one("csrf") ?? null, keep: form.all("keep"), missing: form.all("missing") });
  });
  const headers = contentType ? { "content-type": contentType } : undefined;
  return (await app.request("/", { method: "POST", body, headers })).json();
}

describe("readForm", () => {
  it("reads a urlencoded form: one() for single fields, all() for repeated ones", async () => {
    const body = new URLSearchParams([
      ["csrf", "t"],
      ["keep", "data:read"],
      ["keep", "profile:read"],
    ]).toString();
    expect(await read(body, "application/x-www-form-urlencoded; charset=UTF-8")).toEqual({
      csrf: "t",
      keep: ["data:read", "profile:read"],
      missing: [],
    });
  });

  it("treats a field sent twice as missing for one()", async () => {
    expect((await read("csrf=a&csrf=b", "application/x-www-form-urlencoded")).csrf).toBeNull();
  });

  it("reads multipart forms and ignores uploaded files", async () => {
    const fd = new FormData();
    fd.append("csrf", "t");
    fd.append("keep", new Blob(["x"]), "file.txt");
    expect(await read(fd)).toEqual({ csrf: "t", keep: [], missing: [] });
  });

  it("reads anything else as an empty form", async () => {
    expect(await read(JSON.stringify({ csrf: "t" }), "application/json")).toEqual({ csrf: null, keep: [], missing: [] });
    expect(await read("csrf=t", "text/plain")).toEqual({ csrf: null, keep: [], missing: [] });
  });
});

describe("Form.repeated", () => {
  it("lists the fields sent more than once, in the order their second value came", () => {
    expect(Form.fromUrlEncoded("a=1&b=1&b=2&a=2&a=3&c=1").repeated()).toEqual(["b", "a"]);
    expect(Form.fromUrlEncoded("a=1&b=2").repeated()).toEqual([]);
  });
});
