import { createHmac } from "node:crypto";
import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Db } from "../db/index.ts";
import { randomToken, safeEqual } from "../lib/crypto.ts";
import { KNOWN_DEVICE_TTL_S } from "../lib/lifetimes.ts";

/**
 * A browser the account's owner has signed in from before (OWASP's "device
 * cookie"). Its sign-in attempts are counted in a bucket of its own instead of
 * the account's (src/accounts/abuse-limits.ts), so an attacker who spends the
 * account's guesses, even without pause, does not keep the owner out of a
 * browser they used before; that browser has the same limit for itself.
 *
 * The cookie is `<nonce>.<mac>`, the MAC (HMAC-SHA256) keyed by the user's
 * password hash, which never leaves the server: nobody without the database
 * can make one, one account's cookie proves nothing for another, and a
 * password change retires them all.
 */

const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

/** `__Host-` binds the cookie to this exact origin; browsers accept it only with Secure. */
export function knownDeviceCookieName(secure: boolean): string {
  return secure ? "__Host-sg_device" : "sg_device";
}

function mac(user: { id: string; passwordHash: string }, nonce: string): string {
  return createHmac("sha256", user.passwordHash).update(`scopegate known device v1|${user.id}|${nonce}`).digest("base64url");
}

/** A cookie value for this user: the same nonce when the browser already had one, else a new one. */
export function knownDeviceToken(user: { id: string; passwordHash: string }, nonce: string = randomToken(18)): string {
  return `${nonce}.${mac(user, nonce)}`;
}

/** What the limits count this browser by for this user (`<user id>|<nonce>`), or null when the cookie is not this user's. */
export function knownDeviceKey(cookie: string | undefined, user: { id: string; passwordHash: string } | null): string | null {
  if (!cookie || !user || cookie.length > 200) return null;
  const [nonce = "", given = "", extra] = cookie.split(".");
  if (extra !== undefined || !NONCE.test(nonce) || !safeEqual(given, mac(user, nonce))) return null;
  return `${user.id}|${nonce}`;
}

/** The nonce part of a device key, to keep the browser's cookie stable across sign-ins. */
export function knownDeviceNonce(key: string | null): string | undefined {
  return key ? key.slice(key.indexOf("|") + 1) : undefined;
}

/** The device key of this request's cookie for the account the email names, or null. */
export async function knownDeviceFor(c: Context, prisma: Db, secure: boolean, email: string): Promise<string | null> {
  const cookie = getCookie(c, knownDeviceCookieName(secure));
  if (!cookie) return null;
  const user = await prisma.user.findUnique({ where: { email: email.trim().toLowerCase() }, select: { id: true, passwordHash: true } });
  return knownDeviceKey(cookie, user);
}

export function writeKnownDeviceCookie(c: Context, secure: boolean, value: string): void {
  // Only the sign-in form's own POST needs it: Strict keeps it off every cross-site request.
  setCookie(c, knownDeviceCookieName(secure), value, { httpOnly: true, sameSite: "Strict", secure, path: "/", maxAge: KNOWN_DEVICE_TTL_S });
}
