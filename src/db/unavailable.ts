/**
 * Recognises "the database is saturated or unreachable" among the errors that
 * Prisma 6.19 with @prisma/adapter-pg 7 and pg-pool 3 throw. Such an error
 * means "try again shortly" (503 with Retry-After), never a bug (500).
 *
 * What each case looks like (test/unit/db-unavailable.test.ts produces every
 * one of them against a real server, so that an upgrade that changes them fails
 * that test rather than turning 503s back into 500s):
 *
 * - No pooled connection frees up within `connectionTimeoutMillis`: pg-pool
 *   rejects with a plain `Error("timeout exceeded when trying to connect")`
 *   (no code). The adapter does not recognise it and Prisma rethrows it as is,
 *   for model queries, raw queries and transactions alike.
 * - A new connection cannot be opened in time: pg-pool's
 *   `Error("Connection terminated due to connection timeout")`.
 * - An interactive transaction that cannot start within Prisma's `maxWait`:
 *   PrismaClientKnownRequestError P2028 "Unable to start a transaction in the given time".
 * - PostgreSQL cancels a statement (`statement_timeout`, SQLSTATE 57014): a
 *   model query throws the adapter's `DriverAdapterError` whose `cause` is
 *   `{ kind: "postgres", code: "57014", originalCode: "57014", ... }`; a raw query
 *   throws PrismaClientKnownRequestError P2010 with the same object under
 *   `meta.driverAdapterError.cause`.
 * - The server refuses or drops connections: the adapter's kinds
 *   DatabaseNotReachable / ConnectionClosed / SocketTimeout (P1001 / P1017 /
 *   P1008), pg's "Connection terminated unexpectedly", and SQLSTATEs of class
 *   08 (connection exception), 53300 (too many connections), 57P01-57P03
 *   (shutting down, starting up) and 55P03 (lock_timeout).
 */

import { UnavailableError } from "../lib/errors.ts";

/** SQLSTATEs that say "not now" rather than "wrong request". */
const UNAVAILABLE_SQLSTATES = new Set([
  "57014", // query_canceled: statement_timeout (or an operator's pg_cancel_backend)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "53300", // too_many_connections
  "53000", // insufficient_resources
  "55P03", // lock_not_available (lock_timeout)
]);

/** The adapter's DriverAdapterError kinds for a server that cannot be reached or went away. */
const UNAVAILABLE_ADAPTER_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout"]);

/** Prisma error codes for the same (P1xxx are connection-level; P2024 is the Rust engine's pool timeout). */
const UNAVAILABLE_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);

/** pg-pool's and pg's own messages (they carry no code), and what they mean. */
const UNAVAILABLE_MESSAGES = new Map([
  ["timeout exceeded when trying to connect", "no pooled connection free in time"],
  ["Connection terminated due to connection timeout", "connecting to the database timed out"],
  ["Connection terminated unexpectedly", "the database closed the connection"],
]);

type Loose = { [key: string]: unknown } | undefined;

function sqlStateReason(code: unknown): string | undefined {
  if (typeof code !== "string") return undefined;
  if (code === "57014") return "statement cancelled (statement_timeout, SQLSTATE 57014)";
  return UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code) ? `SQLSTATE ${code}` : undefined;
}

/** The adapter's error description: `{ kind, code?, originalCode?, ... }`. */
function adapterCauseReason(cause: Loose): string | undefined {
  if (!cause || typeof cause !== "object") return undefined;
  if (typeof cause.kind === "string" && UNAVAILABLE_ADAPTER_KINDS.has(cause.kind)) return `database ${cause.kind}`;
  return sqlStateReason(cause.originalCode) ?? (cause.kind === "postgres" ? sqlStateReason(cause.code) : undefined);
}

/**
 * Why `err` (or what it wraps: `cause`, GraphQL's `originalError`) says the
 * database is saturated or unavailable right now, in a few fixed words that
 * are safe to log (never the driver's message, which may quote a query);
 * undefined when it says something else.
 */
export function databaseUnavailableReason(err: unknown): string | undefined {
  let e = err as Loose;
  // Wrappers nest a few deep at most (GraphQLError -> Prisma error -> cause).
  for (let depth = 0; depth < 5 && e && typeof e === "object"; depth++) {
    const name = e.name;
    const code = e.code;
    let reason: string | undefined;
    if (name === "DriverAdapterError") reason = adapterCauseReason(e.cause as Loose);
    if (!reason && typeof code === "string" && name === "PrismaClientKnownRequestError") {
      if (UNAVAILABLE_PRISMA_CODES.has(code)) reason = `Prisma ${code}`;
      else if (code === "P2028" && typeof e.message === "string" && e.message.includes("Unable to start a transaction")) {
        reason = "transaction could not start in time (Prisma P2028)";
      } else reason = adapterCauseReason(((e.meta as Loose)?.driverAdapterError as Loose)?.cause as Loose);
    }
    if (
      !reason &&
      name === "PrismaClientInitializationError" &&
      typeof e.errorCode === "string" &&
      UNAVAILABLE_PRISMA_CODES.has(e.errorCode)
    ) {
      reason = `Prisma ${e.errorCode}`;
    }
    // A pg DatabaseError reaching us unwrapped (code + severity).
    if (!reason && typeof e.severity === "string") reason = sqlStateReason(code);
    if (!reason && typeof e.message === "string") reason = UNAVAILABLE_MESSAGES.get(e.message);
    if (reason) return reason;
    e = (e.originalError ?? e.cause) as Loose;
  }
  return undefined;
}

/** True when `err` says the database is saturated or unavailable right now (see databaseUnavailableReason). */
export function isDatabaseUnavailable(err: unknown): boolean {
  return databaseUnavailableReason(err) !== undefined;
}

/**
 * The 503 that `err` calls for: an UnavailableError (found through wrappers
 * too) as it is, a saturated or unreachable database as a new one; undefined
 * for anything else. Every surface maps errors through this one function.
 */
export function asUnavailable(err: unknown): UnavailableError | undefined {
  let e = err as Loose;
  for (let depth = 0; depth < 5 && e && typeof e === "object"; depth++) {
    if (e instanceof UnavailableError) return e;
    e = (e.originalError ?? e.cause) as Loose;
  }
  if (isDatabaseUnavailable(err)) return new UnavailableError("The service is busy right now; try again shortly.", 1);
  return undefined;
}

/** What to log about an unavailable answer: the database's reason, or the UnavailableError's message. */
export function describeUnavailable(err: unknown): string {
  return databaseUnavailableReason(err) ?? asUnavailable(err)?.message ?? "unknown";
}
