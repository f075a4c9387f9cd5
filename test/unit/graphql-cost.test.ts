// What a GraphQL operation costs (src/graphql/limits.ts), with its variables applied.
import { parse } from "graphql";
import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_STATEMENT_COST } from "../../src/graphql/connection.ts";
import { costOf, LIMITS, selectedOperation } from "../../src/graphql/limits.ts";
import { getSchema } from "../../src/graphql/schema.ts";

function cost(query: string, variables?: Record<string, unknown>, operationName?: string): number | null {
  const document = parse(query);
  return costOf(getSchema(), document, selectedOperation(document, operationName)!, variables, {});
}

const PAGE = "edges { cursor node { id type value unit recordedAt } } pageInfo { hasNextPage endCursor }";
const measurements = (args: string) => `{ me { measurements${args} { ${PAGE} } } }`;
const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(" ")} }`;

describe("query cost", () => {
  it("multiplies a connection's selection by first, the default page size when first is absent", () => {
    const perItem = cost(measurements("(first: 2)"))! - cost(measurements("(first: 1)"))!;
    expect(perItem).toBeGreaterThan(0);
    expect(cost(measurements("(first: 100)"))! - cost(measurements("(first: 1)"))!).toBe(99 * perItem);
    expect(cost(measurements(""))).toBe(cost(measurements(`(first: ${DEFAULT_PAGE_SIZE})`)));
    // Never more than a page can hold: first beyond it is refused by the resolver anyway.
    expect(cost(measurements("(first: 1000000)"))).toBe(cost(measurements(`(first: ${MAX_PAGE_SIZE})`)));
  });

  it("counts first sent in a variable exactly like a literal (graphql-armor's cost limit reads literals only)", () => {
    const query = `query Page($n: Int) { me { measurements(first: $n) { ${PAGE} } } }`;
    expect(cost(query, { n: 100 })).toBe(cost(measurements("(first: 100)")));
    expect(cost(query, { n: 3 })).toBe(cost(measurements("(first: 3)")));
    expect(cost(query, {})).toBe(cost(measurements("")));
    // the same for the audit log, and with the operation picked by name among several
    const log = `query Other { me { id } } query Log($first: Int) { viewer { auditLog(first: $first) { edges { node { id action } } } } }`;
    expect(cost(log, { first: 100 }, "Log")! - cost(log, { first: 1 }, "Log")!).toBe(99 * 4); // edges, node, id, action
  });

  it("gives null for variables that do not fit (execution refuses them with its own error)", () => {
    expect(cost(`query($n: Int) { me { measurements(first: $n) { ${PAGE} } } }`, { n: "many" })).toBeNull();
  });

  it("admits every query the docs and the tests send, and measurements(first: 100) six times over", () => {
    const used = [
      "{ me { measurements(first: 20) { edges { node { id type value unit recordedAt } } } } }",
      measurements("(first: 100)"),
      "{ viewer { user { measurements(first: 100) { edges { node { type unit } } } sessions { activity locations { latitude } } locations { id } } } }",
      "{ me { id name email birthDate sessions { id activity startedAt endedAt distanceMeters calories locations { id latitude longitude recordedAt } } locations { id latitude longitude recordedAt } } }",
      `query Log($first: Int) { viewer { auditLog(first: $first) { edges { cursor node { id at action grantId detail client { clientId name } } } pageInfo { hasNextPage endCursor } } } }`,
      "{ viewer { oauthClients { clientId name redirectUris scopes secretHint createdAt } connectedApps { id scopes permissions { scope description } client { clientId name } } } }",
      aliases(6, `me { measurements(first: 100) { ${PAGE} } }`),
    ];
    for (const query of used) expect(cost(query, { first: 100 }), query).toBeLessThanOrEqual(LIMITS.cost);
  });

  it("puts many copies of a large list over the limit, however they are spelled", () => {
    expect(cost(aliases(30, `me { measurements(first: 100) { ${PAGE} } }`))).toBeGreaterThan(LIMITS.cost);
    expect(cost(aliases(30, "me { locations { id latitude longitude recordedAt } }"))).toBeGreaterThan(LIMITS.cost);
    // fragments count once per use
    const viaFragment = `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: me { ...Page }`).join(" ")} } fragment Page on User { measurements(first: 100) { ${PAGE} } }`;
    expect(cost(viaFragment)).toBeGreaterThan(LIMITS.cost);
  });

  it("counts each page's statement (PAGE_STATEMENT_COST), so that many small pages cost what they take", () => {
    expect(cost(measurements("(first: 1)"))! - cost("{ me { id } }")!).toBeGreaterThan(PAGE_STATEMENT_COST);
    // thirty one-row pages were 121 without it, and took longer than nine full pages
    expect(cost(aliases(30, "me { measurements(first: 1) { edges { node { id } } } }"))).toBeGreaterThan(LIMITS.cost);
    expect(cost(aliases(19, "me { measurements(first: 1) { edges { node { id } } } }"))).toBeLessThanOrEqual(LIMITS.cost);
    expect(cost(aliases(20, "me { measurements(first: 1) { edges { node { id } } } }"))).toBeGreaterThan(LIMITS.cost);
  });
});
