import { renderGraphiQLPage } from "./graphiql.ts";
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from "graphql";
import { createGraphQLError, createYoga, type Plugin } from "graphql-yoga";
import { bearerChallenge } from "../auth/bearer.ts";
import { graphqlMetrics } from "../metrics/graphql.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Logger } from "../lib/log.ts";
import type { AuditBuffer } from "../audit/buffer.ts";
import type { GraphQLContext } from "./builder.ts";
import { armorPlugins, limitCost, limitError, LIMITS } from "./limits.ts";
import { getSchema } from "./schema.ts";
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
 * other limits are graphql-armor's and the cost check, see limits.ts), and NUL
 * characters, which PostgreSQL cannot store in text.
 */
function rejectAbusiveRequests(): Plugin<GraphQLServerContext> {
  const refuseNul = () =>
    createGraphQLError("NUL characters are not allowed.", { extensions: { code: "BAD_USER_INPUT", http: { status: 400 } } });
  return {
    onParams({ params }) {
      const query = typeof params.query === "string" ? params.query : "";
      if (query.length > LIMITS.length) throw limitError("length", `The query is longer than ${LIMITS.length} characters.`);
      const variables = params.variables ? JSON.stringify(params.variables) : "";
      if (/\\u0000|\u0000/i.test(query) || variables.includes("\\u0000")) throw refuseNul();
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

export function createGraphQLServer(logger: Logger, metrics?: Metrics) {
  return createYoga<GraphQLServerContext>({
    schema: getSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    cors: false, // answered in app.ts, from registered client origins
    // graphqlMetrics first: it must see the operation before requireCredentials may refuse it.
    // Then the limits, cheapest first: length and NUL before parsing, tokens while parsing, depth
    // and aliases while validating, cost (after the credential check) before execution.
    plugins: [
      ...(metrics ? [graphqlMetrics(metrics)] : []),
      rejectAbusiveRequests(),
      ...armorPlugins(),
      requireCredentials(),
      limitCost(),
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
    context: ({ viewer, prisma, sql }) => ({ viewer, prisma, sql }),
    logging: {
      debug: (...args) => logger.debug({ args }, "graphql"),
      info: (...args) => logger.info({ args }, "graphql"),
      warn: (...args) => logger.warn({ args }, "graphql"),
      error: (...args) => logger.error({ args }, "graphql"),
    },
  });
}
