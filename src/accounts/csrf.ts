import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { SignInSession } from "./sessions.ts";
import { randomToken, safeEqual } from "../lib/crypto.ts";

/**
 * Form CSRF protection. Signed-in forms use the session's own token
 * (synchronizer pattern); signed-out forms (sign-in, sign-up) use a
 * double-submit cookie. Either way a form from another origin cannot know it.
 */
/** What every refused form says (sign-in, sign-up, account pages, consent). */
export const CSRF_REFUSAL = "This form expired or came from another site. Nothing was changed: reload the page and try again.";

function preSessionCookieName(secure: boolean): string {
  return secure ? "__Host-sg_csrf" : "sg_csrf";
}

export function formCsrfToken(c: Context, session: SignInSession | null, secure: boolean): string {
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
  session: SignInSession | null,
  secure: boolean,
  issuerOrigin: string,
  submitted: unknown,
): boolean {
  // A browser sends Origin on every cross-origin POST; when it is there it must be ours.
  // Pages under Referrer-Policy: no-referrer (sign-in, consent) make the browser send
  // `Origin: null` on their own posts; so does a hostile page that asks for it, but
  // only our own page's post is also marked `Sec-Fetch-Site: same-origin` by the browser.
  const origin = c.req.header("origin");
  if (origin === "null") {
    if (c.req.header("sec-fetch-site") !== "same-origin") return false;
  } else if (origin !== undefined && origin !== issuerOrigin && origin !== new URL(c.req.url).origin) return false;
  if (typeof submitted !== "string" || !submitted) return false;
  const expected = session ? session.csrfToken : getCookie(c, preSessionCookieName(secure));
  return !!expected && safeEqual(submitted, expected);
}
