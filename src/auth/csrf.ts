import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { LiveSession } from "./sessions.ts";
import { randomToken, safeEqual } from "./tokens.ts";

/**
 * Form CSRF protection. Signed-in forms use the session's own token
 * (synchronizer pattern); signed-out forms (sign-in, sign-up) use a
 * double-submit cookie. Either way a form from another origin cannot know it.
 */
function preSessionCookieName(secure: boolean): string {
  return secure ? "__Host-sg_csrf" : "sg_csrf";
}

export function formCsrfToken(c: Context, session: LiveSession | null, secure: boolean): string {
  if (session) return session.csrfToken;
  const name = preSessionCookieName(secure);
  let token = getCookie(c, name);
  if (!token || !/^[\w-]{43}$/.test(token)) {
    token = randomToken();
    setCookie(c, name, token, { httpOnly: true, sameSite: "Lax", secure, path: "/" });
  }
  return token;
}

export function checkFormCsrf(
  c: Context,
  session: LiveSession | null,
  secure: boolean,
  issuerOrigin: string,
  submitted: unknown,
): boolean {
  // A browser sends Origin on every cross-origin POST; when it is there it must be ours.
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== issuerOrigin && origin !== new URL(c.req.url).origin) return false;
  if (typeof submitted !== "string" || !submitted) return false;
  const expected = session ? session.csrfToken : getCookie(c, preSessionCookieName(secure));
  return !!expected && safeEqual(submitted, expected);
}
