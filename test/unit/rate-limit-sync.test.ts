// RateLimitSync's own rules, with a stand-in for the database: what it sends,
// in how many statements, and what a failure leaves. The SQL itself runs on
// both database kinds in test/integration/rate-limits*.test.ts.
import { describe, expect, it } from "vitest";
import type { Sql } from "../../src/db/index.ts";
import { RateLimitSync } from "../../src/db/rate-limit-windows.ts";
import { WindowLimiter } from "../../src/lib/window-limiter.ts";

const T0 = Date.UTC(2026, 10, 30, 12, 0, 10);

/** A database that keeps totals per key and window, as the upsert does. */
function fakeDatabase() {
  const totals = new Map<string, number>();
  const statements: { keys: string[]; sent: number[] }[] = [];
  let failing = false;
  const sql = (async (_text: string, values?: unknown[]) => {
    const [keys, windows, sent] = values as [string[], string[], number[]];
    if (failing) throw new Error("connection refused");
    statements.push({ keys, sent });
    return keys.map((k, i) => {
      const id = `${k}@${windows[i]}`;
      totals.set(id, (totals.get(id) ?? 0) + sent[i]!);
      return { ord: i + 1, count: totals.get(id)! };
    });
  }) as Sql;
  return { sql, statements, totals, fail: (on: boolean) => (failing = on) };
}

function logger() {
  const warnings: string[] = [];
  return { warnings, warn: (_obj: unknown, msg?: string) => void warnings.push(msg ?? "") };
}

describe("RateLimitSync", () => {
  it("sends each count once, keyed by limit and subject, and nothing when nothing is held", async () => {
    const db = fakeDatabase();
    const l = new WindowLimiter({ name: "token:client", limit: 100, now: () => T0 });
    const sync = new RateLimitSync(db.sql, [l], logger(), { now: () => T0 });
    await sync.sync();
    expect(db.statements).toHaveLength(0);
    for (let i = 0; i < 3; i++) l.take("c1");
    await sync.sync();
    await sync.sync();
    expect(db.statements.map((s) => [s.keys, s.sent])).toEqual([
      [["token:client:c1"], [3]],
      [["token:client:c1"], [0]], // read back only
    ]);
  });

  it("when the database fails, the counts wait for the next sync, and the failure is logged once a minute", async () => {
    const db = fakeDatabase();
    const log = logger();
    const l = new WindowLimiter({ name: "graphql:token", limit: 100, now: () => T0 });
    const sync = new RateLimitSync(db.sql, [l], log, { now: () => T0 });
    l.take("g1");
    l.take("g1");
    db.fail(true);
    await sync.sync();
    l.take("g1");
    await sync.sync();
    expect(log.warnings).toHaveLength(1);
    db.fail(false);
    await sync.sync();
    expect(db.statements.map((s) => s.sent)).toEqual([[3]]);
    expect([...db.totals.values()]).toEqual([3]);
  });

  it("many keys go in statements of at most 5,000 rows", async () => {
    const db = fakeDatabase();
    const l = new WindowLimiter({ name: "graphql:session", limit: 100, now: () => T0 });
    for (let i = 0; i < 12_000; i++) l.take(`s${i}`);
    await new RateLimitSync(db.sql, [l], logger(), { now: () => T0 }).sync();
    expect(db.statements.map((s) => s.keys.length)).toEqual([5_000, 5_000, 2_000]);
  });

  it("says when a limit dropped keys that still counted", async () => {
    const db = fakeDatabase();
    const log = logger();
    const l = new WindowLimiter({ name: "token:client", limit: 100, maxKeys: 2, now: () => T0 });
    for (const k of ["a", "b", "c"]) l.take(k);
    await new RateLimitSync(db.sql, [l], log, { now: () => T0 }).sync();
    expect(log.warnings).toEqual([expect.stringMatching(/dropped/)]);
  });
});
