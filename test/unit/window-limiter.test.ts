import { describe, expect, it } from "vitest";
import { type SyncRow, WindowLimiter } from "../../src/lib/window-limiter.ts";

const MINUTE = 60_000;
/** A window boundary (a whole number of minutes since the epoch). */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

function limiter(limit: number, maxKeys?: number) {
  const clock = { now: T0 };
  const l = new WindowLimiter({ name: "test", limit, maxKeys, now: () => clock.now });
  return { l, clock, at: (ms: number) => (clock.now = T0 + ms) };
}

/** Takes n requests; returns how many were admitted. */
function takeMany(l: WindowLimiter, subject: string, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (l.take(subject) === 0) admitted++;
  return admitted;
}

describe("WindowLimiter", () => {
  it("admits the limit within a window, refuses the next with Retry-After, and counts keys apart", () => {
    const { l, at } = limiter(5);
    at(10_000);
    expect(takeMany(l, "a", 5)).toBe(5);
    // Nothing in the previous window; this one is full: the wait runs into the next window
    // until this one's weight has fallen to 4/5: 50 s left here, then 12 s.
    expect(l.take("a")).toBe(62);
    expect(l.take("b")).toBe(0);
    at(10_000 + 61_000);
    expect(l.take("a")).toBeGreaterThan(0);
    at(10_000 + 62_000);
    expect(l.take("a")).toBe(0);
  });

  it("refused requests are not counted: knocking does not push the wait out", () => {
    const { l, at } = limiter(3);
    expect(takeMany(l, "a", 3)).toBe(3);
    const first = l.take("a");
    expect(takeMany(l, "a", 100)).toBe(0);
    expect(l.take("a")).toBe(first);
    at(first * 1000);
    expect(l.take("a")).toBe(0);
  });

  it("slides: at roll-over the previous window weighs by the part of it still within a minute", () => {
    const { l, at } = limiter(10);
    expect(takeMany(l, "a", 10)).toBe(10);
    at(MINUTE); // previous 10, weight 1
    expect(l.take("a")).toBe(6); // until 10 × (1 − t/60) + 1 ≤ 10
    at(MINUTE + 6_000); // weight 0.9: 9 + 1 fits
    expect(l.take("a")).toBe(0);
    expect(l.take("a")).toBe(6); // 9 + 1 + 1 > 10 until the weight is 0.8
    at(MINUTE + 12_000);
    expect(l.take("a")).toBe(0);
    at(MINUTE + 59_000); // weight 1/60: room for 10 − 2 − 0.17
    expect(takeMany(l, "a", 10)).toBe(7);
  });

  it("weighted: a request spends its weight of the budget, and is refused when the weight no longer fits", () => {
    const { l, at } = limiter(100);
    at(30_000);
    expect(l.take("a", 60)).toBe(0);
    expect(l.take("a", 30)).toBe(0);
    // 90 spent: a request of 20 does not fit, one of 10 does; a refused weight is not counted
    const wait = l.take("a", 20);
    expect(wait).toBeGreaterThan(0);
    expect(l.take("a", 10)).toBe(0);
    expect(l.take("a", 1)).toBeGreaterThan(0);
    expect(l.take("b", 100)).toBe(0); // keys apart
    // Retry-After for the heavier request: 30 s left in this window, then until 100 × (1 − t/60) + 20 ≤ 100: 12 s
    expect(l.take("a", 20)).toBe(42);
    at(30_000 + 41_000);
    expect(l.take("a", 20)).toBeGreaterThan(0);
    at(30_000 + 42_000);
    expect(l.take("a", 20)).toBe(0);
  });

  it("weighted: Retry-After grows with the weight, and a weight over the whole budget counts as the budget", () => {
    const { l, at } = limiter(100);
    expect(l.take("a", 100)).toBe(0);
    at(MINUTE); // previous 100, weight 1: a request of w fits once 100 × (1 − t/60) + w ≤ 100
    expect(l.take("a", 10)).toBe(6);
    expect(l.take("a", 50)).toBe(30);
    // Over the budget: admitted only into an empty window, and then it fills it.
    at(3 * MINUTE);
    expect(l.take("a", 1_000)).toBe(0);
    expect(l.take("a", 1)).toBeGreaterThan(0);
  });

  it("weighted counts are what the sync sends and settles", () => {
    const { l, at } = limiter(1000);
    at(5_000);
    l.take("a", 400);
    l.take("a", 1);
    const rows: SyncRow[] = [];
    l.collect(rows);
    const current = rows.find((r) => r.windowStart === T0)!;
    expect(current.sent).toBe(401);
    l.settle(current, 900); // another instance spent 499 meanwhile
    expect(l.take("a", 100)).toBe(0);
    expect(l.take("a", 1)).toBeGreaterThan(0);
  });

  it("forgets a key's counts once a whole window has passed without it", () => {
    const { l, at } = limiter(4);
    expect(takeMany(l, "a", 4)).toBe(4);
    at(2 * MINUTE);
    expect(takeMany(l, "a", 5)).toBe(4);
  });

  it("holds at most maxKeys keys, dropping the one whose window started longest ago", () => {
    const { l, at } = limiter(2, 3);
    for (const k of ["a", "b", "c"]) expect(takeMany(l, k, 2)).toBe(2);
    at(MINUTE + 10_000);
    expect(l.take("a")).toBeGreaterThan(0); // still limited (2 × 5/6 + 1 > 2); entering this window moves "a" to the back
    expect(l.take("d")).toBe(0);
    expect(l.size).toBe(3);
    expect(l.evictions).toBe(1); // "b" was dropped while its window still counted
    expect(l.take("a")).toBeGreaterThan(0); // "a" was kept
    expect(takeMany(l, "b", 2)).toBe(2); // "b" starts again (fail open)
    expect(l.size).toBe(3);
  });

  it("a sync forgets keys whose two windows have passed", () => {
    const { l, at } = limiter(5);
    l.take("a");
    at(MINUTE);
    l.take("b");
    at(2 * MINUTE);
    const rows: SyncRow[] = [];
    l.collect(rows);
    expect(l.size).toBe(1); // "b" may still weigh as the previous window
    at(3 * MINUTE);
    l.collect([]);
    expect(l.size).toBe(0);
  });

  it("limit 0 is off: everything is admitted and nothing held", () => {
    const { l } = limiter(0);
    expect(takeMany(l, "a", 1000)).toBe(1000);
    expect(l.size).toBe(0);
    const rows: SyncRow[] = [];
    l.collect(rows);
    expect(rows).toEqual([]);
  });

  describe("sync", () => {
    it("sends what is pending once, and limits on the total every instance reached", () => {
      const { l, at } = limiter(10);
      at(5_000); // past the time the previous window is read back
      expect(takeMany(l, "a", 3)).toBe(3);
      const rows: SyncRow[] = [];
      l.collect(rows);
      expect(rows.map((r) => [r.entry.subject, r.windowStart, r.sent])).toEqual([["a", T0, 3]]);
      expect(l.take("a")).toBe(0); // counted while in flight: 4 here
      l.settle(rows[0]!, 9); // others sent 6
      // 9 known + 1 pending: full
      expect(l.take("a")).toBeGreaterThan(0);
      const next: SyncRow[] = [];
      l.collect(next);
      expect(next.map((r) => r.sent)).toEqual([1]); // only what came after the last sync
    });

    it("a failed sync leaves the counts pending for the next one", () => {
      const { l, at } = limiter(10);
      at(5_000);
      takeMany(l, "a", 4);
      const rows: SyncRow[] = [];
      l.collect(rows);
      l.settle(rows[0]!, null);
      expect(takeMany(l, "a", 10)).toBe(6); // still counted locally
      const again: SyncRow[] = [];
      l.collect(again);
      expect(again.map((r) => r.sent)).toEqual([10]);
    });

    it("reads back keys it holds even with nothing to send, and the previous window while others may still send it", () => {
      const { l, at } = limiter(10);
      at(59_000);
      l.take("a");
      const rows: SyncRow[] = [];
      l.collect(rows);
      l.settle(rows[0]!, 1);
      at(MINUTE + 1_000);
      l.take("a"); // rolls: the first window is now the previous one
      const next: SyncRow[] = [];
      l.collect(next);
      expect(next.map((r) => [r.windowStart - T0, r.sent])).toEqual([
        [MINUTE, 1],
        [0, 0],
      ]);
      l.settle(next[1]!, 10); // others filled the previous window
      l.settle(next[0]!, 1);
      expect(l.take("a")).toBeGreaterThan(0); // 10 × 59/60 + 1 + 1 > 10
      at(MINUTE + 5_000);
      const later: SyncRow[] = [];
      l.collect(later);
      expect(later.map((r) => [r.windowStart - T0, r.sent])).toEqual([[MINUTE, 0]]);
    });

    it("a row that comes back after its key rolled into the next window updates the previous window", () => {
      const { l, at } = limiter(10);
      at(59_500);
      takeMany(l, "a", 2);
      const rows: SyncRow[] = [];
      l.collect(rows);
      at(MINUTE + 100);
      l.take("a"); // rolls while the row is in flight
      l.settle(rows[0]!, 10);
      // previous 10 × (1 − 0.1/60) + 1 + 1 > 10
      expect(l.take("a")).toBeGreaterThan(0);
    });
  });
});
