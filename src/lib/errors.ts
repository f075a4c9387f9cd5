/**
 * The one error type that services throw (issue 11 item 3). Each surface maps
 * it once, and decides the HTTP status there: src/graphql/errors.ts to GraphQL
 * errors, src/oauth/errors.ts to RFC 6749 error answers, src/pages/errors.ts to
 * HTML pages, src/mcp/errors.ts to JSON-RPC errors, src/pages/connector-endpoints.ts
 * to the connector endpoints' {"detail"} form. Protocol errors that only the
 * protocol raises (OAuthError, AuthorizeError, InvalidTokenError) stay in src/oauth.
 */
export type DomainErrorCode =
  /** the caller's input breaks a rule; `field` names it when one field is at fault */
  | "invalid_input"
  /** it does not exist, or it is not the caller's (the two are never told apart) */
  | "not_found"
  /** the caller is known, and may not do this (another account's or another browser's flow, a partner app where only ours may) */
  | "forbidden"
  /** the request is over a size limit (the HTTP layer's body limit) */
  | "too_large"
  /** the server cannot answer safely right now; retry after `retryAfterSeconds` */
  | "unavailable"
  /** a server outside scopegate that this request needs (a connector's provider) failed, did not answer, or answered something invalid */
  | "upstream";

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly field?: string,
    /**
     * A finer cause within `code` for the callers that must tell causes apart
     * (a provider that refused a refresh, say, from one that is down). Mappers
     * answer by `code` alone.
     */
    readonly reason?: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export function invalidInput(field: string | undefined, message: string): DomainError {
  return new DomainError("invalid_input", message, field);
}

/** `what` is named in the message: "OAuth client not found." */
export function notFound(what: string): DomainError {
  return new DomainError("not_found", `${what} not found.`);
}

/**
 * The server cannot answer this request safely right now (a dependency is
 * saturated or cannot be confirmed current). Answered as 503 with Retry-After,
 * in each surface's own error form; never as a 500.
 */
export class UnavailableError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super("unavailable", message);
    this.name = "UnavailableError";
  }
}
