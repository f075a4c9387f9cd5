import type { OAuthClient } from "../../generated/prisma/client.ts";
import { checkClient } from "./check-client.ts";
import { LOGIN_MARKER, checkLoginMarker } from "./check-login-marker.ts";
import { checkMaxAge } from "./check-max-age.ts";
import { checkParamLengths } from "./check-param-lengths.ts";
import { checkPkce } from "./check-pkce.ts";
import { checkPrompt } from "./check-prompt.ts";
import { checkRedirectUri } from "./check-redirect-uri.ts";
import { checkResponseMode } from "./check-response-mode.ts";
import { checkResponseType } from "./check-response-type.ts";
import { checkResource } from "./check-resource.ts";
import { checkScope } from "./check-scope.ts";
import { AuthorizeError, newContext, param, type AuthorizeCheck, type AuthorizeContext } from "./context.ts";
import { readState } from "./read-state.ts";
import { refusal, type Refusal } from "./refusal.ts";
import { rejectRepeatedParams } from "./reject-repeated-params.ts";
import { rejectRequestObjects } from "./reject-request-objects.ts";

/**
 * The authorization request's checks, in the order their errors must be
 * reported. The first two decide whether the app can be trusted with an
 * error at all (refusal.ts then also asks whether the client is verified);
 * each later one can assume the ones before it passed.
 */
export const AUTHORIZE_CHECKS: readonly AuthorizeCheck[] = [
  checkClient,
  checkRedirectUri,
  // The redirect URI is matched from here on: errors go back to a verified app, with its state (refusal.ts).
  readState,
  rejectRepeatedParams,
  rejectRequestObjects,
  checkParamLengths,
  checkResponseType,
  checkResponseMode,
  checkPkce,
  checkScope,
  checkResource,
  checkPrompt,
  checkMaxAge,
  checkLoginMarker,
];

/** Parameters the consent form carries back in hidden fields (and validates again). */
const CARRIED_PARAMS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce",
  "prompt",
  "response_mode",
  "max_age",
  "resource",
  LOGIN_MARKER,
] as const;

/** A request that passed every check. */
export interface AuthorizationRequest {
  client: OAuthClient;
  redirectUri: string;
  state: string | undefined;
  scopes: string[];
  codeChallenge: string;
  nonce: string | undefined;
  prompt: Set<string>;
  /** seconds: the oldest sign-in the app accepts */
  maxAge: number | undefined;
  /** the audience of the tokens (check-resource.ts) */
  audience: string | undefined;
  /** Unix ms: set when the user was sent to sign in for this request (check-login-marker.ts) */
  signedInAfter: number | undefined;
  /** the recognised parameters, as sent, for the consent form's hidden fields */
  carried: Record<string, string>;
}

/**
 * The outcome of the checks: a refusal (a page or a redirect, decided in
 * refusal.ts) or a request that passed them all.
 */
export type ValidationResult = Refusal | { kind: "ok"; request: AuthorizationRequest };

/**
 * Checks an authorization request from scratch (the query of a GET or the
 * hidden fields of the consent form): runs AUTHORIZE_CHECKS in order and
 * stops at the first refusal.
 */
export async function validateAuthorizationRequest(
  input: Pick<AuthorizeContext, "params" | "now" | "findClient" | "issuer">,
  checks: readonly AuthorizeCheck[] = AUTHORIZE_CHECKS,
): Promise<ValidationResult> {
  const ctx = newContext(input);
  for (const check of checks) {
    try {
      await check(ctx);
    } catch (err) {
      if (!(err instanceof AuthorizeError)) throw err;
      return refusal(ctx, err);
    }
  }
  return { kind: "ok", request: assemble(ctx) };
}

function assemble(ctx: AuthorizeContext): AuthorizationRequest {
  const { client, redirectUri, scopes, codeChallenge } = ctx;
  if (!client || !redirectUri || !scopes || !codeChallenge) throw new Error("an authorization check that sets a field did not run");
  const carried: Record<string, string> = {};
  for (const name of CARRIED_PARAMS) {
    const v = param(ctx, name);
    if (v !== undefined) carried[name] = v;
  }
  return {
    client,
    redirectUri,
    state: ctx.state,
    scopes,
    codeChallenge,
    nonce: param(ctx, "nonce") || undefined,
    prompt: ctx.prompt,
    maxAge: ctx.maxAge,
    signedInAfter: ctx.signedInAfter,
    audience: ctx.audience,
    carried,
  };
}
