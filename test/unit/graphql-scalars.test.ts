// DateTime inputs: graphql-scalars decides what exists; we keep our messages and output.
import { describe, expect, it } from "vitest";
import { parseDateTime } from "../../src/graphql/builder.ts";

describe("DateTime input", () => {
  it("reads ISO-8601 date-times with an offset, seconds optional, into the instant they name", () => {
    const cases: [string, string][] = [
      ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"],
      ["2026-01-02T03:04Z", "2026-01-02T03:04:00.000Z"],
      ["2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05.123Z"],
      ["2026-01-02T03:04:05+02:00", "2026-01-02T01:04:05.000Z"],
      ["2026-01-02T03:04-01:30", "2026-01-02T04:34:00.000Z"],
      ["2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000Z"], // a leap day
      ["2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"], // divisible by 400: a leap year
    ];
    for (const [input, instant] of cases) expect(parseDateTime(input).toISOString(), input).toBe(instant);
  });

  it("refuses dates that do not exist instead of rolling them over", () => {
    for (const input of [
      "2026-02-30T00:00:00Z",
      "2026-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z", // divisible by 100, not by 400: no leap day
      "2026-04-31T08:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-00-10T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "2026-01-02T24:00:00Z",
      "2026-01-02T23:60:00Z",
      "2026-01-02T03:04:05+25:00",
      "2026-02-30T03:04Z",
    ]) {
      expect(() => parseDateTime(input), input).toThrow(`DateTime must be a date and time that exists; ${input} does not.`);
    }
  });

  it("refuses what is not a date-time with an offset, with the message it always had", () => {
    for (const input of ["2026-01-02", "Jan 2 2026", "2026-01-02T03:04:05", "2026-01-02 03:04:05Z", "", "now", 1767322800000, null, {}]) {
      expect(() => parseDateTime(input), String(input)).toThrow(
        "DateTime must be an ISO-8601 date and time with an offset, like 2026-01-02T03:04:05Z.",
      );
    }
  });
});
