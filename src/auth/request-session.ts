import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { findAccountSession, readSessionCookie, type LiveSession } from "./sessions.ts";

/**
 * The request's account session, looked up once per request. Generic so that
 * routes whose middleware add variables (the page guard, the form check) can call it.
 */
export async function loadSession<E extends AppEnv>(c: Context<E>, deps: AppDeps): Promise<LiveSession | null> {
  const cached = c.get("session");
  if (cached !== undefined) return cached;
  const session = await findAccountSession(deps.prisma, readSessionCookie(c, deps.config.secureCookies));
  c.set("session", session);
  return session;
}

