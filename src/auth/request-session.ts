import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { findAccountSession, readSessionCookie, type LiveSession } from "./sessions.ts";

/** The request's account session, looked up once per request. */
export async function loadSession(c: Context<AppEnv>, deps: AppDeps): Promise<LiveSession | null> {
  const cached = c.get("session");
  if (cached !== undefined) return cached;
  const session = await findAccountSession(deps.prisma, readSessionCookie(c, deps.config.secureCookies));
  c.set("session", session);
  return session;
}

