import {
  isObjectType,
  type GraphQLObjectType,
  Kind,
  parse,
  print,
  printSchema,
  lexicographicSortSchema,
  visit,
  type DirectiveNode,
  type GraphQLField,
  type GraphQLSchema,
} from "graphql";
import { OAUTH_SCOPE_OF } from "./builder.ts";

/** What a field's Pothos scope rule admits, read back from the built schema. */
export type FieldRule =
  | { kind: "scopes"; scopes: string[] } // an OAuth token with any one of these, or the account session
  | { kind: "authenticated" } // any live credential
  | { kind: "account" } // the account session only
  | { kind: "undeclared" };

function pothosAuthScopes(extensions: unknown): unknown {
  return (extensions as { pothosOptions?: { authScopes?: unknown } } | null | undefined)?.pothosOptions?.authScopes;
}

function ruleOf(scopes: unknown): FieldRule {
  if (!scopes || typeof scopes !== "object") return { kind: "undeclared" };
  const keys = Object.entries(scopes as Record<string, unknown>)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  const oauth = keys.filter((k) => k in OAUTH_SCOPE_OF).map((k) => OAUTH_SCOPE_OF[k as keyof typeof OAUTH_SCOPE_OF]);
  if (keys.includes("authenticated")) return { kind: "authenticated" };
  if (oauth.length) return { kind: "scopes", scopes: oauth };
  if (keys.length === 1 && keys[0] === "account") return { kind: "account" };
  return { kind: "undeclared" };
}

/** The rule an object type states for all its objects (the type's authScopes); undeclared without one. */
export function typeRule(type: GraphQLObjectType): FieldRule {
  return ruleOf(pothosAuthScopes(type.extensions));
}

/**
 * A field's rule: its own authScopes, or else its type's, which scope-auth
 * runs once per object before any field of it resolves (runScopesOnType).
 * A field that asks for more than its type states its own; one whose type
 * states none and that states none itself is undeclared (and denied by review:
 * test/unit/scope-rules.test.ts).
 */
export function fieldRule(field: GraphQLField<unknown, unknown>, parent?: GraphQLObjectType): FieldRule {
  const own = ruleOf(pothosAuthScopes(field.extensions));
  return own.kind === "undeclared" && parent ? typeRule(parent) : own;
}

export interface DeclaredField {
  type: string;
  field: string;
  rule: FieldRule;
}

/** Every field of every object type (introspection types aside), with its rule. */
export function schemaRules(schema: GraphQLSchema): DeclaredField[] {
  const out: DeclaredField[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) out.push({ type: type.name, field: field.name, rule: fieldRule(field, type) });
  }
  return out.sort((a, b) => `${a.type}.${a.field}`.localeCompare(`${b.type}.${b.field}`));
}

const DIRECTIVE_DEFINITIONS = `
"""
The field needs an OAuth access token with one of these scope sets (any set; every scope within a set). The signed-in account's own session always passes.
"""
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION

"""The field needs a credential: any valid OAuth access token or the account session."""
directive @authenticated on FIELD_DEFINITION

"""The field is reachable only with the signed-in account's session, never with an OAuth token, whatever its scopes."""
directive @accountOnly on FIELD_DEFINITION
`;

function directiveFor(rule: FieldRule): DirectiveNode | null {
  const name = (value: string) => ({ kind: Kind.NAME, value }) as const;
  switch (rule.kind) {
    case "authenticated":
      return { kind: Kind.DIRECTIVE, name: name("authenticated") };
    case "account":
      return { kind: Kind.DIRECTIVE, name: name("accountOnly") };
    case "scopes":
      return {
        kind: Kind.DIRECTIVE,
        name: name("requiresScopes"),
        arguments: [
          {
            kind: Kind.ARGUMENT,
            name: name("scopes"),
            value: {
              kind: Kind.LIST,
              values: rule.scopes.map((s) => ({ kind: Kind.LIST, values: [{ kind: Kind.STRING, value: s }] })),
            },
          },
        ],
      };
    default:
      return null;
  }
}

/**
 * The published schema: graphql-js's printout with each field's scope rule as a
 * directive, derived from the same Pothos rules that enforce access.
 */
export function printSchemaWithScopes(schema: GraphQLSchema): string {
  const sorted = lexicographicSortSchema(schema);
  const rules = new Map(schemaRules(sorted).map((r) => [`${r.type}.${r.field}`, r.rule]));
  let typeName = "";
  const ast = visit(parse(printSchema(sorted)), {
    ObjectTypeDefinition: {
      enter(node) {
        typeName = node.name.value;
      },
    },
    FieldDefinition(node) {
      const rule = rules.get(`${typeName}.${node.name.value}`);
      const directive = rule && directiveFor(rule);
      return directive ? { ...node, directives: [...(node.directives ?? []), directive] } : undefined;
    },
  });
  return `${DIRECTIVE_DEFINITIONS.trim()}\n\n${print(ast)}\n`;
}

const SCOPE_TEXT: Record<string, string> = {
  "profile:read": "Read the user's profile.",
  "data:read": "Read the user's health measurements.",
  "data:write": "Record, change and delete the user's health measurements.",
};

/** docs/scopes.md: every scope and every field it opens, generated from the schema. */
export function scopesMarkdown(schema: GraphQLSchema): string {
  const rules = schemaRules(schema);
  const lines = [
    "# Scopes and the fields they open",
    "",
    "Generated from the GraphQL schema by `npm run schema`; do not edit by hand.",
    "A field listed under a scope answers to an OAuth access token that carries that scope",
    "(or any other scope listed for the same field). Fields that need no particular scope, and",
    "fields no OAuth token can ever reach, are listed at the end. A field not listed anywhere does not exist.",
    "",
  ];
  for (const scope of Object.values(OAUTH_SCOPE_OF)) {
    lines.push(`## \`${scope}\``, "", SCOPE_TEXT[scope] ?? "", "");
    for (const r of rules) if (r.rule.kind === "scopes" && r.rule.scopes.includes(scope)) lines.push(`- \`${r.type}.${r.field}\``);
    lines.push("");
  }
  lines.push("## Any valid token", "", "No particular scope needed, but a credential is.", "");
  for (const r of rules) if (r.rule.kind === "authenticated") lines.push(`- \`${r.type}.${r.field}\``);
  lines.push("", "## Account session only", "", "Never reachable with an OAuth access token, whatever its scopes.", "");
  for (const r of rules) if (r.rule.kind === "account") lines.push(`- \`${r.type}.${r.field}\``);
  lines.push("");
  return lines.join("\n");
}
