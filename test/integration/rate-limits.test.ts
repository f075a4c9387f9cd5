// The hot paths' rate limits (issue 12 item 2): the token endpoint per client,
// GraphQL per token (per grant) and per account session, counted in memory
// and synced to the database. Small limits here; each surface answers 429
// with Retry-After in its own error form, and requests under the limit are
// unaffected. (Two instances sharing a limit: rate-limits.postgres.test.ts;
// the counting itself, with a clock: test/unit/window-limiter.test.ts; GraphQL's
// budgets spent by cost: rate-limits-cost.test.ts.)
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertClient } from "../../src/clients/clients.ts";
import { randomToken, sha256 } from "../../src/lib/crypto.ts";
import { REQUEST_COST_FLOOR } from "../../src/graphql/limits.ts";
import { insecure, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const LIMIT = 3;
// GraphQL's limits are budgets of cost units; the small queries here cost less than the
// floor every request spends (REQUEST_COST_FLOOR), so LIMIT of them fit, as before.
const GRAPHQL_BUDGET = LIMIT * REQUEST_COST_FLOOR;
let server: TestServer;
let as: oauth.AuthorizationServer;
let ownerId: string;

beforeAll(async () => {
  server = await startTestServer({
    TOKEN_RATE_LIMIT_PER_CLIENT: String(LIMIT),
    GRAPHQL_RATE_LIMIT_PER_TOKEN: String(GRAPHQL_BUDGET),
    GRAPHQL_RATE_LIMIT_PER_SESSION: String(GRAPHQL_BUDGET),
  });
  ownerId = (await signedInUser(server, "Owner")).user.id;
  const issuer = new URL(server.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: "oauth2" }));
});
afterAll(async () => {
  await server?.stop();
});

async function confidentialClient(name: string) {
  const { client, clientSecret } = await insertClient(server.db.prisma, {
    ownerId,
    name,
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/callback"],
    scopes: ["profile:read", "data:read"],
  });
  return { client, basic: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`, secret: clientSecret! };
}

function tokenRequest(basic: string, body: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body).toString(),
  });
}

async function accessToken(basic: string): Promise<string> {
  const res = await tokenRequest(basic, { grant_type: "client_credentials" });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

function me(token: string, accept = "application/json"): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
}

/** A 429 in GraphQL's error form. */
async function expectGraphQLRateLimited(res: Response): Promise<void> {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
  const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
  expect(body.data).toBeUndefined();
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]!.extensions.code).toBe("RATE_LIMITED");
  expect(body.errors[0]!.message).toMatch(/too many requests.*retry in \d+ seconds/i);
}

describe("the token endpoint, per client", () => {
  it("answers the limit's requests normally, then 429 too_many_requests with Retry-After; other clients are unaffected", async () => {
    const a = await confidentialClient("Busy backend");
    const b = await confidentialClient("Quiet backend");
    for (let i = 0; i < LIMIT; i++) {
      const res = await tokenRequest(a.basic, { grant_type: "client_credentials" });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { access_token?: string }).access_token).toBeTruthy();
    }
    const refused = await tokenRequest(a.basic, { grant_type: "client_credentials" });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get("cache-control")).toBe("no-store");
    expect(refused.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await refused.json()) as { error: string; error_description: string };
    expect(body.error).toBe("too_many_requests");
    expect(body.error_description).toMatch(/retry in \d+ seconds/);

    // A real client library sees the error code, the status and Retry-After.
    const err = await oauth
      .clientCredentialsGrantRequest(
        as,
        { client_id: a.client.clientId },
        oauth.ClientSecretBasic(a.secret),
        new URLSearchParams(),
        insecure,
      )
      .then((res) => oauth.processClientCredentialsResponse(as, { client_id: a.client.clientId }, res))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.ResponseBodyError);
    expect((err as oauth.ResponseBodyError).error).toBe("too_many_requests");
    expect((err as oauth.ResponseBodyError).status).toBe(429);
    expect((err as oauth.ResponseBodyError).response.headers.get("retry-after")).toMatch(/^\d+$/);

    expect((await tokenRequest(b.basic, { grant_type: "client_credentials" })).status).toBe(200);

    // Synced to the database: one row per key and window, with this instance's count.
    await server.syncRateLimits();
    const rows = await server.db.sql<{ count: number }>(`SELECT "count" FROM "RateLimitWindow" WHERE "key" = $1`, [
      `token:client:${a.client.id}`,
    ]);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(LIMIT);
  });

  it("counts a public client per client and address, since anyone can name it", async () => {
    const { client } = await insertClient(server.db.prisma, {
      ownerId,
      name: "Phone app",
      environment: "DEVELOPMENT",
      type: "PUBLIC",
      redirectUris: ["http://localhost:3000/callback"],
      scopes: ["data:read"],
    });
    const send = () => tokenRequest("", { grant_type: "refresh_token", refresh_token: "not-a-token", client_id: client.clientId });
    for (let i = 0; i < LIMIT; i++) expect((await send()).status).toBe(400);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toBe("too_many_requests");
    await server.syncRateLimits();
    const [row] = await server.db.sql<{ key: string }>(`SELECT "key" FROM "RateLimitWindow" WHERE "key" LIKE $1`, [
      `token:client:${client.id}:%`,
    ]);
    expect(row!.key).not.toContain("127.0.0.1"); // the address is stored hashed
  });
});

describe("GraphQL, per token", () => {
  it("answers the limit's requests normally, then 429 RATE_LIMITED; a client's client_credentials tokens count together", async () => {
    const c = await confidentialClient("Reader");
    const first = await accessToken(c.basic);
    for (let i = 0; i < LIMIT; i++) {
      const res = await me(first);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { me: { id: string } } }).data.me.id).toBe(ownerId);
    }
    const refused = await me(first);
    expect(refused.headers.get("x-oauth-scopes")).toBe("profile:read data:read"); // as on every answer to a live token
    await expectGraphQLRateLimited(refused);
    // A fresh token does not reset the count.
    await expectGraphQLRateLimited(await me(await accessToken(c.basic)));
    // In the media type the client asked for.
    const typed = await me(first, "application/graphql-response+json");
    expect(typed.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
    await expectGraphQLRateLimited(typed);
    // Another client's token is unaffected.
    expect((await me(await accessToken((await confidentialClient("Other reader")).basic))).status).toBe(200);
  });

  it("counts per grant: the tokens a refresh brings count with the ones before", async () => {
    const c = await confidentialClient("Partner");
    // What consent would have stored: a grant and its refresh token.
    const grant = await server.db.prisma.grant.create({ data: { userId: ownerId, clientId: c.client.id, scopes: ["data:read"] } });
    const refreshToken = randomToken();
    await server.db.prisma.refreshToken.create({
      data: {
        tokenHash: sha256(refreshToken),
        grantId: grant.id,
        scopes: ["data:read"],
        idleExpiresAt: new Date(Date.now() + 3_600_000),
        absoluteExpiresAt: new Date(Date.now() + 7_200_000),
      },
    });
    const refresh = async (token: string) => {
      const res = await tokenRequest(c.basic, { grant_type: "refresh_token", refresh_token: token });
      expect(res.status).toBe(200);
      return (await res.json()) as { access_token: string; refresh_token: string };
    };
    const one = await refresh(refreshToken);
    for (let i = 0; i < LIMIT; i++) expect((await me(one.access_token)).status).toBe(200);
    await expectGraphQLRateLimited(await me(one.access_token));
    const two = await refresh(one.refresh_token);
    await expectGraphQLRateLimited(await me(two.access_token));
  });
});

describe("GraphQL, per account session", () => {
  it("answers the limit's requests normally, then 429 RATE_LIMITED; another session is unaffected", async () => {
    const { web } = await signedInUser(server, "Browser user");
    const csrf = await web.csrfFrom("/logout");
    for (let i = 0; i < LIMIT; i++) {
      const r = await web.graphql("{ viewer { user { id } } }", { csrf });
      expect(r.res.status).toBe(200);
      expect(r.body?.data?.viewer?.user?.id).toBeTruthy();
    }
    const refused = await web.graphql("{ viewer { user { id } } }", { csrf });
    expect(refused.res.status).toBe(429);
    expect(refused.res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(refused.body?.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    // The GraphiQL page itself executes nothing and is not counted.
    expect((await web.fetch("/graphql", { headers: { accept: "text/html" } })).status).toBe(200);

    const other = await signedInUser(server, "Another user");
    const r = await other.web.graphql("{ viewer { user { id } } }", { csrf: await other.web.csrfFrom("/logout") });
    expect(r.res.status).toBe(200);
  });
});
