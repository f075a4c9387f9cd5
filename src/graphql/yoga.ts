import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from "graphql";
import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { bearerChallenge } from "../auth/bearer.ts";
import type { Logger } from "../log.ts";
import type { GraphQLContext } from "./builder.ts";
import { getSchema } from "./schema.ts";

/** Passed by the HTTP layer with each request (see app.ts). */
export type GraphQLServerContext = GraphQLContext & { csrfToken?: string; issuer: string };

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
          http: { status: 401, headers: { "WWW-Authenticate": bearerChallenge(ctx.issuer) } },
        },
      });
    },
  };
}

export function createGraphQLServer(logger: Logger): YogaServerInstance<GraphQLServerContext, {}> {
  return createYoga<GraphQLServerContext>({
    schema: getSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    cors: false, // answered in app.ts, from registered client origins
    plugins: [requireCredentials()],
    // Assets come from the package, not a CDN. The account session's CSRF token
    // rides along so that GraphiQL's requests pass the CSRF check.
    renderGraphiQL,
    graphiql: (_request, ctx) => ({
      title: "scopegate GraphQL",
      defaultEditorToolsVisibility: false,
      headers: ctx?.csrfToken ? JSON.stringify({ "X-CSRF-Token": ctx.csrfToken }) : undefined,
      credentials: "same-origin",
    }),
    context: ({ viewer, prisma }) => ({ viewer, prisma }),
    logging: {
      debug: (...args) => logger.debug({ args }, "graphql"),
      info: (...args) => logger.info({ args }, "graphql"),
      warn: (...args) => logger.warn({ args }, "graphql"),
      error: (...args) => logger.error({ args }, "graphql"),
    },
  });
}
