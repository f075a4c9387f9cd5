// Sessions are looked up by src/auth/request-session.ts; re-exported for the pages.
export { loadSession } from "../auth/request-session.ts";

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
