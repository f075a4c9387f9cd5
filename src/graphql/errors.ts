import { GraphQLError } from "graphql";
import { createGraphQLError, maskError } from "graphql-yoga";
import { asUnavailable, describeUnavailable } from "../db/unavailable.ts";
import { DomainError, type DomainErrorCode } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";

/** A DomainError's code as GraphQL `extensions.code`. */
const GRAPHQL_CODES: Record<DomainErrorCode, string> = {
  invalid_input: "BAD_USER_INPUT",
  not_found: "NOT_FOUND",
  forbidden: "FORBIDDEN",
  too_large: "REQUEST_TOO_LARGE",
  unavailable: "SERVICE_UNAVAILABLE",
  upstream: "BAD_GATEWAY",
};

/**
 * The one mapping of errors to GraphQL errors (Yoga's maskError): a
 * DomainError keeps its message, with `extensions.code` and the field at
 * fault; a saturated database (or an UnavailableError) is SERVICE_UNAVAILABLE
 * and makes the answer 503 with Retry-After; anything else is masked as
 * "Unexpected error." and logged by Yoga.
 */
export function toGraphQLError(error: unknown, message: string, isDev?: boolean, logger?: Logger): Error {
  const unavailable = asUnavailable(error);
  if (unavailable) {
    logger?.warn({ reason: describeUnavailable(error) }, "unavailable");
    return createGraphQLError(unavailable.message, {
      ...located(error),
      extensions: {
        code: GRAPHQL_CODES.unavailable,
        http: { status: 503, headers: { "Retry-After": String(unavailable.retryAfterSeconds), "Cache-Control": "no-store" } },
      },
    });
  }
  const domain = domainErrorOf(error);
  if (domain) {
    return createGraphQLError(domain.message, {
      ...located(error),
      extensions: { code: GRAPHQL_CODES[domain.code], ...(domain.field ? { field: domain.field } : {}) },
    });
  }
  return maskError(error, message, isDev);
}

/** The DomainError a resolver threw (graphql-js wraps it in a GraphQLError). */
function domainErrorOf(error: unknown): DomainError | null {
  if (error instanceof DomainError) return error;
  if (error instanceof GraphQLError && error.originalError instanceof DomainError) return error.originalError;
  return null;
}

/** Where in the document and the result the error happened, kept through the mapping. */
function located(error: unknown) {
  if (!(error instanceof GraphQLError)) return {};
  return { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path };
}

/** HTTP status of a GraphQL answer that carries only this error (an error outside execution). */
const GRAPHQL_STATUS: Record<string, number> = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  REQUEST_TOO_LARGE: 413,
  SERVICE_UNAVAILABLE: 503,
  BAD_GATEWAY: 502,
};

/**
 * An error raised on /graphql before Yoga answered (the bearer check, the body
 * limit...), in GraphQL's error form through the same mapping as in Yoga.
 */
export function graphqlErrorBody(error: unknown, logger?: Logger): { status: number; headers: Record<string, string>; body: unknown } {
  const mapped = toGraphQLError(error, "Unexpected error.", false, logger) as GraphQLError;
  const extensions = (mapped.extensions ?? {}) as { code?: string; http?: { headers?: Record<string, string> } };
  const { http, ...shown } = extensions;
  const status = GRAPHQL_STATUS[extensions.code ?? ""] ?? 500;
  return {
    status,
    headers: http?.headers ?? {},
    body: { errors: [{ message: mapped.message, ...(Object.keys(shown).length ? { extensions: shown } : {}) }] },
  };
}

/**
 * A request refused before execution (bad credentials, a missing CSRF token, a body over the limit, a rate limit: 429 RATE_LIMITED
 * with Retry-After), in
 * GraphQL's error form: `{"errors":[{message, extensions: {code}}]}`, in the
 * media type the client asked for (GraphQL over HTTP: application/graphql-response+json
 * when accepted, application/json otherwise).
 */
export function graphqlRefusal(
  accept: string | undefined,
  status: 401 | 403 | 413 | 429,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const type = /\bapplication\/graphql-response\+json\b/i.test(accept ?? "") ? "application/graphql-response+json" : "application/json";
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { ...headers, "Content-Type": `${type}; charset=utf-8` },
  });
}
