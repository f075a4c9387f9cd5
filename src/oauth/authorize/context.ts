import type { OAuthClient } from "../../generated/prisma/client.ts";
import type { OAuthErrorCode } from "../errors.ts";

/**
 * What the authorization endpoint's checks (check-*.ts, run in order by
 * validate.ts) share: the request's parameters, and what each check has
 * established so far for the ones after it.
 */

/** Parameter name -> every value it was given with (a repeat is an error, so keep them all). */
export type RawParams = Map<string, string[]>;

export function collectParams(entries: Iterable<[string, string]>): RawParams {
  const out: RawParams = new Map();
  for (const [k, v] of entries) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/** The authorization-endpoint error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export type AuthorizeErrorCode =
  | OAuthErrorCode
  | "request_not_supported"
  | "request_uri_not_supported"
  /** RFC 7591's name for an unregistered redirect URI: only ever shown on a page, never sent to it */
  | "invalid_redirect_uri";

/**
 * A refused authorization request. Whether it goes back to the app or is shown
 * on a page is not the check's choice but refusal.ts's: it goes back only once
 * the redirect URI has been matched (ctx.redirectUri is set), and only to a
 * verified client, so no check can make scopegate an open redirector. The
 * description is shown to the user on the page, or sent as error_description
 * (printable ASCII, see describable()).
 */
export class AuthorizeError extends Error {
  constructor(
    readonly error: AuthorizeErrorCode,
    readonly description: string,
    /** too_many_requests: when to try again (the page answers 429 with Retry-After) */
    readonly retryAfterSeconds?: number,
  ) {
    super(description);
  }
}

export interface AuthorizeContext {
  readonly params: RawParams;
  /** the time the request is judged at (max_age, sign-in markers) */
  readonly now: Date;
  /** the client registered under a client_id, or null */
  readonly findClient: (clientId: string) => Promise<OAuthClient | null>;
  /** the server's issuer, which the resources hang under (absent in checks that take no resource) */
  readonly issuer?: string;

  /** set by checkClient */
  client?: OAuthClient;
  /** set by checkRedirectUri: from then on errors go back to it (a verified client's: refusal.ts) */
  redirectUri?: string;
  /** set by readState: only a single, non-empty, not too long state is echoed */
  state?: string;
  /** set by checkPkce */
  codeChallenge?: string;
  /** set by checkScope */
  scopes?: string[];
  /** set by checkResource: the audience of the tokens (src/oauth/resources.ts) */
  audience?: string;
  /** set by checkPrompt (empty when absent) */
  prompt: Set<string>;
  /** set by checkMaxAge: seconds */
  maxAge?: number;
  /** set by checkLoginMarker: the request needs a sign-in at or after this time (Unix ms) */
  signedInAfter?: number;
}

export type AuthorizeCheck = (ctx: AuthorizeContext) => void | Promise<void>;

export function newContext(input: Pick<AuthorizeContext, "params" | "now" | "findClient" | "issuer">): AuthorizeContext {
  return { ...input, prompt: new Set() };
}

/** The one value of a parameter (repeats are refused by rejectRepeatedParams before this is used). */
export function param(ctx: AuthorizeContext, name: string): string | undefined {
  return ctx.params.get(name)?.[0];
}

/** The client, for checks that run after checkClient (a programming error otherwise). */
export function clientOf(ctx: AuthorizeContext): OAuthClient {
  if (!ctx.client) throw new Error("checkClient must run before this check");
  return ctx.client;
}

/** An error_description may only hold printable ASCII without `"` and `\` (RFC 6749 §5.2). */
export function describable(value: string): boolean {
  return value.length <= 100 && /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/.test(value);
}

/** Longest value any authorization parameter may have. */
export const MAX_PARAM_LENGTH = 2048;
