import type { Context, Handler } from "hono";
import type { AppEnv } from "../request-env.ts";
import { wwwAuthenticate } from "../lib/www-authenticate.ts";
import { asUnavailable, describeUnavailable } from "../db/unavailable.ts";
import { DomainError, type DomainErrorCode } from "../lib/errors.ts";

export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "invalid_scope"
  | "access_denied"
  | "server_error"
  | "temporarily_unavailable"
  | "invalid_token"
  | "insufficient_scope"
  | "login_required"
  | "consent_required"
  | "interaction_required"
  | "unsupported_token_type"
  /** RFC 8707: an unknown resource, or more than one */
  | "invalid_target"
  /** RFC 7591 §3.2.2: client registration refusals */
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "too_many_requests"
  /** a body over the HTTP layer's limit (413); like too_many_requests, not RFC 6749's */
  | "request_too_large";

/** An RFC 6749 error: `error` and a human-readable `error_description`. */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export function noStore(c: Context): void {
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
}

export function oauthErrorResponse(c: Context, err: OAuthError): Response {
  noStore(c);
  for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
  return c.json({ error: err.error, error_description: err.description }, err.status as 400);
}

/**
 * A rate limit was met: 429 with Retry-After (RFC 6585). RFC 6749 has no code
 * for it (`slow_down` is the device flow's, `temporarily_unavailable` is our
 * 503); `too_many_requests` is what Auth0 and others send, and clients such as
 * oauth4webapi and openid-client pass any 4xx JSON `error` on with the
 * response, Retry-After included (docs/errors.md).
 */
export function tooManyRequests(description: string, retryAfterSeconds: number): OAuthError {
  return new OAuthError("too_many_requests", description, 429, { "Retry-After": String(retryAfterSeconds) });
}

export function invalidClient(description: string, usedBasic: boolean): OAuthError {
  // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with that
  // scheme's challenge. One that sent its secret in the body (or nothing) gets 401
  // without a challenge: a Basic challenge it never tried would be read first by
  // clients such as openid-client, which then cannot see the body's invalid_client.
  return new OAuthError(
    "invalid_client",
    description,
    401,
    usedBasic ? { "WWW-Authenticate": wwwAuthenticate("Basic", { realm: "scopegate", charset: "UTF-8", error: "invalid_client" }) } : {},
  );
}

/** An endpoint's own codes for input it refuses, by the field at fault (RFC 7591 registration's, say). */
export interface OAuthErrorCodes {
  byField?: Record<string, OAuthErrorCode>;
  otherwise: OAuthErrorCode;
}

/** A DomainError's code as an RFC 6749 error and its status (unavailable is handled first, with Retry-After). */
const OAUTH_ERRORS: Record<DomainErrorCode, [OAuthErrorCode, number]> = {
  invalid_input: ["invalid_request", 400],
  not_found: ["invalid_request", 404],
  forbidden: ["access_denied", 403],
  too_large: ["request_too_large", 413],
  unavailable: ["temporarily_unavailable", 503],
  upstream: ["server_error", 502],
};

/**
 * The one mapping of errors to RFC 6749 error answers: an OAuthError as it is;
 * a DomainError by its code (OAUTH_ERRORS; invalid_request for input, its
 * message the description), or, when the server is unavailable (a saturated
 * database counts), 503 temporarily_unavailable with Retry-After, never 500.
 * Null for anything else. An endpoint whose specification names other codes
 * for input refusals (RFC 7591 registration) passes them as `inputCodes`, by
 * the field at fault; the rest of the mapping is the same.
 */
export function oauthErrorFrom(err: unknown, inputCodes?: OAuthErrorCodes): OAuthError | null {
  if (err instanceof OAuthError) return err;
  const unavailable = asUnavailable(err);
  if (unavailable) {
    return new OAuthError("temporarily_unavailable", unavailable.message, 503, { "Retry-After": String(unavailable.retryAfterSeconds) });
  }
  if (!(err instanceof DomainError)) return null;
  if (err.code === "invalid_input" && inputCodes) {
    return new OAuthError((err.field && inputCodes.byField?.[err.field]) || inputCodes.otherwise, err.message, 400);
  }
  const [error, status] = OAUTH_ERRORS[err.code];
  return new OAuthError(error, err.message, status);
}

/**
 * An endpoint whose refusals are OAuthErrors or DomainErrors: they become RFC
 * 6749 JSON answers through oauthErrorFrom (with the endpoint's own codes for
 * input, when it has them); anything else propagates.
 */
export function oauthEndpoint(handler: (c: Context<AppEnv>) => Promise<Response>, inputCodes?: OAuthErrorCodes): Handler<AppEnv> {
  return async (c) => {
    try {
      return await handler(c);
    } catch (err) {
      const refusal = oauthErrorFrom(err, inputCodes);
      if (!refusal) throw err;
      if (refusal.error === "temporarily_unavailable") c.get("log")?.warn({ reason: describeUnavailable(err) }, "unavailable");
      c.set("refusal", refusal.error);
      return oauthErrorResponse(c, refusal);
    }
  };
}
