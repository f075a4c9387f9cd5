// What /graphql answers before anything executes, for requests no GraphQL
// client sends (issue 12: variables nested thousands deep, lone surrogates,
// broken query strings gave 500 "Unexpected error."): always GraphQL's error
// form, with a 4xx. No database is needed: nothing here executes a resolver.
import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../../src/auth/viewer.ts";
import { LIMITS, nestingOf } from "../../src/graphql/limits.ts";
import { createGraphQLServer, type GraphQLServerContext } from "../../src/graphql/yoga.ts";
import { createLogger } from "../../src/lib/log.ts";

const yoga = createGraphQLServer(createLogger("silent", false));
const context = { viewer: ANONYMOUS, issuer: "http://localhost" } as unknown as GraphQLServerContext;

type Body = { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };

async function send(init: RequestInit & { query?: string }): Promise<{ status: number; type: string; body: Body }> {
  const res = await yoga.fetch(new Request(`http://localhost/graphql${init.query ?? ""}`, init), context);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: text ? JSON.parse(text) : {} };
}

const post = (body: string, headers: Record<string, string> = {}) =>
  send({ method: "POST", headers: { "content-type": "application/json", ...headers }, body });

// (Variables that no operation declares are ignored: only what is refused before parsing is at stake.)
const QUERY = JSON.stringify("{ __typename }");

describe("variables", () => {
  it("nested deeper than LIMITS.variableDepth: 400 naming the limit, however deep (no stack overflow)", async () => {
    for (const depth of [LIMITS.variableDepth + 1, 1_000, 50_000]) {
      for (const nested of [`${"[".repeat(depth)}${"]".repeat(depth)}`, `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`]) {
        const { status, body } = await post(`{"query":${QUERY},"variables":{"a":${nested}}}`);
        expect({ depth, status }).toEqual({ depth, status: 400 });
        expect(body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", limit: "variableDepth", max: LIMITS.variableDepth });
      }
    }
    // in extensions too
    const { status } = await post(`{"query":"{ __typename }","extensions":{"a":${"[".repeat(5_000)}${"]".repeat(5_000)}}}`);
    expect(status).toBe(400);
  });

  it("as deep as an input can be: answered", async () => {
    const nested = `${"[".repeat(LIMITS.variableDepth - 1)}1${"]".repeat(LIMITS.variableDepth - 1)}`;
    const { status, body } = await post(`{"query":${QUERY},"variables":{"a":${nested}}}`);
    expect(status).toBe(200);
    expect(body).toEqual({ data: { __typename: "Query" } });
  });

  it("with a lone surrogate (JSON escape) in a value or a key, or in the operation name: 400 BAD_USER_INPUT naming where", async () => {
    for (const [variables, where] of [
      ['{"a":"\\ud800"}', "variables.a"],
      ['{"a":["ok","x\\udfff"]}', "variables.a[1]"],
      ['{"\\udc00":"x"}', "variables"],
    ] as const) {
      const { status, body } = await post(`{"query":${QUERY},"variables":${variables}}`);
      expect({ variables, status }).toEqual({ variables, status: 400 });
      expect(body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT" });
      expect(body.errors?.[0]?.message).toMatch(new RegExp(`^${where.replace(/[[\]]/g, "\\$&")} .*lone UTF-16 surrogate`));
    }
    const named = await post(`{"query":"query Q { __typename }","operationName":"Q\\ud800"}`);
    expect(named.status).toBe(400);
    expect(named.body.errors?.[0]?.message).toMatch(/^operationName .*surrogate/);
  });

  it("with a NUL: 400, as before", async () => {
    const { status, body } = await post(`{"query":${QUERY},"variables":{"a":"x\\u0000"}}`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toEqual({ message: "NUL characters are not allowed.", extensions: { code: "BAD_USER_INPUT" } });
  });
});

describe("the query's nesting", () => {
  it("counts brackets of every kind, but none in strings, block strings or comments", () => {
    expect(nestingOf("{ me { measurements(first: 1) { edges { node { id } } } } }")).toBe(5);
    expect(nestingOf('mutation { updateOAuthClient(clientId: "x", input: { redirectUris: ["[[[["] }) { clientId } }')).toBe(4);
    expect(nestingOf('{ a(s: """ {{{{ \\""" [[[[ """) }')).toBe(2);
    expect(nestingOf('{ a(s: "\\" {{{{") }')).toBe(2);
    expect(nestingOf("{ a # {{{{{{\n b }")).toBe(1);
    expect(nestingOf("")).toBe(0);
  });

  it("deeper than LIMITS.nesting, in a literal or in the selection: 400 naming the limit, however deep (it was a stack overflow)", async () => {
    for (const query of [
      `mutation { createOAuthClient(input: ${"[".repeat(3_000)}${"]".repeat(3_000)}) { __typename } }`,
      `{ __typename(x: ${"{a: ".repeat(LIMITS.nesting)}1${"}".repeat(LIMITS.nesting)}) }`,
      `${"{ __typename ".repeat(5_000)}${"}".repeat(5_000)}`,
      "[".repeat(LIMITS.length),
    ]) {
      const { status, body } = await post(JSON.stringify({ query }));
      expect({ query: query.slice(0, 40), status }).toEqual({ query: query.slice(0, 40), status: 400 });
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", limit: expect.stringMatching(/^(nesting|length)$/) });
    }
  });

  it("as deep as a real query: parsed (and refused, if at all, for what it asks)", async () => {
    const query = `{ __typename(x: ${"[".repeat(LIMITS.nesting - 2)}1${"]".repeat(LIMITS.nesting - 2)}) }`;
    const { status, body } = await post(JSON.stringify({ query }));
    expect(status).toBe(200);
    expect(body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });
});

describe("requests Yoga cannot read", () => {
  it("variables or extensions in a query string that are not JSON: 400 BAD_REQUEST, not 500", async () => {
    for (const q of ['?query={__typename}&variables={"a"', "?query={__typename}&extensions=%22", "?query={__typename}&variables=NaN"]) {
      const { status, body } = await send({ method: "GET", query: q, headers: { accept: "application/json" } });
      expect({ q, status }).toEqual({ q, status: 400 });
      expect(body.errors?.[0]?.extensions).toEqual({ code: "BAD_REQUEST" });
    }
  });

  it("a body in a media type it reads none of: 415 with a GraphQL error body", async () => {
    for (const type of ["", "text/plain", "application/xml"]) {
      const {
        status,
        type: answered,
        body,
      } = await send({ method: "POST", headers: { "content-type": type }, body: '{"query":"{ __typename }"}' });
      expect({ type, status }).toEqual({ type, status: 415 });
      expect(answered).toMatch(/json/);
      expect(body.errors?.[0]?.extensions).toEqual({ code: "BAD_REQUEST" });
    }
  });

  it("invalid JSON: 400 for every client, without the parser's exception in the answer", async () => {
    for (const accept of ["application/json", "application/graphql-response+json"]) {
      const { status, body } = await post('{"query": NaN}', { accept });
      expect({ accept, status }).toEqual({ accept, status: 400 });
      expect(body.errors).toEqual([{ message: "POST body sent invalid JSON.", extensions: { code: "BAD_REQUEST" } }]);
    }
  });

  it("a client that accepts none of our media types gets JSON, not an empty 406", async () => {
    const { status, type, body } = await post('{"query":"{ __typename }"}', { accept: "text/html" });
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(body).toEqual({ data: { __typename: "Query" } });
  });
});
