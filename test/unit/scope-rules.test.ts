import { readFileSync } from "node:fs";
import { GraphQLObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { getSchema, printedScopesDoc } from "../../src/graphql/schema.ts";
import { fieldRule, schemaRules } from "../../src/graphql/scope-rules.ts";

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
    expect(sdl).toContain('measurements(after: String, first: Int): MeasurementConnection @requiresScopes(scopes: [["data:read"]])');
    expect(sdl).toContain("sessions: [Session!] @accountOnly");
    expect(sdl).toContain("me: User @authenticated");
  });
});
