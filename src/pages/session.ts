import type { MiddlewareHandler } from "hono";
import { loadSession } from "../accounts/request-session.ts";
import type { SignInSession } from "../accounts/sessions.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { safeLocalPath } from "../lib/local-path.ts";

// Sessions are looked up by src/accounts/request-session.ts; re-exported for the pages.
export { loadSession };

/** What a handler behind requireSession sees: the account session, known to be there. */
export type SignedInEnv = AppEnv & { Variables: { accountSession: SignInSession } };

/**
 * The guard of every signed-in page: without a session, a redirect to sign in
 * that comes back here (for a form post, to `formsReturnTo`, the page that
 * holds the form, since a post cannot be replayed by a redirect).
 */
export function requireSession<E extends SignedInEnv = SignedInEnv>(
  deps: AppDeps,
  opts: { formsReturnTo?: string } = {},
): MiddlewareHandler<E> {
  return async (c, next) => {
    const session = await loadSession(c, deps);
    if (session) {
      c.set("accountSession", session);
      return next();
    }
    const url = new URL(c.req.url);
    const back = c.req.method === "GET" || c.req.method === "HEAD" ? url.pathname + url.search : (opts.formsReturnTo ?? url.pathname);
    c.header("Cache-Control", "no-store");
    return c.redirect(`/login?return_to=${encodeURIComponent(back.length <= 1500 ? back : url.pathname)}`, 303);
  };
}

/** A local path to return to after sign-in (src/lib/local-path.ts says which); anything else becomes "/". */
export function safeReturnTo(value: unknown): string {
  return safeLocalPath(value) ?? "/";
}
