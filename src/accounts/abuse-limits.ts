import { bucket, type Held, type RateLimiter, type Reservation } from "../db/rate-limit.ts";

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
 * - every other password check (a signed-in user changing the password or
 *   deleting the account, src/accounts/password-change.ts and deletion.ts)
 *   spends the same budget as sign-in, per account and per address: a guess
 *   is a guess, wherever it is typed, so "at most `perAccount` guesses per
 *   account per window" holds across all three forms, and a stolen session
 *   or a self-made account cannot use these forms as an unlimited password
 *   oracle or to make the server compute hashes without end. The right
 *   password gives its own reservation back but, unlike a sign-in, does not
 *   clear the account's earlier failures: the user is signed in already, and
 *   so a burst of guesses with the right one among them still has at most
 *   `perAccount` checked. These forms have no known-browser count of their own: an
 *   attacker who spends the account's guesses keeps the owner from changing
 *   the password or deleting the account for at most `windowSeconds` (signing
 *   in from a known browser still works).
 * - sign-up: at most `perAddress` account creations (attempts that reach the
 *   password hash) from one address in any `windowSeconds`.
 *
 * The per-account window is a sliding one of minutes: an attacker who spends
 * the account's guesses keeps the owner out until the oldest of them is
 * `windowSeconds` old, never longer, and refused attempts do not extend it.
 * A browser the owner signed in from before (src/accounts/known-device.ts) is
 * counted apart from the account, with the same limit: however the attacker
 * keeps spending the account's guesses, it is not kept out at all.
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
export type Attempt = { ok: true; held: Held[] } | Refusal;

export class AccountAbuseLimits {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly config: AbuseLimitsConfig = DEFAULT_ABUSE_LIMITS,
  ) {}

  /**
   * `address`: addressLimitKey(requestAddress(...)) from src/lib/client-address.ts;
   * `device`: knownDeviceFor(...) from src/accounts/known-device.ts, null for a browser not known to this account.
   */
  async reserveSignIn(email: string, address: string, device: string | null = null): Promise<Attempt> {
    const { perAccount, perAddress, windowSeconds } = this.config.signIn;
    const account = device ? bucket("sign-in:device", device) : bucket("sign-in:account", accountKey(email));
    return refusalOf(
      await this.limiter.reserve([
        { bucket: account, max: perAccount, windowSeconds },
        { bucket: bucket("sign-in:address", address), max: perAddress, windowSeconds },
      ]),
      account,
    );
  }

  /** The password was right: this attempt does not count, and neither do the account's (and this browser's) earlier failures. */
  async signInSucceeded(attempt: { held: Held[] }, email: string, device: string | null = null): Promise<void> {
    await this.limiter.release(attempt.held);
    await this.limiter.clear(bucket("sign-in:account", accountKey(email)));
    if (device) await this.limiter.clear(bucket("sign-in:device", device));
  }

  /**
   * A signed-in user's password check (password change, account deletion): the
   * sign-in's per-account and per-address buckets, reserved before the hash.
   */
  reservePasswordCheck(email: string, address: string): Promise<Attempt> {
    return this.reserveSignIn(email, address, null);
  }

  /** The password checked by reservePasswordCheck was right: that attempt does not count (earlier failures still do). */
  passwordCheckSucceeded(attempt: { held: Held[] }): Promise<void> {
    return this.limiter.release(attempt.held);
  }

  async reserveSignUp(address: string): Promise<Attempt> {
    const { perAddress, windowSeconds } = this.config.signUp;
    return refusalOf(await this.limiter.reserve([{ bucket: bucket("sign-up:address", address), max: perAddress, windowSeconds }]), null);
  }

  /** The attempt was refused before any password was hashed (a field missing or invalid): give it back. */
  async notChecked(attempt: { held: Held[] }): Promise<void> {
    await this.limiter.release(attempt.held);
  }
}

function refusalOf(r: Reservation, accountBucket: string | null): Attempt {
  if (r.ok) return r;
  return { ok: false, retryAfterSeconds: r.retryAfterSeconds, reason: r.bucket === accountBucket ? "account" : "address" };
}

/**
 * What a signed-in password check (password change, account deletion) needs to
 * reserve its attempt: the limits and the asking address
 * (addressLimitKey(requestAddress(...)) from src/lib/client-address.ts).
 */
export interface PasswordCheckGuard {
  limits: AccountAbuseLimits;
  address: string;
}
