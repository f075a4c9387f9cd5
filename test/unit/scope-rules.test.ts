import { readFileSync } from "node:fs";
import { GraphQLObjectType, isObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { getSchema, printedScopesDoc } from "../../src/graphql/schema.ts";
import { fieldRule, schemaRules, typeRule } from "../../src/graphql/scope-rules.ts";

/** The object types of the schema other than the roots and introspection's. */
function dataTypes(): GraphQLObjectType[] {
  const schema = getSchema();
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);
  return Object.values(schema.getTypeMap()).filter(
    (t): t is GraphQLObjectType => isObjectType(t) && !t.name.startsWith("__") && !roots.has(t),
  );
}

describe("scope rules", () => {
  it("declare access for every field of every object type (a field without a rule is a failure)", () => {
    const rules = schemaRules(getSchema());
    expect(rules.length).toBeGreaterThan(30);
    const undeclared = rules.filter((r) => r.rule.kind === "undeclared").map((r) => `${r.type}.${r.field}`);
    expect(undeclared, `fields without an authScopes rule: ${undeclared.join(", ")}`).toEqual([]);
  });

  it("would catch a field added without a rule", () => {
    // A throwaway object type built the same way, with one ruled and one unruled field.
    const probe = new GraphQLObjectType({
      name: "Probe",
      fields: {
        ruled: { type: getSchema().getType("String") as never, extensions: { pothosOptions: { authScopes: { dataRead: true } } } },
        unruled: { type: getSchema().getType("String") as never },
      },
    });
    const fields = probe.getFields();
    expect(fieldRule(fields.ruled!)).toEqual({ kind: "scopes", scopes: ["data:read"] });
    expect(fieldRule(fields.unruled!)).toEqual({ kind: "undeclared" });
  });

  it("are stated once per type: every object type has a rule, and a field states one only to ask for more", () => {
    const withoutRule = dataTypes()
      .filter((t) => typeRule(t).kind === "undeclared")
      .map((t) => t.name);
    expect(withoutRule, `object types without an authScopes rule: ${withoutRule.join(", ")}`).toEqual([]);
    // A field repeating its type's rule would only cost a second check per field (scope-auth runs the type's once per object).
    const repeated: string[] = [];
    for (const type of dataTypes()) {
      for (const field of Object.values(type.getFields())) {
        if (JSON.stringify(fieldRule(field)) === JSON.stringify(typeRule(type))) repeated.push(`${type.name}.${field.name}`);
      }
    }
    expect(repeated, `fields repeating their type's rule: ${repeated.join(", ")}`).toEqual([]);
  });

  it("give a field without a rule of its own the rule of its type", () => {
    const ruled = (scopes: Record<string, boolean>) => ({ pothosOptions: { authScopes: scopes } });
    const probe = new GraphQLObjectType({
      name: "Probe",
      extensions: ruled({ account: true }),
      fields: {
        inherited: { type: getSchema().getType("String") as never },
        own: { type: getSchema().getType("String") as never, extensions: ruled({ profileRead: true }) },
      },
    });
    const fields = probe.getFields();
    expect(fieldRule(fields.inherited!, probe)).toEqual({ kind: "account" });
    expect(fieldRule(fields.own!, probe)).toEqual({ kind: "scopes", scopes: ["profile:read"] });
    // Measurement.id is open to data:read or data:write through its type; its other fields need data:read.
    const rules = new Map(schemaRules(getSchema()).map((r) => [`${r.type}.${r.field}`, r.rule]));
    expect(rules.get("Measurement.id")).toEqual({ kind: "scopes", scopes: ["data:read", "data:write"] });
    expect(rules.get("Measurement.value")).toEqual({ kind: "scopes", scopes: ["data:read"] });
  });

  it("keep sessions and locations away from every OAuth scope", () => {
    const rules = schemaRules(getSchema());
    for (const r of rules.filter((r) => ["Session", "Location"].includes(r.type) || ["sessions", "locations"].includes(r.field))) {
      expect({ field: `${r.type}.${r.field}`, rule: r.rule }).toEqual({ field: `${r.type}.${r.field}`, rule: { kind: "account" } });
    }
  });

  it("docs/scopes.md is generated from the current schema (run `npm run schema` when this fails)", () => {
    const committed = readFileSync(new URL("../../docs/scopes.md", import.meta.url), "utf8");
    expect(committed, "docs/scopes.md is stale: run `npm run schema`").toBe(printedScopesDoc());
  });

  it("schema.graphql carries the scope directives", () => {
    const sdl = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
    expect(sdl).toContain(
      'measurements(after: String, first: Int, from: DateTime, to: DateTime, type: MeasurementType): MeasurementConnection @requiresScopes(scopes: [["data:read"]])',
    );
    expect(sdl).toContain("sessions: [Session!] @accountOnly");
    expect(sdl).toContain("me: User @authenticated");
  });
});
