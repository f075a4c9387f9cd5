import { AuthorizeError, param, type AuthorizeCheck } from "./context.ts";

/**
 * When prompt=login or max_age sends the user to sign in, the request they
 * come back with has `login` taken out of prompt and this marker put in: "the
 * sign-in must be at or after this time" (Unix seconds). It is how the
 * endpoint knows that the sign-in it asked for has happened, without storing
 * the request: a session older than the marker is sent to sign in again
 * (sign-in.ts). Like the rest of the request it passes through the browser,
 * so whoever holds the browser can change it, just as they could have left
 * out prompt=login; the app's guarantee is auth_time in the ID token.
 */
export const LOGIN_MARKER = "sg_login_after";

/** A marker may be a little ahead of this instance's clock (another instance set it), not more. */
const CLOCK_SKEW_MS = 60_000;

export const checkLoginMarker: AuthorizeCheck = (ctx) => {
  const value = param(ctx, LOGIN_MARKER);
  if (value === undefined) return;
  const at = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  // A marker in the future could never be met: the user would be sent to sign in for ever.
  if (!(at <= ctx.now.getTime() + CLOCK_SKEW_MS)) {
    throw new AuthorizeError("invalid_request", `${LOGIN_MARKER} is not a time this server set; start the request again.`);
  }
  ctx.signedInAfter = at;
};
