// GraphQL's rate limits spend each request's cost (issue 12 item 3): one token,
// or one account session, sending the most expensive query the per-request
// limits admit is refused with 429 once its budget a minute is spent, before
// anything executes, while another credential goes on as before. The default
// budgets (GRAPHQL_RATE_LIMIT_PER_TOKEN, _PER_SESSION) are used.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_HOT_PATH_LIMITS } from "../../src/db/rate-limit-windows.ts";
import { costOf, LIMITS, selectedOperation } from "../../src/graphql/limits.ts";
import { getSchema } from "../../src/graphql/schema.ts";
import { demoMeasurements } from "../../src/seed/demo.ts";
import { parse } from "graphql";
import { registerClient, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let ownerId: string;
const statements: string[] = [];

beforeAll(async () => {
  server = await startTestServer({}, { onQuery: (sql) => statements.push(sql) });
  ownerId = (await signedInUser(server, "Owner")).user.id;
  await server.db.prisma.measurement.createMany({ data: [...demoMeasurements(ownerId), ...demoMeasurements(ownerId)] });
});
afterAll(async () => {
  await server?.stop();
});

/** Twelve pages of 100 under aliases: 12 statements of 101 rows, about as much as one request may ask. */
const worst = (root: string) =>
  `{ ${Array.from({ length: 12 }, (_, i) => `a${i}: ${root.replace("…", "measurements(first: 100) { edges { node { id } } }")}`).join(" ")} }`;
const WORST_TOKEN = worst("me { … }");
const WORST_SESSION = worst("viewer { user { … } }");

function cost(query: string): number {
  const document = parse(query);
  return costOf(getSchema(), document, selectedOperation(document)!, {}, {})!;
}

async function clientToken(name: string): Promise<string> {
  const { client, clientSecret } = await registerClient(server, ownerId, { name, type: "CONFIDENTIAL", environment: "DEVELOPMENT" });
  const res = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "data:read" }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

function graphql(token: string, query: string): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query }),
  });
}

type Body = { data?: unknown; errors?: { message: string; extensions: Record<string, unknown> }[] };

describe("GraphQL rate limits spend the query's cost", () => {
  it("a token sending the worst admitted query gets 429 with Retry-After once its budget is spent, before anything runs; another token is unaffected", async () => {
    const c = cost(WORST_TOKEN);
    expect(c).toBeLessThanOrEqual(LIMITS.cost);
    expect(c).toBeGreaterThan(LIMITS.cost * 0.9);
    const admitted = Math.floor(DEFAULT_HOT_PATH_LIMITS.graphqlPerToken / c);
    expect(admitted).toBeLessThanOrEqual(20); // a handful a minute, not thousands

    const heavy = await clientToken("Heavy reader");
    for (let i = 0; i < admitted; i++) {
      const res = await graphql(heavy, WORST_TOKEN);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Body;
      expect(body.errors).toBeUndefined();
    }
    statements.length = 0;
    const refused = await graphql(heavy, WORST_TOKEN);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get("cache-control")).toBe("no-store");
    expect(refused.headers.get("x-oauth-scopes")).toBe("data:read");
    const body = (await refused.json()) as Body;
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]!.extensions).toMatchObject({ code: "RATE_LIMITED", cost: c, budget: DEFAULT_HOT_PATH_LIMITS.graphqlPerToken });
    expect(body.errors![0]!.message).toMatch(/^Too many requests with this token: .*GRAPHQL_RATE_LIMIT_PER_TOKEN.*retry in \d+ seconds\.$/);
    expect(statements.filter((s) => /"Measurement"/.test(s))).toEqual([]);
    // A cheap request still fits what is left of the budget; the heavy one keeps being refused.
    expect((await graphql(heavy, "{ me { id } }")).status).toBe(200);
    expect((await graphql(heavy, WORST_TOKEN)).status).toBe(429);

    // Another client's token: its own budget, answered in full.
    const other = await clientToken("Quiet reader");
    const answered = await graphql(other, WORST_TOKEN);
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as Body).errors).toBeUndefined();
    expect((await graphql(other, "{ me { measurements(first: 20) { edges { node { id value } } } } }")).status).toBe(200);
  });

  it("an account session spends its own budget the same way", async () => {
    const c = cost(WORST_SESSION);
    const admitted = Math.floor(DEFAULT_HOT_PATH_LIMITS.graphqlPerSession / c);
    const { web } = await signedInUser(server, "Browser user");
    const csrf = await web.csrfFrom("/logout");
    for (let i = 0; i < admitted; i++) expect((await web.graphql(WORST_SESSION, { csrf })).res.status).toBe(200);
    const refused = await web.graphql(WORST_SESSION, { csrf });
    expect(refused.res.status).toBe(429);
    expect(refused.res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(refused.body?.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(refused.body?.errors?.[0]?.message).toMatch(/GRAPHQL_RATE_LIMIT_PER_SESSION/);
    const other = await signedInUser(server, "Another user");
    expect((await other.web.graphql(WORST_SESSION, { csrf: await other.web.csrfFrom("/logout") })).res.status).toBe(200);
  });
});
