/**
 * Slows password guessing: after too many failed sign-ins for one email (or
 * from one address) within a window, further attempts are refused until the
 * window has passed. Kept in memory: each instance counts its own attempts,
 * which still caps guessing at a small multiple per instance.
 */
export class SignInThrottle {
  private failures = new Map<string, number[]>();

  constructor(
    private readonly limits = { perAccount: 10, perAddress: 50 },
    private readonly windowMs = 15 * 60 * 1000,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Milliseconds until another attempt is allowed, or 0. */
  retryAfter(email: string, address: string, now = Date.now()): number {
    const checks: [string, number][] = [
      [`a:${email.trim().toLowerCase()}`, this.limits.perAccount],
      [`ip:${address}`, this.limits.perAddress],
    ];
    let wait = 0;
    for (const [key, limit] of checks) {
      const list = this.recent(key, now);
      if (list.length >= limit) wait = Math.max(wait, list[list.length - limit]! + this.windowMs - now);
    }
    return wait;
  }

  failed(email: string, address: string, now = Date.now()): void {
    for (const key of [`a:${email.trim().toLowerCase()}`, `ip:${address}`]) {
      const list = this.recent(key, now);
      list.push(now);
      this.failures.set(key, list);
    }
    // Bound the memory an attacker can make us hold.
    if (this.failures.size > 100_000) {
      for (const key of this.failures.keys()) {
        this.recent(key, now);
        if (this.failures.size <= 50_000) break;
      }
    }
  }

  succeeded(email: string): void {
    this.failures.delete(`a:${email.trim().toLowerCase()}`);
  }
}
