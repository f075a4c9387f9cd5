import { describe, expect, it } from "vitest";
import {
  currentKey,
  DEFAULT_ROTATION,
  isPublished,
  nextKey,
  RETIRED_KEY_PUBLISHED_MS,
  rotationDue,
  signsAt,
  type KeyTimes,
  type RotationSchedule,
} from "../../src/oauth/key-schedule.ts";

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2026, 0, 1);

interface Key extends KeyTimes {
  kid: string;
}
const key = (kid: string, createdAt: number, activatesAt: number | null = null, retiredAt: number | null = null): Key => ({
  kid,
  createdAt: new Date(createdAt),
  activatesAt: activatesAt === null ? null : new Date(activatesAt),
  retiredAt: retiredAt === null ? null : new Date(retiredAt),
});

const schedule: RotationSchedule = { rotateAfterMs: 90 * D, publishBeforeUseMs: D };

describe("the signing-key schedule", () => {
  it("defaults to a new key every 90 days, published a day before it signs; a retired key stays published 25 hours", () => {
    expect(DEFAULT_ROTATION).toEqual({ rotateAfterMs: 90 * D, publishBeforeUseMs: D });
    expect(RETIRED_KEY_PUBLISHED_MS).toBe(25 * H); // the longest access token (a day) plus an hour
  });

  it("a key signs from activatesAt (createdAt when null) until retiredAt; the current key is the one that started last", () => {
    const a = key("a", T0);
    const b = key("b", T0 + 90 * D, T0 + 91 * D);
    a.retiredAt = b.activatesAt;
    expect(currentKey([a, b], T0)?.kid).toBe("a");
    expect(currentKey([a, b], T0 + 91 * D - 1)?.kid).toBe("a");
    expect(nextKey([a, b], T0 + 91 * D - 1)?.kid).toBe("b");
    expect(signsAt(b, T0 + 91 * D - 1)).toBe(false);
    expect(currentKey([a, b], T0 + 91 * D)?.kid).toBe("b");
    expect(signsAt(a, T0 + 91 * D)).toBe(false);
    expect(nextKey([a, b], T0 + 91 * D)).toBeUndefined();
    // retired by hand, no successor: nothing signs (the store then creates a key)
    expect(currentKey([key("c", T0, null, T0 + H)], T0 + H)).toBeUndefined();
  });

  it("is published before it signs and until its last token has expired", () => {
    const next = key("n", T0, T0 + D);
    expect(isPublished(next, T0)).toBe(true);
    const retired = key("r", T0 - 90 * D, null, T0);
    expect(isPublished(retired, T0 + RETIRED_KEY_PUBLISHED_MS - 1)).toBe(true);
    expect(isPublished(retired, T0 + RETIRED_KEY_PUBLISHED_MS)).toBe(false);
    // retired in the future (its successor is waiting): published throughout
    expect(isPublished(key("c", T0, null, T0 + D), T0 + D + RETIRED_KEY_PUBLISHED_MS - 1)).toBe(true);
  });

  it("a key that has signed for rotateAfterMs gets a successor that signs publishBeforeUseMs later; one at a time", () => {
    const a = key("a", T0 - 5 * D, T0); // signing since T0
    expect(rotationDue([a], T0 + 90 * D - 1, schedule)).toBeNull();
    const plan = rotationDue([a], T0 + 90 * D, schedule);
    expect(plan).toEqual({ current: a, activatesAt: new Date(T0 + 91 * D) });
    // the successor is waiting: nothing more to do, however late
    const b = key("b", T0 + 90 * D, T0 + 91 * D);
    a.retiredAt = b.activatesAt;
    for (const t of [T0 + 90 * D, T0 + 90.5 * D, T0 + 91 * D - 1]) expect(rotationDue([a, b], t, schedule)).toBeNull();
    // b's age counts from when it starts signing
    expect(rotationDue([a, b], T0 + 181 * D - 1, schedule)).toBeNull();
    expect(rotationDue([a, b], T0 + 181 * D, schedule)?.current.kid).toBe("b");
    // off: never; nothing signing: not rotation's job
    expect(rotationDue([a], T0 + 1000 * D, { ...schedule, rotateAfterMs: null })).toBeNull();
    expect(rotationDue([], T0, schedule)).toBeNull();
  });

  it("over three years at any hour: one key signs at every moment, each is published a day before it signs and 25 hours after", () => {
    // The store's rule, played with a clock: at each check, rotate if due.
    const keys: Key[] = [key("k0", T0)];
    const s: RotationSchedule = { rotateAfterMs: 30 * D, publishBeforeUseMs: 2 * H };
    const broken: string[] = [];
    for (let t = T0; t < T0 + 3 * 365 * D; t += H) {
      const plan = rotationDue(keys, t, s);
      if (plan) {
        plan.current.retiredAt = plan.activatesAt;
        keys.push(key(`k${keys.length}`, t, plan.activatesAt.getTime()));
      }
      const signing = keys.filter((k) => signsAt(k, t)).length;
      const published = keys.filter((k) => isPublished(k, t)).length;
      if (signing !== 1 || published > 3) broken.push(`${new Date(t).toISOString()}: ${signing} signing, ${published} published`);
    }
    expect(broken).toEqual([]);
    expect(keys.length).toBeGreaterThanOrEqual(36);
    for (const k of keys.slice(1)) {
      // published at creation, signing publishBeforeUseMs later
      expect(k.activatesAt!.getTime() - k.createdAt.getTime()).toBe(s.publishBeforeUseMs);
      expect(isPublished(k, k.createdAt.getTime())).toBe(true);
    }
    for (const k of keys.filter((x) => x.retiredAt)) {
      const stopped = k.retiredAt!.getTime();
      expect(isPublished(k, stopped + RETIRED_KEY_PUBLISHED_MS - 1)).toBe(true);
      // each key signed for its 30 days (checked hourly, so within the hour after)
      const signed = stopped - (k.activatesAt ?? k.createdAt).getTime();
      expect(signed).toBeGreaterThanOrEqual(30 * D + s.publishBeforeUseMs);
      expect(signed).toBeLessThan(30 * D + s.publishBeforeUseMs + H);
    }
  });
});
