import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import { findAccountSession, readSessionCookie, type LiveSession } from "../auth/sessions.ts";

/** The request's account session, looked up once per request. */
export async function loadSession(c: Context<AppEnv>, deps: AppDeps): Promise<LiveSession | null> {
  const cached = c.get("session");
  if (cached !== undefined) return cached;
  const session = await findAccountSession(deps.prisma, readSessionCookie(c, deps.config.secureCookies));
  c.set("session", session);
  return session;
}

/** A local path to return to after sign-in; anything else (other hosts, `//x`, `/\x`) becomes "/". */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== "string" || value.length > 2000) return "/";
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  if (/[\u0000-\u001f\\]/.test(value)) return "/";
  try {
    const u = new URL(value, "http://local.invalid");
    if (u.origin !== "http://local.invalid") return "/";
    return u.pathname + u.search + u.hash;
  } catch {
    return "/";
  }
}
