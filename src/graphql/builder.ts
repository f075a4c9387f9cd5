import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import ComplexityPlugin from "@pothos/plugin-complexity";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from "@pothos/plugin-scope-auth";
import type { Viewer } from "../auth/viewer.ts";
import type { Db, Sql } from "../db/index.ts";
import type { WebhookSettings } from "../clients/webhook-endpoints.ts";
import type { Connectors } from "../connectors/connections.ts";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import { GraphQLError, Kind } from "graphql";
import { DEFAULT_LIST_MULTIPLIER } from "./limits.ts";
import { DateTimeResolver } from "graphql-scalars";

export interface GraphQLContext {
  viewer: Viewer;
  prisma: Db;
  sql: Sql;
  /** managing webhook endpoints: WEBHOOKS_ALLOW_LOOPBACK and the key that seals their secrets */
  webhooks: WebhookSettings;
  /** the configured providers (CONNECTORS_FILE) and the key that seals users' tokens there */
  connectors: Connectors;
}

/**
 * The signed-in account's user behind an account session; null for a bearer
 * token or no credential. Client and webhook administration is account-session
 * only: its resolvers act for this user, as the /developers page does.
 */
export function accountUser(ctx: GraphQLContext) {
  return ctx.viewer.kind === "account" ? ctx.viewer.session.user : null;
}

/**
 * account: a first-party account session (every scope over its own data);
 * authenticated: any live credential; profileRead/dataRead/dataWrite: the OAuth scope,
 * or an account session.
 */
export interface AuthScopes {
  account: boolean;
  authenticated: boolean;
  profileRead: boolean;
  dataRead: boolean;
  dataWrite: boolean;
}

export const OAUTH_SCOPE_OF: Record<"profileRead" | "dataRead" | "dataWrite", string> = {
  profileRead: "profile:read",
  dataRead: "data:read",
  dataWrite: "data:write",
};

/** The OAuth scopes whose absence made a check fail (any one of them would have passed). */
function oauthScopesIn(failure: AuthFailure): string[] {
  const out = new Set<string>();
  const walk = (f: AuthFailure) => {
    if (f.kind === AuthScopeFailureType.AuthScope && f.scope in OAUTH_SCOPE_OF) {
      out.add(OAUTH_SCOPE_OF[f.scope as keyof typeof OAUTH_SCOPE_OF]);
    }
    if (f.kind === AuthScopeFailureType.AnyAuthScopes || f.kind === AuthScopeFailureType.AllAuthScopes) f.failures.forEach(walk);
  };
  walk(failure);
  return [...out];
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: AuthScopes;
  PrismaTypes: PrismaTypes;
  // Every connection's edges and nodes are non-null, as they were before relay built them.
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
  Scalars: { DateTime: { Input: Date; Output: Date | string } };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ComplexityPlugin],
  // Each field's cost (limits.ts): 1, and a list multiplies what is selected under it. The
  // plugin's own check runs inside the first resolver, after execution began; limits.ts
  // checks the same costs before execution instead, so that one is off.
  complexity: { defaultComplexity: 1, defaultListMultiplier: DEFAULT_LIST_MULTIPLIER, disabled: true },
  // Connections only (see connection.ts): no Node interface, no global IDs; ids stay as they are.
  relay: {
    // The connection field multiplies by its page size (connection.ts), so edges do not multiply again.
    edgesFieldOptions: { nullable: { list: false, items: false }, complexity: { field: 1, multiplier: 1 } },
    nodeFieldOptions: { nullable: false },
    // Where a page ends, which any credential may know; the items have their own rules.
    pageInfoTypeOptions: { authScopes: { authenticated: true } },
  },
  scopeAuth: {
    treatErrorsAsUnauthorized: true,
    // A type's rule runs once per object (when it is completed), not again in each of its fields;
    // a field states a rule only when it asks for more than its type (see scope-rules.ts).
    runScopesOnType: true,
    authScopes: (ctx) => {
      const v = ctx.viewer;
      const has = (scope: string) => v.kind === "account" || (v.kind === "token" && v.scopes.has(scope));
      return {
        account: v.kind === "account",
        authenticated: v.kind !== "anonymous",
        profileRead: has("profile:read"),
        dataRead: has("data:read"),
        dataWrite: has("data:write"),
      };
    },
    unauthorizedError: (_parent, context, info, result) => {
      const where = `${info.parentType.name}.${info.fieldName}`;
      if (context.viewer.kind === "anonymous") {
        return new GraphQLError("Authentication required.", { extensions: { code: "UNAUTHENTICATED" } });
      }
      const requiredScopes = oauthScopesIn(result.failure);
      if (context.viewer.kind === "token" && requiredScopes.length) {
        return new GraphQLError(`${where} needs the scope ${requiredScopes.join(" or ")}.`, {
          extensions: { code: "INSUFFICIENT_SCOPE", requiredScopes },
        });
      }
      return new GraphQLError(
        context.viewer.kind === "token"
          ? `${where} is available only to the signed-in account, never to an OAuth token.`
          : `${where} is not available to this account.`,
        { extensions: { code: "FORBIDDEN" } },
      );
    },
  },
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === "production" ? null : "warn",
  },
});

// graphql-scalars decides what a DateTime is (RFC 3339: a date that exists, a time, an offset);
// we keep our messages, our output (toISOString, always UTC) and one leniency of ours: seconds may
// be left out ("2026-01-02T03:04Z" is 03:04:00), as they could before.
const DATE_TIME_SHAPE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const WITHOUT_SECONDS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})$/;

export function parseDateTime(value: unknown): Date {
  if (typeof value === "string") {
    try {
      return DateTimeResolver.parseValue(value.replace(WITHOUT_SECONDS, "$1:00$2")) as Date;
    } catch {
      // refused below, with our words
    }
    if (DATE_TIME_SHAPE.test(value)) {
      // Shaped like a date-time (digits only, safe to repeat) but not on the calendar: 30 February, 24:00.
      throw new GraphQLError(`DateTime must be a date and time that exists; ${value} does not.`);
    }
  }
  throw new GraphQLError("DateTime must be an ISO-8601 date and time with an offset, like 2026-01-02T03:04:05Z.");
}

builder.addScalarType("DateTime", DateTimeResolver, {
  description: "An ISO-8601 date and time in UTC.",
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

builder.queryType({});
builder.mutationType({});
