/**
 * The one cursor codec of every paged list (GraphQL connections, the activity
 * page): a cursor marks a position in a newest-first list, the row's time and
 * id, as base64url of the JSON `[ISO time, id]`. That is the format cursors
 * have always had, so cursors handed out before keep working.
 *
 * A cursor only positions a read inside the caller's own rows (every query is
 * scoped by user), so there is nothing to sign; but whatever comes back is
 * checked to the byte before it reaches a query: a cursor we did not make,
 * however it was made, is an invalid_input DomainError on `after` (the API's BAD_USER_INPUT), never a
 * database error.
 */
import { type DomainError, invalidInput } from "./errors.ts";

export interface Position {
  at: Date;
  id: string;
}

function notOurCursor(): DomainError {
  return invalidInput("after", "after is not a cursor from this API.");
}

// What encodeCursor makes: base64url without padding, of a bounded JSON text.
const MAX_CURSOR_LENGTH = 200;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Date#toISOString() for years 0000-9999, the only form we write.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// Row ids are UUIDs; any plain identifier up to 64 characters is accepted.
const ROW_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString("base64url");
}

/** The position a cursor from encodeCursor marks; invalid_input for anything else. */
export function decodeCursor(cursor: string): Position {
  if (typeof cursor === "string" && cursor.length <= MAX_CURSOR_LENGTH && BASE64URL.test(cursor)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    } catch {
      parsed = null;
    }
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [time, id] = parsed as unknown[];
      if (typeof time === "string" && typeof id === "string" && ISO_TIME.test(time) && ROW_ID.test(id)) {
        const at = new Date(time);
        // A real instant written exactly as we write it (no 30 February, no rollover),
        // and the cursor exactly as we would encode it (no second spelling of the same bytes).
        if (!Number.isNaN(at.getTime()) && at.toISOString() === time && encodeCursor({ at, id }) === cursor) return { at, id };
      }
    }
  }
  throw notOurCursor();
}

/** Decodes an optional cursor: null, undefined and "" mean the start of the list (as in Pothos' relay helpers). */
export function decodeOptionalCursor(cursor: string | null | undefined): Position | null {
  return cursor === null || cursor === undefined || cursor === "" ? null : decodeCursor(cursor);
}

export interface Page<T> {
  rows: { row: T; cursor: string }[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** A page from rows read with one extra (limit `take + 1`): the extra row only says that more follow. */
export function pageOf<T>(rows: T[], take: number, positionOf: (row: T) => Position): Page<T> {
  const page = rows.slice(0, take).map((row) => ({ row, cursor: encodeCursor(positionOf(row)) }));
  return { rows: page, hasNextPage: rows.length > take, endCursor: page.at(-1)?.cursor ?? null };
}
