import type { Context } from "hono";
import type { Db } from "../db/index.ts";
import { findAccountSession, readSessionCookie, type SignInSession } from "./sessions.ts";

/** The Hono variable in which a request's session is memoised. */
export type SessionEnv = { Variables: { session?: SignInSession | null } };

/** What looking up a session needs from the application. */
export interface SessionDeps {
  prisma: Db;
  config: { secureCookies: boolean };
}

/**
 * The request's account session, looked up once per request. Generic so that
 * routes whose middleware add variables (the page guard, the form check) can call it.
 */
export async function loadSession<E extends SessionEnv>(c: Context<E>, deps: SessionDeps): Promise<SignInSession | null> {
  const cached = c.get("session");
  if (cached !== undefined) return cached;
  const session = await findAccountSession(deps.prisma, readSessionCookie(c, deps.config.secureCookies));
  c.set("session", session);
  return session;
}
