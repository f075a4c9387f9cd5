import type { Context } from "hono";
import { asUnavailable } from "../db/unavailable.ts";
import { DomainError, type DomainErrorCode } from "../lib/errors.ts";

/**
 * The MCP endpoint's error form: a JSON-RPC error object with id null and the
 * HTTP status, as the SDK's own Streamable HTTP transport answers the requests
 * it refuses before a message is handled (406, 415, 413, a parse error):
 * `{"jsonrpc":"2.0","error":{"code":-32000,"message":"..."},"id":null}`.
 * An MCP client reads these; an HTML page or an RFC 6749 body it would not.
 */

/** JSON-RPC 2.0 error codes, as the SDK's transport uses them. */
export const JSON_RPC = {
  /** the body is not JSON */
  parseError: -32700,
  /** the request breaks a rule of ours (a NUL, say) */
  invalidRequest: -32600,
  /** a known method whose params do not fit its schema */
  invalidParams: -32602,
  /** something on our side went wrong */
  internalError: -32603,
  /** the implementation-defined server error: HTTP-level refusals (403, 405, 413, 429, 503) */
  serverError: -32000,
  /** no valid access token (401) */
  unauthorized: -32001,
  /** a tool call beyond the token's scopes (403 insufficient_scope) */
  forbidden: -32003,
} as const;

export function jsonRpcError(id: unknown, code: number, message: string) {
  return { jsonrpc: "2.0", error: { code, message }, id: id ?? null };
}

/** A JSON-RPC error answer with its HTTP status, never cached. */
export function jsonRpcErrorResponse(
  c: Context,
  status: 400 | 401 | 403 | 404 | 405 | 413 | 429 | 500 | 502 | 503,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: unknown = null,
): Response {
  c.header("Cache-Control", "no-store");
  return c.json(jsonRpcError(id, code, message), status, headers);
}

const MCP_STATUS: Record<DomainErrorCode, 400 | 403 | 404 | 413 | 502 | 503> = {
  invalid_input: 400,
  not_found: 404,
  forbidden: 403,
  too_large: 413,
  unavailable: 503,
  upstream: 502,
};

/**
 * The one mapping of errors to the MCP endpoint's answers (app.ts onError,
 * its not-found and body-limit answers): a DomainError's message with the
 * status of its code; unavailable (a saturated database counts) 503 with
 * Retry-After; anything else 500 "Internal error." that says nothing more.
 */
export function mcpErrorResponse(c: Context, err: unknown): Response {
  const unavailable = asUnavailable(err);
  if (unavailable) {
    return jsonRpcErrorResponse(c, 503, JSON_RPC.serverError, unavailable.message, {
      "Retry-After": String(unavailable.retryAfterSeconds),
    });
  }
  if (!(err instanceof DomainError)) return jsonRpcErrorResponse(c, 500, JSON_RPC.internalError, "Internal error.");
  const code = err.code === "invalid_input" ? JSON_RPC.invalidRequest : JSON_RPC.serverError;
  return jsonRpcErrorResponse(c, MCP_STATUS[err.code], code, err.message);
}
