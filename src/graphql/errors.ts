import { GraphQLError } from "graphql";

/** Bad input: `extensions.code = BAD_USER_INPUT` and the field at fault. */
export function badUserInput(field: string, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT", field } });
}

export function notFound(what: string): GraphQLError {
  return new GraphQLError(`${what} not found.`, { extensions: { code: "NOT_FOUND" } });
}
