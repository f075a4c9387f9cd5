import type { Context, Handler } from "hono";
import type { AppEnv } from "../request-env.ts";
import { wwwAuthenticate } from "../lib/www-authenticate.ts";
import { asUnavailable, describeUnavailable } from "../db/unavailable.ts";
import { DomainError } from "../lib/errors.ts";

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
  | "too_many_requests";

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

/**
 * The one mapping of errors to RFC 6749 error answers: an OAuthError as it is;
 * a DomainError as invalid_request (its message the description), or, when
 * the server is unavailable (a saturated database counts), 503
 * temporarily_unavailable with Retry-After, never 500. Null for anything else.
 */
export function oauthErrorFrom(err: unknown): OAuthError | null {
  if (err instanceof OAuthError) return err;
  const unavailable = asUnavailable(err);
  if (unavailable) {
    return new OAuthError("temporarily_unavailable", unavailable.message, 503, { "Retry-After": String(unavailable.retryAfterSeconds) });
  }
  if (err instanceof DomainError) return new OAuthError("invalid_request", err.message, err.code === "not_found" ? 404 : 400);
  return null;
}

/** A POST endpoint whose refusals are OAuthErrors: they become RFC 6749 JSON answers; anything else propagates. */
export function oauthEndpoint(handler: (c: Context<AppEnv>) => Promise<Response>): Handler<AppEnv> {
  return async (c) => {
    try {
      return await handler(c);
    } catch (err) {
      const refusal = oauthErrorFrom(err);
      if (!refusal) throw err;
      if (refusal.error === "temporarily_unavailable") c.get("log")?.warn({ reason: describeUnavailable(err) }, "unavailable");
      c.set("refusal", refusal.error);
      return oauthErrorResponse(c, refusal);
    }
  };
}
