import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { complexityFromQuery } from "@pothos/plugin-complexity";
import { Kind, type DocumentNode, type GraphQLError, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import type { HotPathLimits } from "../db/rate-limit-windows.ts";
import type { GraphQLContext } from "./builder.ts";

/**
 * What one GraphQL request may ask of us, checked before anything executes
 * (docs/graphql.md, "Limits"). Each refusal is HTTP 400 with
 * extensions.code BAD_USER_INPUT, extensions.limit naming the limit and
 * extensions.max its value.
 */
export const LIMITS = {
  /** characters of query text, checked before parsing */
  length: 20_000,
  /** lexical tokens, counted while parsing (graphql-armor) */
  tokens: 2_000,
  /** fields nested in fields, fragments followed (graphql-armor; introspection's __schema not counted) */
  depth: 15,
  /** aliased fields in the operation, fragments included (graphql-armor; __typename free) */
  aliases: 30,
  /** the operation's cost with its variables applied (@pothos/plugin-complexity; see costOf) */
  cost: 10_000,
  /** lists and objects nested in the variables (and extensions), checked before parsing: the deepest input needs 3 */
  variableDepth: 10,
  /**
   * brackets ({ [ () nested in the query text, outside strings and comments, counted
   * before parsing (the parser recurses per level: thousands deep overflowed its stack);
   * fields nested to the depth limit with an input nested to variableDepth stay under it
   */
  nesting: 40,
} as const;

export type LimitName = keyof typeof LIMITS;

/** How deep brackets ({ [ () nest in a GraphQL document's text, strings and comments left out. */
export function nestingOf(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "#") {
      while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
    } else if (text.startsWith('"""', i)) {
      i += 3;
      while (i < text.length && !text.startsWith('"""', i)) i += text.startsWith('\\"""', i) ? 4 : 1;
      i += 2;
    } else if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== "\n") i += text[i] === "\\" ? 2 : 1;
    } else if (c === "{" || c === "[" || c === "(") {
      max = Math.max(max, ++depth);
    } else if (c === "}" || c === "]" || c === ")") {
      depth--;
    }
  }
  return max;
}

/** Lists with a known bound cost their bound; these are the others' estimate. */
export const DEFAULT_LIST_MULTIPLIER = 10;

export function limitError(limit: LimitName, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return createGraphQLError(message, {
    extensions: { code: "BAD_USER_INPUT", limit, max: LIMITS[limit], ...extra, http: { status: 400 } },
  });
}

/**
 * graphql-armor throws "Syntax Error: <limit> exceeded" with no code, which
 * Yoga would answer with HTTP 200; this makes it our 400, naming the limit.
 */
function asLimitError(limit: LimitName) {
  return (_ctx: unknown, err: GraphQLError) => {
    // Not a syntax error: the query is well-formed, just more than we answer.
    (err as { message: string }).message = err.message.replace(/^Syntax Error: /, "");
    Object.assign(err.extensions as Record<string, unknown>, {
      code: "BAD_USER_INPUT",
      limit,
      max: LIMITS[limit],
      http: { status: 400 },
    });
  };
}

/** The parse and validation limits: tokens while parsing, then depth and aliases as validation rules. */
export function armorPlugins(): Plugin[] {
  return [
    maxTokensPlugin({ n: LIMITS.tokens, onReject: [asLimitError("tokens")] }) as Plugin,
    maxDepthPlugin({ n: LIMITS.depth, onReject: [asLimitError("depth")] }) as Plugin,
    maxAliasesPlugin({ n: LIMITS.aliases, onReject: [asLimitError("aliases")] }) as Plugin,
    limitRefusalsAre400(),
  ];
}

/**
 * Yoga marks every error thrown while parsing as a GraphQL-over-HTTP "spec"
 * error, which it answers with 200 to application/json clients; a limit is
 * not a parse error, and is 400 for every client.
 */
function limitRefusalsAre400(): Plugin {
  return {
    onResultProcess({ result }) {
      if (!result || typeof result !== "object" || !("errors" in result) || !Array.isArray(result.errors)) return;
      for (const error of result.errors as GraphQLError[]) {
        const http = error.extensions?.limit ? (error.extensions.http as { spec?: boolean } | undefined) : undefined;
        if (http) delete http.spec;
      }
    },
  };
}

/** The operation a request runs: the named one, or the only one. */
export function selectedOperation(document: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((op) => op.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

// A cost without variables depends on the text alone, and Yoga hands the same
// parsed document to every request with the same text: computed once.
const constantCosts = new WeakMap<OperationDefinitionNode, number>();

/**
 * The cost of the operation, as @pothos/plugin-complexity counts it with the
 * request's variables: each selected field costs 1, and a list multiplies the
 * cost of what is selected under it by how many items it can return (a
 * connection by `first` as sent, in the query or in a variable, or the
 * default page size; other lists by their bound, or DEFAULT_LIST_MULTIPLIER).
 * Null when the variables do not fit the operation: execution refuses those.
 */
export function costOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
  context: object,
): number | null {
  const constant = !operation.variableDefinitions?.length;
  const cached = constant ? constantCosts.get(operation) : undefined;
  if (cached !== undefined) return cached;
  // complexityFromQuery reads the first operation of a document: give it only this one.
  const only: DocumentNode = {
    ...document,
    definitions: document.definitions.filter((d) => d.kind !== Kind.OPERATION_DEFINITION || d === operation),
  };
  let cost: number;
  try {
    cost = complexityFromQuery(only, { schema, ctx: context, variables: variables ?? {} }).complexity;
  } catch {
    return null;
  }
  if (constant) constantCosts.set(operation, cost);
  return cost;
}

/**
 * What a request spends of its credential's GraphQL rate limit (a budget of
 * cost units a minute, GRAPHQL_RATE_LIMIT_PER_TOKEN and _PER_SESSION): its
 * cost, and at least this much, the fixed part of any request (HTTP, the
 * credential check, its audit event). At the default budgets that is as many
 * requests a minute, however cheap, as the former request-count limits
 * allowed (150,000 / 50 = 3,000 per token; 60,000 / 50 = 1,200 per session).
 */
export const REQUEST_COST_FLOOR = 50;

/**
 * The HTTP layer (app.ts for /graphql, mcp/routes.ts for /mcp) takes this
 * much of the credential's budget before the request reaches Yoga, so that a
 * credential over its budget is refused before anything is parsed; the cost
 * plugin charges the rest.
 */
export const ADMITTED_AT_THE_DOOR = 1;

/** The credential a request spends the budget of: the grant (or client_credentials client) of a token, or the account session. */
function budgetOf(
  viewer: GraphQLContext["viewer"],
  limits: HotPathLimits,
): { limiter: HotPathLimits["graphqlPerToken"]; subject: string; who: string; setting: string } | null {
  if (viewer.kind === "token") {
    // As app.ts counts at the door: per grant, so that refreshing for a new token does not reset the count.
    return {
      limiter: limits.graphqlPerToken,
      subject: viewer.grantId ?? `client:${viewer.clientRowId}`,
      who: "this token",
      setting: "GRAPHQL_RATE_LIMIT_PER_TOKEN",
    };
  }
  if (viewer.kind === "account")
    return {
      limiter: limits.graphqlPerSession,
      subject: viewer.session.id,
      who: "this session",
      setting: "GRAPHQL_RATE_LIMIT_PER_SESSION",
    };
  return null;
}

/**
 * Refuses, after validation and before anything executes, an operation that
 * costs more than LIMITS.cost: a few hundred aliases of a large list were
 * seconds of database time, which everyone else waited for. Then, with
 * `rateLimits`, spends the operation's cost (at least REQUEST_COST_FLOOR) of
 * its credential's budget a minute, or refuses it with 429 and Retry-After
 * when the budget cannot pay for it: one credential cannot make the database
 * work more than its budget allows, however it shapes its queries.
 */
export function limitCost(rateLimits?: HotPathLimits): Plugin {
  return {
    onExecute({ args }) {
      const operation = selectedOperation(args.document, args.operationName);
      if (!operation) return; // execution answers that itself
      const cost = costOf(args.schema, args.document, operation, args.variableValues ?? undefined, args.contextValue as object);
      if (cost !== null && cost > LIMITS.cost) {
        throw limitError("cost", `Query cost limit of ${LIMITS.cost} exceeded, found ${cost}.`, { cost });
      }
      const budget = rateLimits && budgetOf((args.contextValue as unknown as GraphQLContext).viewer, rateLimits);
      if (!budget) return;
      const charge = Math.max(cost ?? 0, REQUEST_COST_FLOOR);
      const wait = budget.limiter.take(budget.subject, charge - ADMITTED_AT_THE_DOOR);
      if (wait === 0) return;
      throw createGraphQLError(
        `Too many requests with ${budget.who}: this query costs ${charge} of a budget of ${budget.limiter.limit} a minute (${budget.setting}); retry in ${wait} seconds.`,
        {
          extensions: {
            code: "RATE_LIMITED",
            cost: charge,
            budget: budget.limiter.limit,
            http: { status: 429, headers: { "Retry-After": String(wait), "Cache-Control": "no-store" } },
          },
        },
      );
    },
  };
}
