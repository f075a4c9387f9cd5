import type { GraphQLSchema } from "graphql";
import { printSchemaWithScopes, scopesMarkdown } from "./scope-rules.ts";
import { builder } from "./builder.ts";
import "./user.ts";
import "./account.ts";
import "./oauth-client.ts";
import "./measurement.ts";
import "./activity.ts";
import "./connected-app.ts";
import "./webhook-endpoint.ts";
import "./provider-connection.ts";

let built: GraphQLSchema | undefined;

export function getSchema(): GraphQLSchema {
  built ??= builder.toSchema();
  return built;
}

/** The text of schema.graphql: the schema with each field's scope rule as a directive. */
export function printedSchema(): string {
  return printSchemaWithScopes(getSchema());
}

/** The text of docs/scopes.md. */
export function printedScopesDoc(): string {
  return scopesMarkdown(getSchema());
}
