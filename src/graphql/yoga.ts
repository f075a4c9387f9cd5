import { renderGraphiQLPage } from "./graphiql.ts";
import { GraphQLError, Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from "graphql";
import { createGraphQLError, createYoga, processRegularResult, type Plugin } from "graphql-yoga";
import { bearerChallenge } from "../auth/bearer.ts";
import { graphqlMetrics } from "../metrics/graphql.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Logger } from "../lib/log.ts";
import type { AuditBuffer } from "../audit/buffer.ts";
import type { HotPathLimits } from "../db/rate-limit-windows.ts";
import type { GraphQLContext } from "./builder.ts";
import { armorPlugins, limitCost, limitError, LIMITS, nestingOf } from "./limits.ts";
import { getSchema } from "./schema.ts";
import { jsonProblem } from "../lib/text.ts";
import { toGraphQLError } from "./errors.ts";

/** Passed by the HTTP layer with each request (see app.ts). */
export type GraphQLServerContext = GraphQLContext & { csrfToken?: string; issuer: string; audit?: AuditBuffer };

/** "me{id,email,measurements}": top-level fields and the fields selected directly under them. */
export function describeSelection(selectionSet: SelectionSetNode, document: DocumentNode, depth = 2): string[] {
  const out: string[] = [];
  const visitSet = (set: SelectionSetNode, seen: Set<string>) => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value.startsWith("__")) continue;
        const children = depth > 1 && sel.selectionSet ? describeSelection(sel.selectionSet, document, depth - 1) : [];
        out.push(children.length ? `${sel.name.value}{${children.join(",")}}` : sel.name.value);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        visitSet(sel.selectionSet, seen);
      } else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === sel.name.value);
        if (fragment && fragment.kind === Kind.FRAGMENT_DEFINITION) visitSet(fragment.selectionSet, seen);
      }
    }
  };
  visitSet(selectionSet, new Set());
  return [...new Set(out)];
}

/**
 * Every token-authenticated read leaves an audit event naming client, user,
 * grant and the fields read (batched, see AuditBuffer); writes are audited by
 * their resolvers, inside the transaction that makes them.
 */
function auditTokenUse(): Plugin<GraphQLServerContext> {
  return {
    onExecute({ args }) {
      const ctx = args.contextValue as GraphQLServerContext;
      const viewer = ctx.viewer;
      if (viewer.kind !== "token" || !ctx.audit) return;
      if (viewer.grantId) ctx.audit.grantUsed(viewer.grantId);
      const document = args.document as DocumentNode;
      const operation = document.definitions.find(
        (d): d is OperationDefinitionNode =>
          d.kind === Kind.OPERATION_DEFINITION && (!args.operationName || d.name?.value === args.operationName),
      );
      if (operation?.operation !== "query") return;
      const fields = describeSelection(operation.selectionSet, document);
      if (!fields.length) return;
      ctx.audit.push({
        action: "data.read",
        userId: viewer.userId,
        clientId: viewer.clientRowId,
        grantId: viewer.grantId,
        detail: `fields: ${fields.join(", ")}`,
      });
    },
  };
}

/** True when the selection reads only __schema / __type / __typename (fragments followed). */
function onlyIntrospection(selectionSet: SelectionSetNode, document: DocumentNode, seen = new Set<string>()): boolean {
  return selectionSet.selections.every((sel) => {
    if (sel.kind === Kind.FIELD) return sel.name.value.startsWith("__");
    if (sel.kind === Kind.INLINE_FRAGMENT) return onlyIntrospection(sel.selectionSet, document, seen);
    const name = sel.name.value;
    if (seen.has(name)) return true;
    seen.add(name);
    const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === name);
    return !!fragment && fragment.kind === Kind.FRAGMENT_DEFINITION && onlyIntrospection(fragment.selectionSet, document, seen);
  });
}

/**
 * Refuses, before parsing, what would only cost us: an oversized document (the
 * other limits are graphql-armor's and the cost check, see limits.ts), a query or
 * variables nested deeper than any real one (thousands deep, they were a 500), and
 * what is not text (lib/text.ts): NUL characters, which PostgreSQL cannot store,
 * and lone UTF-16 surrogates, in the query, its variables, operation name or extensions.
 */
function rejectAbusiveRequests(): Plugin<GraphQLServerContext> {
  const refuse = (message: string) => createGraphQLError(message, { extensions: { code: "BAD_USER_INPUT", http: { status: 400 } } });
  return {
    onParams({ params }) {
      const query = typeof params.query === "string" ? params.query : "";
      if (query.length > LIMITS.length) throw limitError("length", `The query is longer than ${LIMITS.length} characters.`);
      const nesting = nestingOf(query);
      if (nesting > LIMITS.nesting) throw limitError("nesting", `The query nests brackets ${nesting} deep, more than ${LIMITS.nesting}.`);
      // (The query's own escapes: "\u0000" in a string literal is a NUL once parsed.)
      if (/\\u0000/i.test(query)) throw refuse("NUL characters are not allowed.");
      const { variables, extensions, operationName } = params;
      const found = jsonProblem({ query, operationName, variables, extensions }, LIMITS.variableDepth + 1);
      if (!found) return;
      const where = found.path.length > 100 ? `${found.path.slice(0, 100)}…` : found.path;
      if (found.kind === "depth")
        throw limitError("variableDepth", `Variables are nested more than ${LIMITS.variableDepth} deep (at ${where}).`);
      if (found.kind === "nul") throw refuse("NUL characters are not allowed.");
      throw refuse(`${where || "The request"} ${found.problem}.`);
    },
  };
}

/**
 * A request Yoga cannot read is refused in GraphQL's error form with BAD_REQUEST:
 * a body in a media type it reads none of (JSON, GraphQL, forms) with 415, where
 * Yoga answers an empty 415; and variables or extensions in a query string or a
 * form that are not JSON with 400, where Yoga's parser threw a SyntaxError (a 500).
 * (Listed after Yoga's own parsers, so it sees whether one took the request.)
 */
function refuseUnreadableRequests(): Plugin<GraphQLServerContext> {
  const badRequest = (message: string, status: number) =>
    createGraphQLError(message, { extensions: { code: "BAD_REQUEST", http: { status } } });
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) throw badRequest("Send the request as application/json (POST), or as query parameters (GET).", 415);
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (err) {
          if (err instanceof GraphQLError) throw err;
          throw badRequest("The request could not be read: variables and extensions must be JSON.", 400);
        }
      });
    },
  };
}

/**
 * What Yoga's own refusals carry that is not ours to show, and what it would
 * answer without a body: its request parsers put the parser's exception (name
 * and message, which echo the body) in `extensions.originalError`, kept out
 * (an unreadable body stays 400 for every client, as a limit is); and a client
 * that accepts none of our media types (`Accept: text/html` on a POST) gets
 * JSON rather than an empty 406, as GraphQL over HTTP allows.
 */
function answerInOurOwnForm(): Plugin<GraphQLServerContext> {
  return {
    onResultProcess({ result, resultProcessor, setResultProcessor }) {
      for (const r of Array.isArray(result) ? result : [result]) {
        if (!r || typeof r !== "object" || !("errors" in r) || !Array.isArray(r.errors)) continue;
        for (const error of r.errors as GraphQLError[]) {
          const extensions = error.extensions as Record<string, unknown> | undefined;
          if (!extensions?.originalError || extensions.originalError instanceof GraphQLError) continue;
          delete extensions.originalError;
          delete (extensions.http as { spec?: boolean } | undefined)?.spec;
        }
      }
      if (!resultProcessor) setResultProcessor(processRegularResult, "application/json");
    },
  };
}

/**
 * Anonymous requests may introspect the schema and nothing else: anything more
 * gets HTTP 401 with a Bearer challenge naming the resource metadata (RFC 9728).
 */
function requireCredentials(): Plugin<GraphQLServerContext> {
  return {
    onExecute({ args }) {
      const ctx = args.contextValue as GraphQLServerContext;
      if (ctx.viewer.kind !== "anonymous") return;
      const document = args.document as DocumentNode;
      const operation = document.definitions.find(
        (d): d is OperationDefinitionNode =>
          d.kind === Kind.OPERATION_DEFINITION && (!args.operationName || d.name?.value === args.operationName),
      );
      if (operation && operation.operation === "query" && onlyIntrospection(operation.selectionSet, document)) return;
      throw createGraphQLError("Authentication required: send an OAuth access token (Authorization: Bearer) or sign in.", {
        extensions: {
          code: "UNAUTHENTICATED",
          http: { status: 401, headers: { "WWW-Authenticate": bearerChallenge(ctx.issuer), "Cache-Control": "no-store" } },
        },
      });
    },
  };
}

/** `rateLimits`: the GraphQL rate limits, which each request spends its cost of (limits.ts, limitCost); none, no budget is spent. */
export function createGraphQLServer(logger: Logger, metrics?: Metrics, rateLimits?: HotPathLimits) {
  return createYoga<GraphQLServerContext>({
    schema: getSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    cors: false, // answered in app.ts, from registered client origins
    // graphqlMetrics first: it must see the operation before requireCredentials may refuse it.
    // Then reading the request (refusals in our own form), and the limits, cheapest first: length,
    // variable depth and what is not text before parsing, tokens while parsing, depth and aliases
    // while validating, cost (after the credential check) before execution, and then the
    // credential's rate limit, which spends the cost.
    plugins: [
      ...(metrics ? [graphqlMetrics(metrics)] : []),
      refuseUnreadableRequests(),
      answerInOurOwnForm(),
      rejectAbusiveRequests(),
      ...armorPlugins(),
      requireCredentials(),
      limitCost(rateLimits),
      auditTokenUse(),
    ],
    maskedErrors: { maskError: (error, message, isDev) => toGraphQLError(error, message, isDev, logger) },
    // Assets come from the package, not a CDN (see graphiql.ts). The account
    // session's CSRF token rides along so that GraphiQL's requests pass the CSRF check.
    renderGraphiQL: renderGraphiQLPage,
    graphiql: (_request, ctx) => ({
      title: "scopegate GraphQL",
      defaultEditorToolsVisibility: false,
      headers: ctx?.csrfToken ? JSON.stringify({ "X-CSRF-Token": ctx.csrfToken }) : undefined,
      credentials: "same-origin",
    }),
    context: ({ viewer, prisma, sql, webhooks, connectors }) => ({ viewer, prisma, sql, webhooks, connectors }),
    logging: {
      debug: (...args) => logger.debug({ args }, "graphql"),
      info: (...args) => logger.info({ args }, "graphql"),
      warn: (...args) => logger.warn({ args }, "graphql"),
      error: (...args) => logger.error({ args }, "graphql"),
    },
  });
}
