// The one cursor codec of every paged list (src/lib/cursor.ts).
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/lib/errors.ts";
import { decodeCursor, decodeOptionalCursor, encodeCursor, pageOf } from "../../src/lib/cursor.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const ID = "c564451e-7ed2-40ed-a679-118c89628907";
const AT = "2026-03-01T07:12:30.000Z";

describe("cursor codec", () => {
  it("round-trips a position, and reads the cursors handed out before it existed", () => {
    const position = { at: new Date(AT), id: ID };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    // What pagination.ts and audit-log.ts wrote: base64url of JSON [ISO time, id].
    expect(decodeCursor(b64(JSON.stringify([AT, ID])))).toEqual(position);
  });

  it("treats a missing or empty cursor as the start of the list", () => {
    expect(decodeOptionalCursor(null)).toBeNull();
    expect(decodeOptionalCursor(undefined)).toBeNull();
    expect(decodeOptionalCursor("")).toBeNull();
  });

  it("refuses home-made and tampered cursors with an invalid_input DomainError on `after`, whatever they hold", () => {
    const good = encodeCursor({ at: new Date(AT), id: ID });
    const refused = [
      "garbage",
      "%%%",
      "a".repeat(10_000),
      `${good}=`, // padding: a second spelling of the same bytes
      `${good.slice(0, -1)}${good.at(-1) === "A" ? "B" : "A"}`, // one character changed
      `${good.slice(0, 4)}+${good.slice(5)}`, // outside the base64url alphabet
      b64(` ${JSON.stringify([AT, ID])}`), // JSON with whitespace: not what we write
      b64(JSON.stringify({ at: AT, id: ID })),
      b64(JSON.stringify([AT])),
      b64(JSON.stringify([AT, ID, "x"])),
      b64(JSON.stringify([1, ID])),
      b64(JSON.stringify([AT, 1])),
      b64(JSON.stringify(["x", "y"])),
      b64(JSON.stringify(["1", ID])), // new Date("1") is a valid date; not an ISO time
      b64(JSON.stringify(["2026-02-30T00:00:00.000Z", ID])), // 30 February rolls over to 2 March in JS
      b64(JSON.stringify(["2026-03-01T07:12:30Z", ID])), // not the form we write
      b64(JSON.stringify(["+275760-09-13T00:00:00.000Z", ID])), // beyond PostgreSQL's timestamps
      b64(JSON.stringify(["-271821-04-20T00:00:00.000Z", ID])),
      b64(JSON.stringify([AT, ""])),
      b64(JSON.stringify([AT, "a\u0000b"])), // PostgreSQL refuses NUL in text
      b64(JSON.stringify([AT, "\ud800"])), // a lone surrogate
      b64(JSON.stringify([AT, "x".repeat(65)])),
      b64(JSON.stringify([AT, "' OR 1=1 --"])),
      b64("null"),
      b64("["),
    ];
    for (const cursor of refused) {
      expect(() => decodeCursor(cursor), cursor.slice(0, 60)).toThrow(expect.objectContaining({ code: "invalid_input", field: "after" }));
      expect(() => decodeCursor(cursor)).toThrow(DomainError);
    }
    expect(() => decodeCursor(42 as unknown as string)).toThrow(DomainError);
  });

  it("builds a page from rows read with one extra", () => {
    const rows = [1, 2, 3].map((n) => ({ at: new Date(Date.UTC(2026, 0, 4 - n)), id: `id-${n}` }));
    const full = pageOf(rows, 2, (r) => r);
    expect(full.rows.map((r) => r.row.id)).toEqual(["id-1", "id-2"]);
    expect(full.hasNextPage).toBe(true);
    expect(full.endCursor).toBe(full.rows[1]!.cursor);
    expect(decodeCursor(full.endCursor!)).toEqual(rows[1]);
    expect(pageOf(rows.slice(0, 2), 2, (r) => r).hasNextPage).toBe(false);
    expect(pageOf([], 2, (r: { at: Date; id: string }) => r)).toEqual({ rows: [], hasNextPage: false, endCursor: null });
  });
});
