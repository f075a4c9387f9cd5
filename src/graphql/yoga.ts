import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { Logger } from "../log.ts";
import type { GraphQLContext } from "./builder.ts";
import { getSchema } from "./schema.ts";

/** Passed by the HTTP layer with each request (see app.ts). */
export type GraphQLServerContext = GraphQLContext & { csrfToken?: string };

export function createGraphQLServer(logger: Logger): YogaServerInstance<GraphQLServerContext, {}> {
  return createYoga<GraphQLServerContext>({
    schema: getSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    cors: false, // answered in app.ts, from registered client origins
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
