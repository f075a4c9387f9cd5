import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { bucket, RateLimiter } from "../../src/db/rate-limit.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { currentKind } from "../helpers/kinds.ts";

// src/db/rate-limit.ts on a real database of each kind, without the HTTP and
// password-hash costs that test/integration/sign-in-limits.test.ts pays.

let t: TestDatabase;
let db: Database;
beforeAll(async () => {
  t = await createTestDatabase();
  db = await openDatabase(t.target);
});
afterAll(async () => {
  await db?.close();
  await t?.drop();
});

let n = 0;
const fresh = (policy = "test") => bucket(policy, `subject-${++n}-${Math.random()}`);
/** The attempts a bucket still counts. */
async function live(b: string): Promise<number> {
  const row = await db.prisma.rateLimitBucket.findUnique({ where: { bucket: b } });
  return (row?.hits ?? []).filter((h) => Number(h / 1_000_000n) > Date.now()).length;
}
/** An entry as src/db/rate-limit.ts writes it: expiry in ms * 1e6 + a tag. */
const entry = (expiresAtMs: number, tag = 7) => BigInt(expiresAtMs) * 1_000_000n + BigInt(tag);

describe("RateLimiter", () => {
  it("reserves exactly the limit out of many parallel attempts", async () => {
    const limiter = new RateLimiter(db.prisma);
    const b = fresh();
    const results = await Promise.all(Array.from({ length: 40 }, () => limiter.reserve([{ bucket: b, max: 10, windowSeconds: 60 }])));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    for (const r of results.filter((r) => !r.ok)) {
      expect(r).toMatchObject({ ok: false, bucket: b });
      // About the window (the 40 transactions themselves take a moment on a loaded machine).
      if (!r.ok) expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(40);
      if (!r.ok) expect(r.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    expect(await live(b)).toBe(10);
  });

  it.runIf(currentKind() === "postgres")("counts exactly across instances (two pools on one PostgreSQL)", async () => {
    const other = await openDatabase(t.target);
    try {
      const limiters = [new RateLimiter(db.prisma), new RateLimiter(other.prisma)];
      const b = fresh();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => limiters[i % 2]!.reserve([{ bucket: b, max: 10, windowSeconds: 60 }])),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(10);
    } finally {
      await other.close();
    }
  });

  it("reserves in every bucket or in none", async () => {
    const limiter = new RateLimiter(db.prisma);
    const [full, open] = [fresh(), fresh()];
    expect((await limiter.reserve([{ bucket: full, max: 1, windowSeconds: 60 }])).ok).toBe(true);
    const r = await limiter.reserve([
      { bucket: open, max: 5, windowSeconds: 60 },
      { bucket: full, max: 1, windowSeconds: 60 },
    ]);
    expect(r).toMatchObject({ ok: false, bucket: full });
    expect(await live(open)).toBe(0);
  });

  it("gives back released attempts and cleared buckets", async () => {
    const limiter = new RateLimiter(db.prisma);
    const b = fresh();
    const first = await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }]);
    const second = await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }]);
    expect((await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }])).ok).toBe(false);
    if (!first.ok || !second.ok) throw new Error("reserve");
    await limiter.release(first.held);
    expect((await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }])).ok).toBe(true);
    await limiter.clear(b);
    expect(await db.prisma.rateLimitBucket.count({ where: { bucket: b } })).toBe(0);
  });

  it("slides: room comes back when the oldest counted attempt leaves the window, and Retry-After says when", async () => {
    const limiter = new RateLimiter(db.prisma);
    const b = fresh();
    const now = Date.now();
    // Two attempts made 50 and 10 seconds ago, in a 60-second window.
    await db.prisma.rateLimitBucket.create({
      data: { bucket: b, hits: [entry(now + 10_000), entry(now + 50_000)], expiresAt: new Date(now + 50_000) },
    });
    const refused = await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }]);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(8);
    if (!refused.ok) expect(refused.retryAfterSeconds).toBeLessThanOrEqual(11);
    // Refused attempts are not recorded.
    expect(await live(b)).toBe(2);
    // The oldest one leaves the window: one attempt fits again, and the expired entry is dropped.
    await db.prisma.rateLimitBucket.update({ where: { bucket: b }, data: { hits: [entry(now - 1), entry(now + 50_000)] } });
    expect((await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }])).ok).toBe(true);
    expect((await limiter.reserve([{ bucket: b, max: 2, windowSeconds: 60 }])).ok).toBe(false);
    const row = await db.prisma.rateLimitBucket.findUnique({ where: { bucket: b } });
    expect(row!.hits).toHaveLength(2);
    expect(row!.hits[0]).toBe(entry(now + 50_000));
  });

  it("prunes buckets whose attempts have all expired, in batches", async () => {
    const limiter = new RateLimiter(db.prisma);
    const past = Date.now() - 1000;
    const future = Date.now() + 60_000;
    const expired = Array.from({ length: 5 }, () => ({ bucket: fresh("old"), hits: [entry(past)], expiresAt: new Date(past) }));
    const kept = { bucket: fresh("live"), hits: [entry(past), entry(future)], expiresAt: new Date(future) };
    await db.prisma.rateLimitBucket.createMany({ data: [...expired, kept] });
    expect(await limiter.prune()).toBeGreaterThanOrEqual(5);
    expect(await db.prisma.rateLimitBucket.count({ where: { expiresAt: { lte: new Date() } } })).toBe(0);
    expect(await live(kept.bucket)).toBe(1);
  });

  it("names buckets without storing what they count", () => {
    const b = bucket("sign-in:account", "ada@example.com");
    expect(b).toMatch(/^sign-in:account:[0-9a-f]{64}$|^sign-in:account:[A-Za-z0-9_-]{43}$/);
    expect(b).not.toContain("ada");
  });
});
