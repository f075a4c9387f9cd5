import { afterEach, describe, expect, it, vi } from "vitest";
import { AUDIT_BUFFER_MAX, AuditBuffer } from "../../src/audit/buffer.ts";
import type { Db, Sql } from "../../src/db/index.ts";
import { UnavailableError } from "../../src/lib/errors.ts";
import { createLogger } from "../../src/lib/log.ts";

const logger = createLogger("silent", false);

/**
 * A database the test answers by hand: each INSERT waits until the test
 * settles it (ok or failed); what was written is kept.
 */
function handDatabase() {
  const waiting: { ok: () => void; fail: () => void }[] = [];
  const written: string[] = [];
  const lastUsedUpdates: string[] = [];
  let lastUsedFails = 0;
  const sql = ((_text: string, values?: unknown[]) =>
    new Promise((resolve, reject) => {
      waiting.push({
        ok: () => {
          written.push(...((values?.[6] as string[]) ?? []));
          resolve([]);
        },
        fail: () => reject(new Error("connection timeout")),
      });
    })) as Sql;
  const prisma = {
    grant: {
      updateMany: async ({ where }: { where: { id: string } }) => {
        if (lastUsedFails > 0) {
          lastUsedFails--;
          throw new Error("connection timeout");
        }
        lastUsedUpdates.push(where.id);
        return { count: 1 };
      },
    },
  } as unknown as Db;
  /** waits for the write in progress to reach the database */
  const next = async () => {
    for (let i = 0; i < 100 && !waiting.length; i++) await new Promise((r) => setImmediate(r));
    const w = waiting.shift();
    if (!w) throw new Error("no write reached the database");
    return w;
  };
  return {
    sql,
    prisma,
    written,
    lastUsedUpdates,
    next,
    failLastUsedOnce: () => (lastUsedFails = 1),
    waiting: () => waiting.length,
  };
}

/** A request that would add an event: it checks for room first, as the routes do. */
function request(buffer: AuditBuffer, detail: string): "admitted" | "refused" {
  try {
    buffer.assertRoom();
  } catch (err) {
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).retryAfterSeconds).toBeGreaterThan(0);
    return "refused";
  }
  buffer.push({ action: "data.read", detail });
  return "admitted";
}

describe("AuditBuffer", () => {
  it("holds at most its cap: refuses (503, Retry-After) rather than drop an event while the database does not answer, and writes each once when it does", async () => {
    const db = handDatabase();
    const buffer = new AuditBuffer(db.prisma, db.sql, logger, { max: 3 });
    const admitted: string[] = [];
    let n = 0;
    const send = (count: number) => {
      for (let i = 0; i < count; i++) {
        const detail = `e${++n}`;
        if (request(buffer, detail) === "admitted") admitted.push(detail);
      }
    };

    send(10);
    expect(admitted).toEqual(["e1", "e2", "e3"]);
    expect(buffer.pending()).toBe(3);

    // Writes that hang, then fail: the events being written still count, so
    // requests during a write are refused too, and the buffer never grows past its cap.
    for (let attempt = 0; attempt < 5; attempt++) {
      const flushed = buffer.flush();
      const write = await db.next();
      expect(buffer.pending()).toBe(3);
      send(10);
      write.fail();
      await flushed;
      expect(buffer.pending()).toBe(3);
      send(10);
    }
    expect(admitted).toEqual(["e1", "e2", "e3"]);

    // The database answers: every event is written once, in order, and there is room again.
    const flushed = buffer.flush();
    (await db.next()).ok();
    await flushed;
    expect(db.written).toEqual(["e1", "e2", "e3"]);
    expect(buffer.pending()).toBe(0);
    send(1);
    expect(admitted).toHaveLength(4);
    expect(db.waiting()).toBe(0);
  });

  it(`holds ${AUDIT_BUFFER_MAX} events by default`, () => {
    const db = handDatabase();
    const buffer = new AuditBuffer(db.prisma, db.sql, logger);
    for (let i = 0; i < AUDIT_BUFFER_MAX - 1; i++) buffer.push({ action: "data.read" });
    expect(() => buffer.assertRoom()).not.toThrow();
    buffer.push({ action: "data.read" });
    expect(() => buffer.assertRoom()).toThrow(UnavailableError);
  });

  it("does not write an event twice when updating a grant's last use after it fails", async () => {
    const db = handDatabase();
    const buffer = new AuditBuffer(db.prisma, db.sql, logger, { max: 3 });
    buffer.push({ action: "data.read", grantId: "g1", detail: "e1" });
    buffer.grantUsed("g1");
    db.failLastUsedOnce();
    let flushed = buffer.flush();
    (await db.next()).ok();
    await flushed;
    expect(db.written).toEqual(["e1"]);
    expect(buffer.pending()).toBe(0);
    expect(db.lastUsedUpdates).toEqual([]);

    // The next flush retries the last use only.
    flushed = buffer.flush();
    await flushed;
    expect(db.waiting()).toBe(0);
    expect(db.written).toEqual(["e1"]);
    expect(db.lastUsedUpdates).toEqual(["g1"]);
  });

  describe("remembering when each grant's last use was written", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("writes a grant's last use at most once a minute, and forgets grants whose minute has passed instead of growing with every grant seen", async () => {
      vi.useFakeTimers({ toFake: ["Date"], now: new Date("2026-12-01T00:00:00Z") });
      const db = handDatabase();
      const buffer = new AuditBuffer(db.prisma, db.sql, logger);
      const grants = Array.from({ length: 1000 }, (_, i) => `g${i}`);
      for (const g of grants) buffer.grantUsed(g);
      await buffer.flush();
      expect(db.lastUsedUpdates).toHaveLength(1000);
      expect(buffer.lastUsedTracked()).toBe(1000);

      // Within the minute: used again, not written again; the entries still throttle, so they stay.
      vi.advanceTimersByTime(30_000);
      for (const g of grants) buffer.grantUsed(g);
      await buffer.flush();
      expect(db.lastUsedUpdates).toHaveLength(1000);
      expect(buffer.lastUsedTracked()).toBe(1000);

      // A minute on, other grants come and go: the old entries are dropped on a flush.
      vi.advanceTimersByTime(31_000);
      for (let round = 0; round < 5; round++) {
        buffer.grantUsed(`new${round}`);
        await buffer.flush();
        vi.advanceTimersByTime(61_000);
      }
      await buffer.flush();
      expect(buffer.lastUsedTracked()).toBeLessThanOrEqual(2);
      expect(db.lastUsedUpdates).toHaveLength(1005);

      // A grant forgotten is written again when next used, as its minute has passed anyway.
      buffer.grantUsed("g1");
      await buffer.flush();
      expect(db.lastUsedUpdates.at(-1)).toBe("g1");
      expect(db.lastUsedUpdates).toHaveLength(1006);
    });
  });
});
