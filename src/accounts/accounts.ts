import { z } from "zod";
import { Prisma } from "../generated/prisma/client.ts";
import type { User } from "../generated/prisma/client.ts";
import type { Db } from "../db/index.ts";
import { dummyPasswordHash, hashPassword, verifyPassword } from "./passwords.ts";
import { MAX_PASSWORD_LENGTH, passwordProblem } from "./password-rules.ts";

export { MAX_PASSWORD_LENGTH };

const email = z
  .string()
  .trim()
  .min(1, "Enter your email address.")
  .max(254, "That email address is too long.")
  .toLowerCase()
  .pipe(z.email("Enter a valid email address, like name@example.com."));

export const signUpInput = z.object({
  name: z.string().trim().min(1, "Enter your name.").max(100, "Keep your name under 100 characters."),
  email,
  // The rules for a new password need the email and name too: passwordProblem() in signUp.
  password: z.string(),
});

export type FieldErrors = Partial<Record<"name" | "email" | "password" | "form", string>>;

/** `hashed`: the refusal came after the (slow) password hash, so it counts against sign-up limits. */
export type SignUpResult = { ok: true; user: User } | { ok: false; errors: FieldErrors; hashed?: true };

function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const key = String(issue.path[0] ?? "form") as keyof FieldErrors;
    errors[key] ??= issue.message;
  }
  return errors;
}

export async function signUp(prisma: Db, raw: unknown): Promise<SignUpResult> {
  const parsed = signUpInput.safeParse(raw);
  const errors = parsed.success ? {} : fieldErrors(parsed.error);
  const r = (raw ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  if (!errors.password) {
    const problem = passwordProblem(text(r.password) ?? "", { email: text(r.email), name: text(r.name) });
    if (problem) errors.password = problem;
  }
  if (!parsed.success || Object.keys(errors).length) return { ok: false, errors };
  const { name, email, password } = parsed.data;
  try {
    const user = await prisma.user.create({
      data: { name, email, passwordHash: await hashPassword(password) },
    });
    return { ok: true, user };
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      return { ok: false, errors: { email: "An account with this email already exists. Sign in instead." }, hashed: true };
    }
    throw err;
  }
}

const signInInput = z.object({
  email: z.string().trim().max(254).toLowerCase(),
  password: z.string().max(MAX_PASSWORD_LENGTH),
});

export const BAD_CREDENTIALS = "That email and password don't match an account.";

/** One answer for an unknown email and a wrong password, in about the same time. */
export async function signIn(prisma: Db, raw: unknown): Promise<{ ok: true; user: User } | { ok: false; errors: FieldErrors }> {
  const parsed = signInInput.safeParse(raw);
  if (!parsed.success || !parsed.data.email || !parsed.data.password) {
    const errors: FieldErrors = {};
    const r = raw as Record<string, unknown> | null;
    if (!r || typeof r.email !== "string" || !r.email.trim()) errors.email = "Enter your email address.";
    if (!r || typeof r.password !== "string" || !r.password) errors.password = "Enter your password.";
    if (!errors.email && !errors.password) errors.form = BAD_CREDENTIALS;
    return { ok: false, errors };
  }
  const user = await prisma.user.findUnique({ where: { email: parsed.data.email } });
  const ok = await verifyPassword(parsed.data.password, user?.passwordHash ?? (await dummyPasswordHash()));
  if (!user || !ok) return { ok: false, errors: { form: BAD_CREDENTIALS } };
  return { ok: true, user };
}
