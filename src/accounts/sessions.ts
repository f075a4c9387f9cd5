import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Db } from "../db/index.ts";
import type { AccountSession, User } from "../generated/prisma/client.ts";
import { randomToken, sha256 } from "../lib/crypto.ts";
import { ACCOUNT_SESSION_TTL_MS } from "../lib/lifetimes.ts";

const LAST_SEEN_RESOLUTION_MS = 5 * 60 * 1000;

/** `__Host-` binds the cookie to this exact origin; browsers accept it only with Secure. */
export function sessionCookieName(secure: boolean): string {
  return secure ? "__Host-sg_session" : "sg_session";
}

export type SignInSession = AccountSession & { user: User };

export async function createAccountSession(
  prisma: Db,
  userId: string,
  userAgent: string | undefined,
): Promise<{ token: string; session: AccountSession }> {
  const token = randomToken();
  const session = await prisma.accountSession.create({
    data: {
      tokenHash: sha256(token),
      userId,
      csrfToken: randomToken(),
      userAgent: userAgent?.slice(0, 300),
      expiresAt: new Date(Date.now() + ACCOUNT_SESSION_TTL_MS),
    },
  });
  return { token, session };
}

export async function findAccountSession(prisma: Db, token: string | undefined): Promise<SignInSession | null> {
  if (!token || token.length > 200) return null;
  const session = await prisma.accountSession.findUnique({
    where: { tokenHash: sha256(token) },
    include: { user: true },
  });
  if (!session || session.revokedAt || session.expiresAt <= new Date()) return null;
  if (Date.now() - session.lastSeenAt.getTime() > LAST_SEEN_RESOLUTION_MS) {
    await prisma.accountSession.update({ where: { id: session.id }, data: { lastSeenAt: new Date() } });
  }
  return session;
}

export async function revokeAccountSession(prisma: Db, sessionId: string): Promise<void> {
  await prisma.accountSession.updateMany({
    where: { id: sessionId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
}

export function readSessionCookie(c: Context, secure: boolean): string | undefined {
  return getCookie(c, sessionCookieName(secure));
}

export function writeSessionCookie(c: Context, secure: boolean, token: string): void {
  setCookie(c, sessionCookieName(secure), token, {
    httpOnly: true,
    sameSite: "Lax",
    secure,
    path: "/",
    maxAge: ACCOUNT_SESSION_TTL_MS / 1000,
  });
}

export function clearSessionCookie(c: Context, secure: boolean): void {
  deleteCookie(c, sessionCookieName(secure), { path: "/", secure, httpOnly: true, sameSite: "Lax" });
}
