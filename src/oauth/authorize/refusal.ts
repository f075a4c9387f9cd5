import type { OAuthClient } from "../../generated/prisma/client.ts";
import type { AuthorizeError, AuthorizeErrorCode } from "./context.ts";

/**
 * How a refused authorization request is answered: the one place that decides
 * between sending the error back to the app (a redirect) and showing it on a
 * page at scopegate. Every refusal of the authorization endpoint comes through
 * here: the checks' (validate.ts), prompt=none's login_required and
 * consent_required, and the user's Deny (routes.ts).
 *
 * 1. The redirect URI is not yet matched to the client: a page, and nothing to
 *    go back to (RFC 6749 §4.1.2.1: never redirect to an unchecked URI); 429
 *    with Retry-After when the client could not be looked up for a limit.
 * 2. The client is unverified (it registered itself: RFC 7591 or a Client ID
 *    Metadata Document; `registeredFrom` is set, as the consent page marks it):
 *    a page that says what went wrong and names the app and the host it would
 *    go back to, with a plain link back (the redirect it would have been) that
 *    the user may follow. Anyone can make such a client with any redirect URI,
 *    so redirecting on its own would make scopegate a redirector to that site
 *    under scopegate's name: RFC 9700 §4.11.2's attack 1 (a request made to
 *    fail, say with a bogus scope) and attack 3 (prompt=none), before the user
 *    did anything. The same holds for Deny (attack 2): a user who denies may
 *    well deny because they do not trust the site, and must not be sent there
 *    anyway; the link lets them go back if they want. The only redirect to
 *    such an app is the code, after the user signed in and allowed it (or,
 *    with prompt=none, had allowed it before).
 *    The link is kept rather than left out: a genuine app that made a mistake,
 *    or whose user denied, learns it (an assistant's loopback listener waits
 *    for exactly this answer), and the user reaches it only by choosing to,
 *    after reading where it goes (RFC 9700 §4.11.2: "inform the user and rely
 *    on the user to make the correct decision").
 * 3. Otherwise (a developer's client, registered under their account): the
 *    error goes back to the app with error, error_description, state and iss.
 */

/** What a refusal needs to know: the client and redirect URI once the checks have established them. */
export interface RefusalContext {
  client?: Pick<OAuthClient, "name" | "registeredFrom">;
  /** set once the redirect URI is matched to the client */
  redirectUri?: string;
  state?: string;
}

/** The redirect the error would have been, for a link the user may follow. */
export interface BackLink {
  redirectUri: string;
  state: string | undefined;
  error: AuthorizeErrorCode;
  description: string;
  /** the redirect URI's host, which the link names */
  host: string;
}

export type Refusal =
  /** shown at scopegate: 400 for an error (429 with Retry-After for a limit), 200 for the user's own Deny */
  | {
      kind: "page";
      error: AuthorizeErrorCode;
      title: string;
      message: string;
      status: 200 | 400 | 429;
      retryAfterSeconds?: number;
      back?: BackLink;
    }
  /** an error for the (trusted) redirect URI */
  | { kind: "redirect"; redirectUri: string; state: string | undefined; error: AuthorizeErrorCode; description: string };

export const PAGE_TITLE = "This app's request can't be used";
const PAGE_TAIL = "Go back to the app and try again; if it keeps happening, tell the app's developer.";

/**
 * Whether scopegate trusts this client's redirect URIs with an answer the user
 * did not choose (RFC 9700 §4.11.2): a client that registered itself is not
 * trusted; a developer's client is.
 */
export function redirectTrusted(client: Pick<OAuthClient, "registeredFrom"> | undefined): boolean {
  return !client?.registeredFrom;
}

export function refusal(at: RefusalContext, err: AuthorizeError): Refusal {
  if (at.redirectUri === undefined) {
    const message = `${err.description} ${PAGE_TAIL}`;
    if (err.error === "too_many_requests") {
      return { kind: "page", error: err.error, title: PAGE_TITLE, message, status: 429, retryAfterSeconds: err.retryAfterSeconds ?? 1 };
    }
    return { kind: "page", error: err.error, title: PAGE_TITLE, message, status: 400 };
  }
  if (!at.client || redirectTrusted(at.client)) {
    return { kind: "redirect", redirectUri: at.redirectUri, state: at.state, error: err.error, description: err.description };
  }
  const { name, registeredFrom } = at.client;
  const host = new URL(at.redirectUri).host;
  const back: BackLink = { redirectUri: at.redirectUri, state: at.state, error: err.error, description: err.description, host };
  const unverified = `scopegate has not verified ${name}: it registered itself, and its details came from ${registeredFrom}. So scopegate does not send you to ${host} on its own.`;
  if (err.error === "access_denied") {
    return { kind: "page", error: err.error, title: "Nothing was shared", message: `You chose Deny. ${unverified}`, status: 200, back };
  }
  return { kind: "page", error: err.error, title: PAGE_TITLE, message: `${whatWentWrong(name, err)} ${unverified}`, status: 400, back };
}

/** The error in the user's words: prompt=none's descriptions are written for the app. */
function whatWentWrong(name: string, err: AuthorizeError): string {
  const silent = `${name} asked scopegate to answer without showing you anything (prompt=none), but`;
  switch (err.error) {
    case "login_required":
      return `${silent} you would have to sign in first.`;
    case "consent_required":
      return `${silent} you have not allowed it this access yet.`;
    case "interaction_required":
      return `${silent} you would have to do something first.`;
    default:
      return err.description;
  }
}
