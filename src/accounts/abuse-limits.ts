import { bucket, type RateLimiter, type Reservation } from "../db/rate-limit.ts";

/**
 * The account pages' abuse limits (issue 12 item 2), counted in the database
 * by RateLimiter so that every instance sees the same counts:
 *
 * - sign-in: at most `perAccount` password checks for one email and
 *   `perAddress` from one client address in any `windowSeconds`. Each attempt
 *   is reserved before the password hash is computed, so guesses sent in
 *   parallel cannot all be checked. A successful sign-in gives its own
 *   reservation back and clears the account's failures; so the limits count
 *   failures, exactly.
 * - sign-up: at most `perAddress` account creations (attempts that reach the
 *   password hash) from one address in any `windowSeconds`.
 *
 * The per-account window is a sliding one of minutes: an attacker who spends
 * the account's guesses keeps the owner out until the oldest of them is
 * `windowSeconds` old, never longer, and refused attempts do not extend it.
 */

export interface AbuseLimitsConfig {
  signIn: { perAccount: number; perAddress: number; windowSeconds: number };
  signUp: { perAddress: number; windowSeconds: number };
}

export const DEFAULT_ABUSE_LIMITS: AbuseLimitsConfig = {
  signIn: { perAccount: 10, perAddress: 50, windowSeconds: 5 * 60 },
  signUp: { perAddress: 10, windowSeconds: 60 * 60 },
};

/** The account key: the email as sign-in looks it up. */
function accountKey(email: string): string {
  return email.trim().toLowerCase();
}

export type Refusal = { ok: false; retryAfterSeconds: number; reason: "account" | "address" };
export type Attempt = { ok: true; ids: bigint[] } | Refusal;

export class AccountAbuseLimits {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly config: AbuseLimitsConfig = DEFAULT_ABUSE_LIMITS,
  ) {}

  /** `address`: addressLimitKey(requestAddress(...)) from src/lib/client-address.ts. */
  async reserveSignIn(email: string, address: string): Promise<Attempt> {
    const { perAccount, perAddress, windowSeconds } = this.config.signIn;
    const account = bucket("sign-in:account", accountKey(email));
    return refusalOf(
      await this.limiter.reserve([
        { bucket: account, max: perAccount, windowSeconds },
        { bucket: bucket("sign-in:address", address), max: perAddress, windowSeconds },
      ]),
      account,
    );
  }

  /** The password was right: this attempt does not count, and neither do the account's earlier failures. */
  async signInSucceeded(attempt: { ids: bigint[] }, email: string): Promise<void> {
    await this.limiter.release(attempt.ids);
    await this.limiter.clear(bucket("sign-in:account", accountKey(email)));
  }

  async reserveSignUp(address: string): Promise<Attempt> {
    const { perAddress, windowSeconds } = this.config.signUp;
    return refusalOf(await this.limiter.reserve([{ bucket: bucket("sign-up:address", address), max: perAddress, windowSeconds }]), null);
  }

  /** The attempt was refused before any password was hashed (a field missing or invalid): give it back. */
  async notChecked(attempt: { ids: bigint[] }): Promise<void> {
    await this.limiter.release(attempt.ids);
  }
}

function refusalOf(r: Reservation, accountBucket: string | null): Attempt {
  if (r.ok) return r;
  return { ok: false, retryAfterSeconds: r.retryAfterSeconds, reason: r.bucket === accountBucket ? "account" : "address" };
}
