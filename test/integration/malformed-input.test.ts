import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const JSON_CT = { "content-type": "application/json" };
const weird = ["", "%", "%zz", "a=%E0%A4%A", "\u0000", "x".repeat(5000), "[]", "{}", "null", "a=1&a=2", "grant_type[]=x", "💥=💥"];

type Req = { method: string; path: string; headers?: Record<string, string>; body?: string };

function cases(): Req[] {
  const out: Req[] = [];
  for (const path of [
    "/v1/oauth/token",
    "/v1/oauth/revoke",
    "/v1/oauth/introspect",
    "/v1/oauth/userinfo",
    "/v1/oauth/authorize",
    "/login",
    "/signup",
    "/logout",
    "/graphql",
  ]) {
    for (const body of weird) {
      out.push({ method: "POST", path, headers: FORM, body });
      out.push({ method: "POST", path, headers: JSON_CT, body });
      out.push({ method: "POST", path, headers: { "content-type": "multipart/form-data; boundary=x" }, body });
      // (only values a client can put in a header at all)
      if (/^[\x21-\x7e]+$/.test(body)) {
        out.push({ method: "POST", path, headers: { ...FORM, authorization: `Basic ${body}` }, body: "grant_type=client_credentials" });
        out.push({ method: "POST", path, headers: { ...JSON_CT, authorization: `Bearer ${body}` }, body: '{"query":"{ me { id } }"}' });
      }
    }
    out.push({ method: "PUT", path, headers: FORM, body: "x=1" });
    out.push({ method: "DELETE", path });
  }
  for (const q of [
    "",
    "?",
    "?client_id=",
    "?client_id=%00",
    "?redirect_uri=javascript:alert(1)&client_id=x",
    `?scope=${"a ".repeat(3000)}`,
    "?client_id[]=1",
    "?client_id=1&client_id=2",
    "?%zz=1",
  ]) {
    out.push({ method: "GET", path: `/v1/oauth/authorize${q}` });
    out.push({ method: "GET", path: `/login${q}` });
    out.push({ method: "GET", path: `/graphql${q}`, headers: { accept: "application/json" } });
  }
  for (const path of ["/login", "/signup", "/v1/oauth/token", "/v1/oauth/revoke", "/v1/oauth/introspect"]) {
    out.push({ method: "POST", path, headers: FORM, body: "email=a%00b&password=x&client_id=%00&token=%00&grant_type=client_credentials" });
    // JSON.stringify writes the NUL as the escape \u0000
    out.push({
      method: "POST",
      path,
      headers: JSON_CT,
      body: JSON.stringify({ client_id: "\u0000", grant_type: "client_credentials", token: "\u0000" }),
    });
  }
  const graphqlNul: [string, Record<string, unknown> | undefined][] = [
    ["mutation($n: String) { updateProfile(input: { name: $n }) { id } }", { n: "a\u0000b" }],
    // a GraphQL string literal with the escape \u0000 in the query text
    ['mutation { revokeOAuthClient(clientId: "\\u0000") { clientId } }', undefined],
    ['{ me { measurements(after: "\\u0000") { pageInfo { hasNextPage } } } }', undefined],
  ];
  for (const [query, variables] of graphqlNul) {
    out.push({ method: "POST", path: "/graphql", headers: JSON_CT, body: JSON.stringify({ query, variables }) });
  }
  for (const body of [
    '{"query": 1}',
    '{"query": "{"}',
    '{"query": "query { me { id } }", "variables": "x"}',
    '{"query": "mutation { recordMeasurement(input: 1) { id } }"}',
    `{"query": "${"{ me ".repeat(2000)}"}`,
    '{"query":"{ __schema { types { name } } }","operationName":{}}',
  ]) {
    out.push({ method: "POST", path: "/graphql", headers: JSON_CT, body });
  }
  return out;
}

describe("malformed input", () => {
  it("never gets a 5xx or a stack trace", async () => {
    const failures: string[] = [];
    for (const r of cases()) {
      let res: Response;
      try {
        res = await fetch(`${server.url}${r.path}`, { method: r.method, headers: r.headers, body: r.body, redirect: "manual" });
      } catch (err) {
        failures.push(`${r.method} ${r.path} ${JSON.stringify(r.body)?.slice(0, 60)}: ${(err as Error).message}`);
        continue;
      }
      const text = await res.text();
      if (res.status >= 500 || /\n\s+at .+:\d+:\d+/.test(text) || /node_modules|\/src\//.test(text)) {
        failures.push(
          `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${JSON.stringify(r.body)?.slice(0, 60)} -> ${res.status} ${text.slice(0, 200)}`,
        );
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);
});

describe("refusals at the door", () => {
  it("a NUL is refused in the form of the surface it reached: a page for pages, JSON for the API, errors for GraphQL", async () => {
    for (const path of ["/login?return_to=%00", "/v1/oauth/authorize?client_id=%00", "/account/activity?after=%00"]) {
      const res = await fetch(`${server.url}${path}`, { redirect: "manual" });
      expect({ path, status: res.status, type: res.headers.get("content-type") }).toEqual({
        path,
        status: 400,
        type: expect.stringMatching(/^text\/html/),
      });
      expect(await res.text()).toContain("NUL characters are not allowed in requests.");
    }
    const api = await fetch(`${server.url}/v1/oauth/token`, { method: "POST", headers: FORM, body: "grant_type=%00" });
    expect({ status: api.status, body: await api.json() }).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "NUL characters are not allowed in requests." },
    });
    const graphql = await fetch(`${server.url}/graphql?query=%00`, { headers: { accept: "application/json" } });
    expect({ status: graphql.status, body: await graphql.json() }).toEqual({
      status: 400,
      body: { errors: [{ message: "NUL characters are not allowed in requests.", extensions: { code: "BAD_USER_INPUT" } }] },
    });
    // An MCP client reads a JSON-RPC error object (as the SDK's transport answers), never an HTML page.
    const mcp = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: { ...JSON_CT, accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "a\u0000b" } }),
    });
    expect({ status: mcp.status, type: mcp.headers.get("content-type"), body: await mcp.json() }).toEqual({
      status: 400,
      type: expect.stringMatching(/^application\/json/),
      body: { jsonrpc: "2.0", error: { code: -32600, message: "NUL characters are not allowed in requests." }, id: null },
    });
    // The connector endpoints: their own {"detail"} form.
    const connector = await fetch(`${server.url}/v1/connectors/oauth/acme/callback?state=%00`, { headers: { accept: "application/json" } });
    expect({ status: connector.status, body: await connector.json() }).toEqual({
      status: 400,
      body: { detail: "NUL characters are not allowed in requests." },
    });
  });

  it("a path with no route: a page for a page path, JSON for the API, each endpoint's own form for /mcp and the connectors", async () => {
    const page = await fetch(`${server.url}/account/nope`, { headers: { accept: "text/html" } });
    expect({ status: page.status, type: page.headers.get("content-type") }).toEqual({
      status: 404,
      type: expect.stringMatching(/^text\/html/),
    });
    expect(await page.text()).toContain("There is no page at this address.");
    const api = await fetch(`${server.url}/v1/oauth/nope`, { headers: { accept: "text/html" } });
    expect({ status: api.status, body: await api.json() }).toEqual({
      status: 404,
      body: { error: "not_found", error_description: "No route for GET /v1/oauth/nope" },
    });
    const mcp = await fetch(`${server.url}/mcp`, { method: "PUT", headers: JSON_CT, body: "{}" });
    expect({ status: mcp.status, body: await mcp.json() }).toEqual({
      status: 404,
      body: { jsonrpc: "2.0", error: { code: -32000, message: "No route for PUT /mcp." }, id: null },
    });
    const connector = await fetch(`${server.url}/v1/connectors/oauth/acme/nope`, { headers: { accept: "application/json" } });
    expect({ status: connector.status, body: await connector.json() }).toEqual({
      status: 404,
      body: { detail: "No route for GET /v1/connectors/oauth/acme/nope." },
    });
  });

  it("a body over 1 MiB is 413 in the form of the surface it was sent to, and closes the connection", async () => {
    const body = `a=${"x".repeat(1024 * 1024)}`;
    const answers: Record<string, { status: number; type: string | null; connection: string | null; text: string }> = {};
    for (const path of ["/login", "/v1/oauth/authorize", "/v1/oauth/token", "/graphql", "/mcp"]) {
      const res = await fetch(`${server.url}${path}`, { method: "POST", headers: FORM, body });
      answers[path] = {
        status: res.status,
        type: res.headers.get("content-type"),
        connection: res.headers.get("connection"),
        text: await res.text(),
      };
    }
    for (const a of Object.values(answers)) expect(a).toMatchObject({ status: 413, connection: "close" });
    for (const page of ["/login", "/v1/oauth/authorize"]) {
      expect(answers[page]!.type).toMatch(/^text\/html/);
      expect(answers[page]!.text).toContain("The request body is over 1 MiB.");
    }
    expect(JSON.parse(answers["/v1/oauth/token"]!.text)).toEqual({
      error: "request_too_large",
      error_description: "The request body is over 1 MiB.",
    });
    expect(JSON.parse(answers["/graphql"]!.text)).toEqual({
      errors: [{ message: "The request body is over 1 MiB.", extensions: { code: "REQUEST_TOO_LARGE" } }],
    });
    expect(JSON.parse(answers["/mcp"]!.text)).toEqual({
      jsonrpc: "2.0",
      error: { code: -32000, message: "The request body is over 1 MiB." },
      id: null,
    });
  });

  it("a body refused unread closes the connection, so that the client's next request is not lost with it", async () => {
    // 300 KB: past what the HTTP server drains, the connection was dropped under the next request
    const body = `a=${"x".repeat(300_000)}`;
    for (const path of ["/v1/oauth/token", "/v1/oauth/authorize", "/login", "/graphql"]) {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/xml" }, body });
        await res.text();
        expect(res.headers.get("connection"), path).toBe("close");
        statuses.push(res.status);
      }
      expect(
        statuses.every((s) => s >= 400 && s < 500),
        `${path}: ${statuses}`,
      ).toBe(true);
    }
  });
});
