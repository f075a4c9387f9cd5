import { LOGIN_MARKER } from "./check-login-marker.ts";
import { AuthorizeError } from "./context.ts";
import type { AuthorizationRequest } from "./validate.ts";

/**
 * Whether the user's sign-in is good enough for this request (OIDC Core
 * §3.1.2.1): there is one; prompt=login asks for a new one; max_age for one
 * at most that many seconds old. The sign-in time is the session's start,
 * which becomes the code's auth_time and so the ID token's.
 */
export type SignInStep<S> =
  | { kind: "signed-in"; session: S }
  /**
   * Send the user to sign in, then back to `returnQuery` (the request's query
   * string). `reauthenticate`: they are signed in, and the sign-in page must
   * ask again rather than wave them through.
   */
  | { kind: "sign-in"; reauthenticate: boolean; returnQuery: string }
  /** prompt=none and a sign-in is needed: login_required, back to the app */
  | { kind: "refused"; error: AuthorizeError };

/**
 * How long a sign-in made for this very request (after its LOGIN_MARKER) meets
 * max_age however small: max_age=0 would otherwise send the user round again
 * for every second the trip back takes.
 */
const SIGN_IN_GRACE_SECONDS = 120;

export function signInStep<S extends { createdAt: Date }>(
  req: Pick<AuthorizationRequest, "prompt" | "maxAge" | "signedInAfter">,
  session: S | null,
  now: Date,
  query: string,
): SignInStep<S> {
  let why = "The user is not signed in.";
  if (session) {
    const stale = staleSignIn(req, session, now);
    if (!stale) return { kind: "signed-in", session };
    why = stale;
  }
  if (req.prompt.has("none")) return { kind: "refused", error: new AuthorizeError("login_required", why) };
  return { kind: "sign-in", reauthenticate: session !== null, returnQuery: signInReturnQuery(req, query, now) };
}

/** Why this session's sign-in will not do (an error_description), or null when it will. */
function staleSignIn(
  req: Pick<AuthorizationRequest, "prompt" | "maxAge" | "signedInAfter">,
  session: { createdAt: Date },
  now: Date,
): string | null {
  if (req.prompt.has("login")) return "The app asked for a new sign-in (prompt=login).";
  // In whole seconds, as auth_time and max_age count.
  const age = Math.floor(now.getTime() / 1000) - Math.floor(session.createdAt.getTime() / 1000);
  const signedInForThis = req.signedInAfter !== undefined && session.createdAt.getTime() >= req.signedInAfter;
  if (req.signedInAfter !== undefined && !signedInForThis) return "The user has not signed in again as this request asked.";
  if (req.maxAge !== undefined) {
    // max_age=0 is prompt=login (OIDC Core §3.1.2.1): only a sign-in made for this request will do.
    const young = req.maxAge > 0 && age <= req.maxAge;
    const justMade = signedInForThis && age <= SIGN_IN_GRACE_SECONDS;
    if (!young && !justMade) return "The user's sign-in is older than max_age allows.";
  }
  return null;
}

/**
 * The request to come back to after signing in. A plain request comes back
 * as it was sent. One that asked for a new sign-in (prompt=login, max_age)
 * comes back with `login` out of prompt and a LOGIN_MARKER in, so that the
 * sign-in the user just made counts instead of sending them round again.
 */
export function signInReturnQuery(req: Pick<AuthorizationRequest, "prompt" | "maxAge">, query: string, now: Date): string {
  if (!req.prompt.has("login") && req.maxAge === undefined) return query;
  const params = new URLSearchParams(query);
  const prompt = [...req.prompt].filter((p) => p !== "login");
  if (prompt.length) params.set("prompt", prompt.join(" "));
  else params.delete("prompt");
  params.set(LOGIN_MARKER, String(now.getTime()));
  return params.toString();
}
