import { describe, expect, it } from "vitest";
import { SignInThrottle } from "../../src/accounts/throttle.ts";

describe("SignInThrottle", () => {
  it("blocks an account after its limit of failures until the window passes, and forgets on success", () => {
    const t = new SignInThrottle({ perAccount: 3, perAddress: 100 }, 60_000);
    const now = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfter("A@x.io", "1.2.3.4", now + i)).toBe(0);
      t.failed("a@x.io ", "1.2.3.4", now + i);
    }
    expect(t.retryAfter("a@x.io", "5.6.7.8", now + 10)).toBe(60_000 - 10);
    expect(t.retryAfter("b@x.io", "1.2.3.4", now + 10)).toBe(0);
    expect(t.retryAfter("a@x.io", "1.2.3.4", now + 60_000)).toBe(0);
    t.failed("a@x.io", "1.2.3.4", now + 61_000);
    t.succeeded("a@x.io");
    expect(t.retryAfter("a@x.io", "1.2.3.4", now + 61_001)).toBe(0);
  });

  it("blocks an address that tries many accounts", () => {
    const t = new SignInThrottle({ perAccount: 100, perAddress: 5 }, 60_000);
    for (let i = 0; i < 5; i++) t.failed(`u${i}@x.io`, "9.9.9.9", 1000 + i);
    expect(t.retryAfter("fresh@x.io", "9.9.9.9", 2000)).toBeGreaterThan(0);
    expect(t.retryAfter("fresh@x.io", "8.8.8.8", 2000)).toBe(0);
  });
});
