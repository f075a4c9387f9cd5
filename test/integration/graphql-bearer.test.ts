import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { revokeClient } from "../../src/clients/client-admin.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let clientId: string;
let clientSecret: string;
let userId: string;
const opts = { [oauth.allowInsecureRequests]: true } as const;

async function token(scope?: string): Promise<string> {
  const issuer = new URL(server.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: "oauth2" }));
  const client = { client_id: clientId };
  const res = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(clientSecret),
    new URLSearchParams(scope ? { scope } : {}),
    opts,
  );
  return (await oauth.processClientCredentialsResponse(as, client, res)).access_token;
}

function gql(query: string, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
}

beforeAll(async () => {
  server = await startTestServer();
  const u = await signUp(server.db.prisma, { name: "Pat", email: "pat@example.com", password: "correct horse battery" });
  if (!u.ok) throw new Error("signup");
  userId = u.user.id;
  const c = await insertClient(server.db.prisma, {
    ownerId: userId,
    name: "Own backend",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/cb"],
    scopes: ["profile:read", "data:read"],
  });
  clientId = c.client.clientId;
  clientSecret = c.clientSecret!;
});
afterAll(async () => {
  await server?.stop();
});

describe("/graphql with bearer tokens", () => {
  it("answers anonymous requests with 401 and a resource_metadata challenge, but allows introspection", async () => {
    const res = await gql("{ me { id } }");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="scopegate", resource_metadata="${server.issuer}/.well-known/oauth-protected-resource/graphql"`,
    );
    expect(res.headers.get("cache-control")).toBe("no-store");
    const intro = await gql("{ __schema { queryType { name } } }");
    expect(intro.status).toBe(200);
    expect(await intro.json()).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });
    const viaFragment = await gql("query { ...F } fragment F on Query { __typename }");
    expect(viaFragment.status).toBe(200);
    const mixed = await gql("{ __typename me { id } }");
    expect(mixed.status).toBe(401);
  });

  it("refuses invalid tokens with 401 invalid_token", async () => {
    for (const auth of ["Bearer nope", "Bearer a.b.c", "Basic abc", `Bearer ${"x".repeat(9000)}`]) {
      const res = await gql("{ me { id } }", { authorization: auth });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
    }
  });

  it("serves the token's user with the fields its scopes allow and names the scopes", async () => {
    const res = await gql("{ me { id email } }", { authorization: `Bearer ${await token()}` });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-oauth-scopes")).toBe("profile:read data:read");
    expect(await res.json()).toEqual({ data: { me: { id: userId, email: "pat@example.com" } } });

    const narrow = await gql("{ me { id email } }", { authorization: `Bearer ${await token("data:read")}` });
    const body = await narrow.json();
    expect(body.data.me).toEqual({ id: userId, email: null });
    expect(body.errors[0].path).toEqual(["me", "email"]);
    expect(body.errors[0].extensions).toEqual({ code: "INSUFFICIENT_SCOPE", requiredScopes: ["profile:read"] });
  });

  it("stops a token on its next request once it is revoked", async () => {
    const t = await token();
    expect((await gql("{ me { id } }", { authorization: `Bearer ${t}` })).status).toBe(200);
    const rev = await fetch(`${server.issuer}/v1/oauth/revoke`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
      },
      body: new URLSearchParams({ token: t }),
    });
    expect(rev.status).toBe(200);
    const after = await gql("{ me { id } }", { authorization: `Bearer ${t}` });
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("ends a client_credentials token when its client is revoked", async () => {
    const t = await token();
    expect((await gql("{ me { id } }", { authorization: `Bearer ${t}` })).status).toBe(200);
    await revokeClient(server.db.prisma, { id: userId, isAdmin: false }, clientId);
    const after = await gql("{ me { id } }", { authorization: `Bearer ${t}` });
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    // Later tests use a client of their own.
    const fresh = await insertClient(server.db.prisma, {
      ownerId: userId,
      name: "Bearer tests 2",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: ["http://localhost:3000/cb"],
      scopes: ["profile:read", "data:read"],
    });
    clientId = fresh.client.clientId;
    clientSecret = fresh.clientSecret!;
  });

  it("never lets a token reach the account-only viewer", async () => {
    const res = await gql("{ viewer { user { id } } }", { authorization: `Bearer ${await token()}` });
    const body = await res.json();
    expect(body.data.viewer).toBeNull();
    expect(body.errors[0].extensions.code).toBe("FORBIDDEN");
  });
});
