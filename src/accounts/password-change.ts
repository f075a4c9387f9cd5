import type { Db } from "../db/index.ts";
import type { PasswordCheckGuard, Refusal } from "./abuse-limits.ts";
import { MAX_PASSWORD_LENGTH, passwordProblem } from "./password-rules.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";

export type PasswordChangeErrors = Partial<Record<"currentPassword" | "newPassword" | "form", string>>;

export type PasswordChangeResult =
  | { ok: true /** how many other sign-ins were ended */; endedSessions: number }
  | { ok: false; errors: PasswordChangeErrors }
  /** too many password guesses for this account or from this address (429 with Retry-After) */
  | { ok: false; limited: Refusal };

/**
 * Changes a user's password after checking the current one, and ends every
 * other account session of the user (other browsers, other devices), keeping
 * `keepSessionId` (the one making the change). OAuth grants are not touched:
 * apps the user connected keep working (they are managed under Connected apps).
 *
 * The current password is a guess like any sign-in: an attempt is reserved in
 * the sign-in's per-account and per-address buckets (`guard`,
 * src/accounts/abuse-limits.ts) before it is hashed, so a stolen session cannot
 * guess without limit and then take the account over. Forms refused before the
 * hash (an empty field, a new password the rules refuse) do not count.
 */
export async function changePassword(
  prisma: Db,
  input: { userId: string; keepSessionId: string; currentPassword: unknown; newPassword: unknown },
  guard: PasswordCheckGuard,
): Promise<PasswordChangeResult> {
  const current = typeof input.currentPassword === "string" ? input.currentPassword : "";
  const next = typeof input.newPassword === "string" ? input.newPassword : "";
  if (!current) return { ok: false, errors: { currentPassword: "Enter your current password." } };
  if (current.length > MAX_PASSWORD_LENGTH) return { ok: false, errors: { currentPassword: "That is not your current password." } };
  if (!next) return { ok: false, errors: { newPassword: "Enter a new password." } };

  const user = await prisma.user.findUnique({ where: { id: input.userId }, select: { passwordHash: true, email: true, name: true } });
  if (!user) return { ok: false, errors: { form: "This account no longer exists." } };
  // The same rules as at sign-up, before the slow check of the current password.
  const problem = passwordProblem(next, { email: user.email, name: user.name });
  if (problem) return { ok: false, errors: { newPassword: problem } };
  const attempt = await guard.limits.reservePasswordCheck(user.email, guard.address);
  if (!attempt.ok) return { ok: false, limited: attempt };
  if (!(await verifyPassword(current, user.passwordHash))) {
    return { ok: false, errors: { currentPassword: "That is not your current password." } };
  }
  await guard.limits.passwordCheckSucceeded(attempt);
  if (next === current) return { ok: false, errors: { newPassword: "Choose a password different from your current one." } };

  const passwordHash = await hashPassword(next);
  return prisma.$transaction(async (tx) => {
    // Only over the hash we checked: of two concurrent changes, the second must re-enter the (new) current password.
    const { count } = await tx.user.updateMany({
      where: { id: input.userId, passwordHash: user.passwordHash },
      data: { passwordHash },
    });
    if (count === 0) return { ok: false as const, errors: { form: "Your password was changed meanwhile. Please try again." } };
    const ended = await tx.accountSession.updateMany({
      where: { userId: input.userId, id: { not: input.keepSessionId }, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return { ok: true as const, endedSessions: ended.count };
  });
}
