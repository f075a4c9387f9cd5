import { lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";
import { builder } from "./builder.ts";
import "./user.ts";
import "./account.ts";
import "./oauth-client.ts";

let built: GraphQLSchema | undefined;

export function getSchema(): GraphQLSchema {
  built ??= builder.toSchema();
  return built;
}

/** The text of schema.graphql. */
export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(getSchema())) + "\n";
}
