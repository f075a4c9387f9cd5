// The GraphQL limits (src/graphql/limits.ts, docs/graphql.md "Limits"): each
// refusal is HTTP 400, BAD_USER_INPUT, extensions.limit naming the limit, and
// comes before anything executes: no SQL statement, no partial answer.
import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIMITS } from "../../src/graphql/limits.ts";
import { demoMeasurements } from "../../src/seed/demo.ts";
import type { WebClient } from "../helpers/http.ts";
import { registerClient, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let token: string;
let web: WebClient;
let csrf: string;
const statements: string[] = [];

type Body = { data?: any; errors?: { message: string; extensions?: Record<string, any> }[] };

async function bearer(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Body };
}

/** Sends the query and expects the refusal of `limit`, before any SQL statement. */
async function expectRefused(limit: keyof typeof LIMITS, query: string, variables?: Record<string, unknown>) {
  statements.length = 0;
  const { status, body } = await bearer(query, variables);
  expect({ limit, status }).toEqual({ limit, status: 400 });
  expect(body.data).toBeUndefined();
  expect(body.errors).toHaveLength(1);
  expect(body.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", limit, max: LIMITS[limit] });
  expect(body.errors![0]!.message).not.toMatch(/^Syntax Error/);
  expect(statements.filter((s) => /"Measurement"|"User"/.test(s))).toEqual([]);
  return body.errors![0]!;
}

beforeAll(async () => {
  server = await startTestServer({}, { onQuery: (sql) => statements.push(sql) });
  const signedIn = await signedInUser(server, "Ada");
  web = signedIn.web;
  csrf = await web.csrfFrom("/logout");
  const userId = signedIn.user.id;
  // more readings than any page: a large list
  await server.db.prisma.measurement.createMany({ data: [...demoMeasurements(userId), ...demoMeasurements(userId)] });
  const { client, clientSecret } = await registerClient(server, userId, { type: "CONFIDENTIAL", environment: "DEVELOPMENT" });
  const res = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "profile:read data:read" }),
  });
  token = ((await res.json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await server?.stop();
});

const PAGE = "edges { cursor node { id type value unit recordedAt } } pageInfo { hasNextPage endCursor }";
const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(" ")} }`;
/** __type(name: "User") { fields { type { ofType { ... { name } } } } }: a valid query `depth` fields deep. */
const nested = (depth: number) =>
  `{ __type(name: "User") { fields { type ${"{ ofType ".repeat(depth - 4)}{ name }${" }".repeat(depth - 4)} } } }`;

describe("GraphQL limits", () => {
  it("depth: 15 levels of fields answer, 16 are refused", async () => {
    const ok = await bearer(nested(15));
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    const error = await expectRefused("depth", nested(16));
    expect(error.message).toBe("Query depth limit of 15 exceeded, found 16.");
    // fragments are followed
    await expectRefused(
      "depth",
      `{ __type(name: "User") { ...F } } fragment F on __Type { fields { type ${"{ ofType ".repeat(11)}{ name }${" }".repeat(11)} } }`,
    );
  });

  it("aliases: 30 answer, 31 are refused", async () => {
    const ok = await bearer(aliases(30, "me { id }"));
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body.data)).toHaveLength(30);
    const error = await expectRefused("aliases", aliases(31, "me { id }"));
    expect(error.message).toBe("Aliases limit of 30 exceeded, found 31.");
  });

  it("tokens: a document of more than 2000 tokens is refused while it is parsed", async () => {
    const query = `{ me { ${"id ".repeat(LIMITS.tokens)} } }`;
    expect(query.length).toBeLessThan(LIMITS.length);
    const error = await expectRefused("tokens", query);
    expect(error.message).toBe("Token limit of 2000 exceeded.");
    // brackets nested deeper than LIMITS.nesting are refused before parsing, before tokens are counted
    await expectRefused("nesting", "{ me ".repeat(2000));
  });

  it("length: a query over 20,000 characters is refused before it is parsed", async () => {
    const error = await expectRefused("length", `{ me { id } }${" ".repeat(LIMITS.length)}`);
    expect(error.message).toBe("The query is longer than 20000 characters.");
  });

  it("cost: first multiplies, as a literal and as a variable alike, with the default page size when absent", async () => {
    // six pages of 100 fit (each page's statement counts too); seven do not
    const six = await bearer(aliases(6, `me { measurements(first: 100) { ${PAGE} } }`));
    expect(six.status).toBe(200);
    expect(six.body.data.a5.measurements.edges).toHaveLength(100);
    const literal = await expectRefused("cost", aliases(7, `me { measurements(first: 100) { ${PAGE} } }`));
    expect(literal.message).toMatch(/^Query cost limit of 10000 exceeded, found \d+\.$/);
    expect(literal.extensions!.cost).toBeGreaterThan(LIMITS.cost);
    // first: $n is counted with the value sent (graphql-armor's cost limit would count it once)
    const viaVariable = `query Pages($n: Int) ${aliases(7, `me { measurements(first: $n) { ${PAGE} } }`)}`;
    const refused = await expectRefused("cost", viaVariable, { n: 100 });
    expect(refused.extensions!.cost).toBe(literal.extensions!.cost);
    const small = await bearer(viaVariable, { n: 5 });
    expect(small.status).toBe(200);
    expect(small.body.data.a6.measurements.edges).toHaveLength(5);
    // without first, a page is 20 long and costs as much
    const defaults = await bearer(aliases(13, `me { measurements { ${PAGE} } }`));
    expect(defaults.status).toBe(200);
    expect(defaults.body.data.a0.measurements.edges).toHaveLength(20);
  });

  it("refuses a few hundred aliases of a large list at once, before touching the database, for a token and a session", async () => {
    // (a fragment keeps 250 copies within the length and token limits, which would refuse them first)
    const attack = `${aliases(250, "me { ...Page }")} fragment Page on User { measurements(first: 100) { ${PAGE} } }`;
    const error = await expectRefused("aliases", attack);
    expect(error.message).toBe("Aliases limit of 30 exceeded, found 250.");
    // within the alias limit, the cost limit holds
    await expectRefused("cost", aliases(30, `me { measurements(first: 100) { ${PAGE} } }`));
    await expectRefused("cost", aliases(30, "me { locations { id latitude longitude recordedAt } }"));
    // thirty one-row pages are thirty statements: over the limit too
    await expectRefused("cost", aliases(30, "me { measurements(first: 1) { edges { node { id } } } }"));
    statements.length = 0;
    const session = await web.graphql(aliases(30, `viewer { user { measurements(first: 100) { ${PAGE} } } }`), { csrf });
    expect(session.res.status).toBe(400);
    expect(session.body?.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", limit: "cost" });
    expect(statements.filter((s) => /"Measurement"/.test(s))).toEqual([]);
    // and the server still answers everyone else
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await bearer("{ me { measurements(first: 1) { edges { node { id } } } } }")).status).toBe(200);
  });

  it("admits GraphiQL's introspection query, without a credential too", async () => {
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
    });
    const anonymous = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    expect(anonymous.status).toBe(200);
    expect(((await anonymous.json()) as Body).data.__schema.queryType.name).toBe("Query");
  });
});
