import { AuthorizeError, param, type AuthorizeCheck } from "./context.ts";

/**
 * max_age (OIDC Core §3.1.2.1): the longest time in seconds since the user
 * last signed in that the app accepts; older and they sign in again
 * (sign-in.ts). A whole number, 0 included (0 asks for a sign-in every time).
 */
export const checkMaxAge: AuthorizeCheck = (ctx) => {
  const value = param(ctx, "max_age");
  if (value === undefined) return;
  if (!/^\d{1,10}$/.test(value)) {
    throw new AuthorizeError("invalid_request", "max_age must be a whole number of seconds (0 or more).");
  }
  ctx.maxAge = Number(value);
};
