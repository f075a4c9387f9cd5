import { AuthorizeError } from "./context.ts";
import type { AuthorizationRequest } from "./validate.ts";

/**
 * Whether the user must sign in before this request can go on. prompt=login
 * is accepted but treated like no prompt: an existing session is used as it is.
 */
export type SignInStep<S> =
  | { kind: "signed-in"; session: S }
  /** send the user to sign in, then back to `returnQuery` (the request's query string) */
  | { kind: "sign-in"; reauthenticate: boolean; returnQuery: string }
  /** prompt=none and a sign-in is needed: login_required, back to the app */
  | { kind: "refused"; error: AuthorizeError };

export function signInStep<S extends { createdAt: Date }>(
  req: Pick<AuthorizationRequest, "prompt">,
  session: S | null,
  now: Date,
  query: string,
): SignInStep<S> {
  if (session) return { kind: "signed-in", session };
  if (req.prompt.has("none")) return { kind: "refused", error: new AuthorizeError("login_required", "The user is not signed in.") };
  return { kind: "sign-in", reauthenticate: false, returnQuery: signInReturnQuery(req, query, now) };
}

/** The request to come back to after signing in: as it was sent. */
export function signInReturnQuery(_req: Pick<AuthorizationRequest, "prompt">, query: string, _now: Date): string {
  return query;
}
