import type { ClientEnvironment, Grant } from "../../generated/prisma/client.ts";
import type { SignInSession } from "../../accounts/sessions.ts";
import { PROTOCOL_SCOPES, SCOPE_DESCRIPTIONS } from "../../consent/scopes.ts";
import { AuthorizeError } from "./context.ts";
import type { AuthorizationRequest } from "./validate.ts";

/** One requested scope as the consent page lists it. */
export interface ConsentScope {
  scope: string;
  /** what it lets the app do, in plain words */
  description: string;
  /**
   * "choose": a checkbox the user may untick; "granted": allowed earlier, shown
   * ticked and fixed (narrowed under Connected apps); "always": no checkbox
   * (openid, offline_access: they come with any consent).
   */
  choice: "choose" | "granted" | "always";
  /** the user has a grant for this app and this scope is not in it */
  isNew: boolean;
  /** for "choose": ticked when the page is shown */
  ticked: boolean;
}

/** What the consent page (src/pages, handed in through AuthorizeViews) shows. */
export interface ConsentPageInput {
  /** where the form posts */
  action: string;
  session: SignInSession;
  /**
   * `registeredFrom`: for a client that registered itself (RFC 7591), the host its
   * metadata came from, shown with the app marked unverified; null for a developer's client.
   */
  client: { name: string; environment: ClientEnvironment; registeredFrom: string | null };
  /** host of the redirect URI: where the user goes after choosing */
  redirectHost: string;
  scopes: ConsentScope[];
  /** the authorization request's parameters, carried in hidden fields */
  hidden: Record<string, string>;
  /** shown above the list (e.g. when nothing was ticked) */
  message?: string;
}

export function isProtocolScope(scope: string): boolean {
  return (PROTOCOL_SCOPES as readonly string[]).includes(scope);
}

/** True when the user's live grant already holds every requested scope. */
export function grantCovers(grant: Pick<Grant, "scopes"> | null, scopes: string[]): boolean {
  return !!grant && scopes.every((s) => grant.scopes.includes(s));
}

/**
 * Whether a code may be issued without asking: for a first-party client, or
 * when an earlier consent already covers every scope; never with prompt=consent.
 */
export function maySkipConsent(
  req: Pick<AuthorizationRequest, "prompt" | "scopes"> & { client: { firstParty: boolean } },
  grant: Pick<Grant, "scopes"> | null,
): boolean {
  return !req.prompt.has("consent") && (req.client.firstParty || grantCovers(grant, req.scopes));
}

/** prompt=none when the page would have to be shown (OIDC Core §3.1.2.6). */
export function consentRequired(): AuthorizeError {
  return new AuthorizeError("consent_required", "The user has not yet allowed this app these scopes.");
}

/** The scopes as the consent page lists them; `ticked` are the user's ticks when the page is shown again. */
export function consentScopes(
  req: Pick<AuthorizationRequest, "scopes">,
  grant: Pick<Grant, "scopes"> | null,
  ticked?: Set<string>,
): ConsentScope[] {
  return req.scopes.map((scope) => {
    const alreadyGranted = !!grant && grant.scopes.includes(scope);
    return {
      scope,
      description: SCOPE_DESCRIPTIONS[scope] ?? scope,
      // openid and offline_access come with any consent (see allowedScopes); scopes
      // already granted are narrowed under Connected apps, not here.
      choice: isProtocolScope(scope) ? "always" : alreadyGranted ? "granted" : "choose",
      isNew: !!grant && !alreadyGranted,
      ticked: ticked ? ticked.has(scope) : true,
    };
  });
}

/**
 * What the user allows with "Allow": the protocol scopes if asked for (openid
 * only says who they are; offline_access has no checkbox because the token
 * endpoint decides refresh tokens per client), what they allowed before
 * (shown ticked and fixed; narrowed under Connected apps), and the data
 * scopes they ticked now. Only requested scopes: a tick for anything else is ignored.
 */
export function allowedScopes(
  req: Pick<AuthorizationRequest, "scopes">,
  grant: Pick<Grant, "scopes"> | null,
  ticked: Set<string>,
): string[] {
  return req.scopes.filter((s) => isProtocolScope(s) || grant?.scopes.includes(s) || ticked.has(s));
}
