// Developer client management over GraphQL with a real account session:
// createOAuthClient, updateOAuthClient, rotateOAuthClientSecret and
// revokeOAuthClient, and what each change does to real OAuth flows
// (oauth4webapi against the real token and authorization endpoints).
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sha256 } from "../../src/lib/crypto.ts";
import type { WebClient } from "../helpers/http.ts";
import { authorizationUrl, checkboxes, discover, exchangeCode, insecure, location, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;

type GqlError = { message: string; extensions?: Record<string, unknown> };
type GqlBody = { data?: any; errors?: GqlError[] };

interface Developer {
  web: WebClient;
  csrf: string;
  userId: string;
  /** a GraphQL request with the account session and its CSRF token */
  gql(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: GqlBody }>;
}

async function developer(name: string): Promise<Developer> {
  const { web, user } = await signedInUser(server, name);
  const csrf = await web.csrfFrom("/logout");
  return {
    web,
    csrf,
    userId: user.id,
    async gql(query, variables) {
      const { res, body } = await web.graphql(query, { csrf, variables });
      expect(body, `a GraphQL JSON answer (HTTP ${res.status})`).toBeDefined();
      return { status: res.status, body: body! };
    },
  };
}

const FIELDS = "clientId name environment type redirectUris scopes firstParty accessTokenTtl refreshTokens secretHint createdAt revokedAt";
const CREATE = `mutation($input: CreateOAuthClientInput!) { createOAuthClient(input: $input) { clientSecret client { ${FIELDS} } } }`;
const UPDATE = `mutation($clientId: ID!, $input: UpdateOAuthClientInput!) { updateOAuthClient(clientId: $clientId, input: $input) { ${FIELDS} } }`;
const ROTATE = `mutation($clientId: ID!, $grace: Int) { rotateOAuthClientSecret(clientId: $clientId, gracePeriodSeconds: $grace) { clientSecret client { ${FIELDS} } } }`;
const REVOKE = `mutation($clientId: ID!) { revokeOAuthClient(clientId: $clientId) { ${FIELDS} } }`;
const LIST = `{ viewer { oauthClients { ${FIELDS} } } }`;

const PARTNER = "https://partner.example/callback";

const base = {
  name: "Pulse Tracker",
  environment: "PRODUCTION",
  type: "CONFIDENTIAL",
  redirectUris: [PARTNER],
  scopes: ["profile:read", "data:read", "data:write"],
};

let alice: Developer;
let bob: Developer;
let admin: Developer;
/** a signed-in user who connects apps (consents) */
let ruth: Developer;

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  [alice, bob, admin, ruth] = [await developer("Alice"), await developer("Bob"), await developer("Admin"), await developer("Ruth")];
  // The seeded administrator is an ordinary user with isAdmin set.
  await server.db.prisma.user.update({ where: { id: admin.userId }, data: { isAdmin: true } });
});
afterAll(async () => {
  await server?.stop();
});

async function create(dev: Developer, input: Record<string, unknown> = {}) {
  const { body } = await dev.gql(CREATE, { input: { ...base, ...input } });
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data.createOAuthClient as { clientSecret: string | null; client: Record<string, any> & { clientId: string } };
}

/** The one error of a refused mutation; asserts there is exactly one and no data. */
function refusal(body: GqlBody, mutation: string): GqlError {
  expect(body.errors, `expected ${mutation} to be refused`).toHaveLength(1);
  expect(body.data?.[mutation] ?? null).toBeNull();
  return body.errors![0]!;
}

function expectBadInput(body: GqlBody, mutation: string, field: string) {
  const error = refusal(body, mutation);
  expect(error.extensions, error.message).toMatchObject({ code: "BAD_USER_INPUT", field });
  return error;
}

async function row(clientId: string) {
  return server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
}

async function auditActions(clientId: string): Promise<string[]> {
  await server.flushAudit(); // token.issued is written in batches
  const { id } = await row(clientId);
  const events = await server.db.prisma.auditEvent.findMany({ where: { clientId: id }, orderBy: [{ at: "asc" }, { id: "asc" }] });
  return events.map((e) => e.action);
}

async function ccToken(clientId: string, secret: string, scope?: string) {
  const client = { client_id: clientId };
  const res = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(secret),
    new URLSearchParams(scope === undefined ? {} : { scope }),
    insecure,
  );
  return oauth.processClientCredentialsResponse(as, client, res);
}

/** The token endpoint's RFC 6749 error for a client_credentials request (the raw response, no oauth4webapi parsing). */
async function ccError(clientId: string, secret: string): Promise<{ status: number; error: string }> {
  const res = await fetch(as.token_endpoint!, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`,
    },
    body: "grant_type=client_credentials",
  });
  return { status: res.status, error: ((await res.json()) as { error: string }).error };
}

async function bearerGql(token: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GqlBody, headers: res.headers };
}

/** Ruth connects the app (consent: Allow) and gets tokens with the code flow. */
async function connect(clientId: string, secret: string, scope: string) {
  const { callback, req } = await authorize(clientId, scope);
  const client = { client_id: clientId };
  const nonce = scope.split(" ").includes("openid") ? req.nonce : undefined;
  return exchangeCode(as, client, oauth.ClientSecretBasic(secret), callback, PARTNER, req.verifier, nonce);
}

/** Ruth's authorization request up to the code (consent shown and allowed when needed). */
async function authorize(clientId: string, scope: string) {
  const req = await authorizationUrl(as, clientId, PARTNER, scope);
  let res = await ruth.web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) res = (await submitConsent(ruth.web, await res.text(), { decision: "allow" })).res;
  expect([302, 303]).toContain(res.status);
  const callback = oauth.validateAuthResponse(as, { client_id: clientId }, location(res, server.url), req.state);
  return { callback, req };
}

async function refresh(clientId: string, secret: string, refreshToken: string) {
  const client = { client_id: clientId };
  const res = await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretBasic(secret), refreshToken, insecure);
  return oauth.processRefreshTokenResponse(as, client, res);
}

describe("createOAuthClient", () => {
  it("returns a confidential client's secret once: high-entropy, stored only as a SHA-256 hash with a 4-character hint", async () => {
    const created = await create(alice);
    const secret = created.clientSecret!;
    expect(secret).toMatch(/^sgs_[A-Za-z0-9_-]{43,}$/);
    expect(created.client).toMatchObject({
      name: "Pulse Tracker",
      environment: "PRODUCTION",
      type: "CONFIDENTIAL",
      redirectUris: [PARTNER],
      scopes: ["profile:read", "data:read", "data:write"],
      firstParty: false,
      accessTokenTtl: 600,
      refreshTokens: true,
      secretHint: secret.slice(-4),
      revokedAt: null,
    });
    expect(created.client.clientId).toMatch(/^sgc_[0-9a-f]{32}$/);

    const stored = await row(created.client.clientId);
    expect(stored.secretHash).toBe(sha256(secret));
    expect(stored.secretHint).toBe(secret.slice(-4));
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(stored.ownerId).toBe(alice.userId);

    // Never again: the list has no secret, only the hint.
    const { body } = await alice.gql(LIST);
    const listed = body.data.viewer.oauthClients.find((c: { clientId: string }) => c.clientId === created.client.clientId);
    expect(listed.secretHint).toBe(secret.slice(-4));
    expect(JSON.stringify(body)).not.toContain(secret);

    // A second client gets a different secret; the secret works at the token endpoint.
    expect((await create(alice)).clientSecret).not.toBe(secret);
    expect((await ccToken(created.client.clientId, secret)).access_token).toBeTruthy();

    expect(await auditActions(created.client.clientId)).toEqual(["client.created", "token.issued"]);
    const events = await server.db.prisma.auditEvent.findMany({ where: { clientId: stored.id } });
    for (const e of events) expect(e.detail ?? "").not.toContain(secret);
  });

  it("gives a public client no secret and accepts its private-use and loopback redirect URIs", async () => {
    const created = await create(alice, {
      type: "PUBLIC",
      environment: "DEVELOPMENT",
      redirectUris: ["com.example.pulse:/callback", "http://127.0.0.1/cb", "http://localhost:3000/cb", "http://[::1]:8080/cb"],
      accessTokenTtl: 3600,
      refreshTokens: false,
    });
    expect(created.clientSecret).toBeNull();
    expect(created.client).toMatchObject({ type: "PUBLIC", secretHint: null, accessTokenTtl: 3600, refreshTokens: false });
    expect((await row(created.client.clientId)).secretHash).toBeNull();
  });

  it("accepts the bounds: a 100-character name, TTL 60 and 86400, https in development", async () => {
    expect((await create(alice, { name: "n".repeat(100) })).client.name).toHaveLength(100);
    expect((await create(alice, { accessTokenTtl: 60 })).client.accessTokenTtl).toBe(60);
    expect((await create(alice, { accessTokenTtl: 86_400 })).client.accessTokenTtl).toBe(86_400);
    expect((await create(alice, { environment: "DEVELOPMENT", redirectUris: ["https://dev.partner.example/cb"] })).client.environment).toBe(
      "DEVELOPMENT",
    );
  });

  const refused: [string, Record<string, unknown>, string][] = [
    ["an empty name", { name: "" }, "name"],
    ["a blank name", { name: "   " }, "name"],
    ["a 101-character name", { name: "n".repeat(101) }, "name"],
    ["a huge name", { name: "n".repeat(100_000) }, "name"],
    ["no redirect URI", { redirectUris: [] }, "redirectUris"],
    ["a relative redirect URI", { redirectUris: ["/callback"] }, "redirectUris"],
    ["a redirect URI that is not a URL", { redirectUris: ["not a url"] }, "redirectUris"],
    ["a redirect URI with a fragment", { redirectUris: ["https://partner.example/cb#x"] }, "redirectUris"],
    ["a redirect URI with an empty fragment", { redirectUris: ["https://partner.example/cb#"] }, "redirectUris"],
    ["plain http in production", { redirectUris: ["http://partner.example/cb"] }, "redirectUris"],
    ["http://localhost in production", { redirectUris: ["http://localhost:3000/cb"] }, "redirectUris"],
    [
      "http to a non-loopback host in development",
      { environment: "DEVELOPMENT", redirectUris: ["http://partner.example/cb"] },
      "redirectUris",
    ],
    ["a private-use scheme for a confidential client", { redirectUris: ["com.example.pulse:/cb"] }, "redirectUris"],
    ["a scheme that is not reverse-DNS", { type: "PUBLIC", redirectUris: ["pulse:/cb"] }, "redirectUris"],
    ["javascript:", { type: "PUBLIC", redirectUris: ["javascript:alert(1)"] }, "redirectUris"],
    ["credentials in a redirect URI", { redirectUris: ["https://user:pw@partner.example/cb"] }, "redirectUris"],
    ["a 2001-character redirect URI", { redirectUris: [`https://partner.example/${"a".repeat(1980)}`] }, "redirectUris"],
    ["11 redirect URIs", { redirectUris: Array.from({ length: 11 }, (_, i) => `https://partner.example/cb${i}`) }, "redirectUris"],
    ["one good, one bad redirect URI", { redirectUris: [PARTNER, "ftp://partner.example/cb"] }, "redirectUris"],
    ["no scopes", { scopes: [] }, "scopes"],
    ["openid as a registered scope", { scopes: ["openid"] }, "scopes"],
    ["an unknown scope", { scopes: ["data:read", "admin"] }, "scopes"],
    ["TTL 59", { accessTokenTtl: 59 }, "accessTokenTtl"],
    ["TTL 86401", { accessTokenTtl: 86_401 }, "accessTokenTtl"],
    ["a negative TTL", { accessTokenTtl: -1 }, "accessTokenTtl"],
    ["firstParty from a non-administrator", { firstParty: true }, "firstParty"],
  ];
  it.each(refused)("refuses %s with BAD_USER_INPUT naming the field, and stores nothing", async (_what, input, field) => {
    const before = await server.db.prisma.oAuthClient.count();
    const { status, body } = await alice.gql(CREATE, { input: { ...base, ...input } });
    expect(status).toBe(200);
    const error = expectBadInput(body, "createOAuthClient", field);
    expect(error.message.length).toBeLessThan(3000);
    expect(await server.db.prisma.oAuthClient.count()).toBe(before);
  });

  it("answers malformed input (wrong enums and types, missing fields) with GraphQL errors, never a 5xx", async () => {
    const cases: Record<string, unknown>[] = [
      { ...base, environment: "STAGING" },
      { ...base, type: "SECRET" },
      { ...base, accessTokenTtl: 1.5 },
      { ...base, accessTokenTtl: 2 ** 40 },
      { ...base, redirectUris: [null] },
      { ...base, scopes: [42] },
      { name: "Only a name" },
    ];
    for (const input of cases) {
      const { status, body } = await alice.gql(CREATE, { input });
      expect(status, JSON.stringify(input)).toBeLessThan(500);
      expect(body.errors?.length, JSON.stringify(input)).toBeGreaterThan(0);
      expect(body.data?.createOAuthClient ?? null).toBeNull();
    }
  });

  it("lets an administrator mark a client first-party", async () => {
    const created = await create(admin, { firstParty: true });
    expect(created.client.firstParty).toBe(true);
    expect((await row(created.client.clientId)).firstParty).toBe(true);
  });
});

describe("updateOAuthClient", () => {
  it("changes name, redirect URIs, scopes, lifetime and refresh setting, and writes client.updated", async () => {
    const { client } = await create(alice);
    const { body } = await alice.gql(UPDATE, {
      clientId: client.clientId,
      input: {
        name: "Pulse Tracker 2",
        redirectUris: ["https://partner.example/v2/callback", PARTNER],
        scopes: ["data:read"],
        accessTokenTtl: 120,
        refreshTokens: false,
      },
    });
    expect(body.errors).toBeUndefined();
    expect(body.data.updateOAuthClient).toMatchObject({
      clientId: client.clientId,
      name: "Pulse Tracker 2",
      redirectUris: ["https://partner.example/v2/callback", PARTNER],
      scopes: ["data:read"],
      accessTokenTtl: 120,
      refreshTokens: false,
      environment: "PRODUCTION",
      type: "CONFIDENTIAL",
    });
    expect(await row(client.clientId)).toMatchObject({
      name: "Pulse Tracker 2",
      scopes: ["data:read"],
      accessTokenTtl: 120,
      refreshTokens: false,
    });
    expect(await auditActions(client.clientId)).toEqual(["client.created", "client.updated"]);
    const event = await server.db.prisma.auditEvent.findFirstOrThrow({
      where: { action: "client.updated", client: { clientId: client.clientId } },
    });
    expect(event.userId).toBe(alice.userId);
    expect(event.detail).toContain("scopes profile:read data:read data:write -> data:read");
  });

  it("leaves fields out of the input as they are; an update that changes nothing writes no event", async () => {
    const { client } = await create(alice);
    const { body } = await alice.gql(UPDATE, { clientId: client.clientId, input: { name: "Renamed" } });
    expect(body.data.updateOAuthClient).toMatchObject({
      name: "Renamed",
      scopes: base.scopes,
      redirectUris: [PARTNER],
      accessTokenTtl: 600,
    });
    const again = await alice.gql(UPDATE, { clientId: client.clientId, input: { name: "Renamed", scopes: [...base.scopes].reverse() } });
    expect(again.body.errors).toBeUndefined();
    expect(await auditActions(client.clientId)).toEqual(["client.created", "client.updated"]);
  });

  it("cannot change environment or type (not part of the input)", async () => {
    const { client } = await create(alice);
    for (const input of [{ environment: "DEVELOPMENT" }, { type: "PUBLIC" }]) {
      const { status, body } = await alice.gql(UPDATE, { clientId: client.clientId, input });
      expect(status).toBeLessThan(500);
      expect(body.errors?.length).toBeGreaterThan(0);
    }
    expect(await row(client.clientId)).toMatchObject({ environment: "PRODUCTION", type: "CONFIDENTIAL" });
  });

  const refused: [string, Record<string, unknown>, string][] = [
    ["an empty name", { name: "" }, "name"],
    ["a 101-character name", { name: "x".repeat(101) }, "name"],
    ["no redirect URI", { redirectUris: [] }, "redirectUris"],
    ["a fragment", { redirectUris: ["https://partner.example/cb#frag"] }, "redirectUris"],
    ["http://localhost on a production client", { redirectUris: ["http://localhost:3000/cb"] }, "redirectUris"],
    ["a private-use scheme on a confidential client", { redirectUris: ["com.example.pulse:/cb"] }, "redirectUris"],
    ["a relative URI", { redirectUris: ["callback"] }, "redirectUris"],
    ["no scopes", { scopes: [] }, "scopes"],
    ["an unknown scope", { scopes: ["offline_access"] }, "scopes"],
    ["TTL 59", { accessTokenTtl: 59 }, "accessTokenTtl"],
    ["TTL 86401", { accessTokenTtl: 86_401 }, "accessTokenTtl"],
    ["firstParty from a non-administrator", { firstParty: true }, "firstParty"],
  ];
  it.each(refused)("refuses %s with BAD_USER_INPUT naming the field, and changes nothing", async (_what, input, field) => {
    const { client } = await create(alice);
    const before = await row(client.clientId);
    const { body } = await alice.gql(UPDATE, { clientId: client.clientId, input: { name: "Should not stick", ...input } });
    expectBadInput(body, "updateOAuthClient", field);
    expect(await row(client.clientId)).toEqual(before);
    expect(await auditActions(client.clientId)).toEqual(["client.created"]);
  });

  it("checks redirect URIs against the client's own environment: a development client may use http://localhost", async () => {
    const { client } = await create(alice, { environment: "DEVELOPMENT" });
    const { body } = await alice.gql(UPDATE, { clientId: client.clientId, input: { redirectUris: ["http://localhost:5173/cb"] } });
    expect(body.data.updateOAuthClient.redirectUris).toEqual(["http://localhost:5173/cb"]);
  });

  it("lets only an administrator switch firstParty", async () => {
    const own = await create(admin);
    const on = await admin.gql(UPDATE, { clientId: own.client.clientId, input: { firstParty: true } });
    expect(on.body.data.updateOAuthClient.firstParty).toBe(true);
    const off = await admin.gql(UPDATE, { clientId: own.client.clientId, input: { firstParty: false } });
    expect(off.body.data.updateOAuthClient.firstParty).toBe(false);
    // A non-administrator may send the value the client already has (a whole-form save), but not change it.
    const mine = await create(alice);
    expect((await alice.gql(UPDATE, { clientId: mine.client.clientId, input: { firstParty: false } })).body.errors).toBeUndefined();
    expectBadInput(
      (await alice.gql(UPDATE, { clientId: mine.client.clientId, input: { firstParty: true } })).body,
      "updateOAuthClient",
      "firstParty",
    );
  });

  it("narrowing scopes holds at once: live tokens with the scope, client_credentials, refresh, authorization and pending codes", async () => {
    const { client, clientSecret } = await create(alice);
    const id = client.clientId;
    const secret = clientSecret!;
    const connected = await connect(id, secret, "offline_access data:read data:write");
    expect(connected.scope).toBe("offline_access data:read data:write");
    expect((await ccToken(id, secret)).scope).toBe("profile:read data:read data:write");
    // A code handed out before the change, not yet exchanged, and live tokens with and without the scope.
    const pending = await authorize(id, "data:read data:write");
    const withWrite = await ccToken(id, secret);
    const readOnly = await ccToken(id, secret, "data:read");

    const { body } = await alice.gql(UPDATE, { clientId: id, input: { scopes: ["profile:read", "data:read"] } });
    expect(body.data.updateOAuthClient.scopes).toEqual(["profile:read", "data:read"]);

    // a live token carrying the removed scope ends at once; one without it keeps working
    expect((await bearerGql(withWrite.access_token, "{ me { id } }")).status).toBe(401);
    expect((await bearerGql(readOnly.access_token, "{ me { id } }")).status).toBe(200);

    // client_credentials: the default no longer includes data:write, and asking for it is refused.
    const cc = await ccToken(id, secret);
    expect(cc.scope).toBe("profile:read data:read");
    await expect(ccToken(id, secret, "data:write")).rejects.toMatchObject({ error: "invalid_scope" });
    const write = await bearerGql(
      cc.access_token,
      `mutation { recordMeasurement(input: { type: STEPS, value: 1, unit: "count", recordedAt: "2024-01-01T00:00:00Z" }) { id } }`,
    );
    expect(write.body.errors?.[0]?.extensions).toMatchObject({ code: "INSUFFICIENT_SCOPE", requiredScopes: ["data:write"] });

    // refresh: the new access token lacks the removed scope.
    const refreshed = await refresh(id, secret, connected.refresh_token!);
    expect(refreshed.scope).toBe("offline_access data:read");

    // the code issued before the change no longer turns into a token carrying data:write.
    const exchange = await oauth.authorizationCodeGrantRequest(
      as,
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      pending.callback,
      PARTNER,
      pending.req.verifier,
      insecure,
    );
    expect(exchange.status).toBe(400);
    expect(((await exchange.json()) as { error: string }).error).toBe("invalid_grant");

    // authorization: asking for the removed scope goes back to the app as invalid_scope.
    const req = await authorizationUrl(as, id, PARTNER, "data:read data:write");
    const res = await ruth.web.fetch(req.url.pathname + req.url.search);
    const back = location(res, server.url);
    expect(`${back.origin}${back.pathname}`).toBe(PARTNER);
    expect(back.searchParams.get("error")).toBe("invalid_scope");
    // ...while the remaining scopes still work.
    expect((await connect(id, secret, "data:read")).scope).toBe("data:read");
  });

  it("a scope removed and added back is asked for again, marked New; tokens minted before that consent don't carry it", async () => {
    const { client, clientSecret } = await create(alice);
    const id = client.clientId;
    const secret = clientSecret!;
    const connected = await connect(id, secret, "offline_access profile:read data:read");
    expect(connected.scope).toBe("offline_access profile:read data:read");

    await alice.gql(UPDATE, { clientId: id, input: { scopes: ["profile:read", "data:write"] } });
    // Ruth's grant lost data:read with the client, and her trail says why.
    const { id: rowId } = await row(id);
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId: ruth.userId, clientId: rowId, revokedAt: null } });
    expect(grant.scopes).toEqual(["offline_access", "profile:read"]);
    const trail = await server.db.prisma.auditEvent.findMany({
      where: { userId: ruth.userId, grantId: grant.id, action: "grant.updated" },
    });
    expect(trail.map((e) => e.detail)).toEqual(["the developer removed data:read from the app; scopes: offline_access profile:read"]);

    const { body } = await alice.gql(UPDATE, { clientId: id, input: { scopes: ["profile:read", "data:read", "data:write"] } });
    expect(body.data.updateOAuthClient.scopes).toEqual(["profile:read", "data:read", "data:write"]);

    // Before Ruth consents again, no token carries data:read: not a refreshed one...
    const refreshed = await refresh(id, secret, connected.refresh_token!);
    expect(refreshed.scope).toBe("offline_access profile:read");
    const narrower = await oauth.refreshTokenGrantRequest(
      as,
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      refreshed.refresh_token!,
      {
        ...insecure,
        additionalParameters: { scope: "data:read" },
      },
    );
    expect(narrower.status).toBe(400);
    expect(((await narrower.json()) as { error: string }).error).toBe("invalid_scope");
    // ...nor one from an authorization that skips the page (prompt=none has to ask)...
    const silent = await authorizationUrl(as, id, PARTNER, "profile:read data:read", { prompt: "none" });
    const back = location(await ruth.web.fetch(silent.url.pathname + silent.url.search), server.url);
    expect(back.searchParams.get("error")).toBe("consent_required");

    // ...and the consent page asks for data:read as new, while profile:read stays allowed from before.
    const req = await authorizationUrl(as, id, PARTNER, "profile:read data:read");
    const page = await ruth.web.fetch(req.url.pathname + req.url.search);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(checkboxes(html)).toEqual([
      { value: undefined, checked: true, disabled: true },
      { value: "data:read", checked: true, disabled: false },
    ]);
    expect(html).toMatch(/<span class="tag new">New<\/span><code>data:read<\/code>/);
    expect(html).toMatch(/<span class="tag before">Allowed before<\/span><code>profile:read<\/code>/);
    const allowed = await submitConsent(ruth.web, html, { decision: "allow" });
    const callback = oauth.validateAuthResponse(as, { client_id: id }, location(allowed.res, server.url), req.state);
    const tokens = await exchangeCode(as, { client_id: id }, oauth.ClientSecretBasic(secret), callback, PARTNER, req.verifier);
    expect(tokens.scope).toBe("profile:read data:read");
  });

  it("a grant left with no permission by the developer's change ends", async () => {
    const { client, clientSecret } = await create(alice);
    const connected = await connect(client.clientId, clientSecret!, "offline_access data:write");
    await alice.gql(UPDATE, { clientId: client.clientId, input: { scopes: ["profile:read", "data:read"] } });
    const { id: rowId } = await row(client.clientId);
    const grants = await server.db.prisma.grant.findMany({ where: { userId: ruth.userId, clientId: rowId } });
    expect(grants.map((g) => [g.scopes, g.revokedAt !== null])).toEqual([[["offline_access"], true]]);
    await expect(refresh(client.clientId, clientSecret!, connected.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });
});

describe("rotateOAuthClientSecret", () => {
  it("without a grace period: a new secret once, and the old one stops at once", async () => {
    const { client, clientSecret: old } = await create(alice);
    const { body } = await alice.gql(ROTATE, { clientId: client.clientId });
    expect(body.errors).toBeUndefined();
    const rotated = body.data.rotateOAuthClientSecret;
    const fresh: string = rotated.clientSecret;
    expect(fresh).toMatch(/^sgs_[A-Za-z0-9_-]{43,}$/);
    expect(fresh).not.toBe(old);
    expect(rotated.client.secretHint).toBe(fresh.slice(-4));

    const stored = await row(client.clientId);
    expect(stored.secretHash).toBe(sha256(fresh));
    expect(stored.previousSecretHash).toBeNull();
    expect(stored.previousSecretExpiresAt).toBeNull();
    expect(JSON.stringify(stored)).not.toContain(fresh);

    expect(await ccError(client.clientId, old!)).toEqual({ status: 401, error: "invalid_client" });
    expect((await ccToken(client.clientId, fresh)).access_token).toBeTruthy();
    expect(await auditActions(client.clientId)).toEqual(["client.created", "client.secret_rotated", "token.issued"]);
    const event = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: "client.secret_rotated", clientId: stored.id } });
    expect(event.userId).toBe(alice.userId);
    expect(event.detail).not.toContain(fresh);
    expect(event.detail).not.toContain(old!);

    // gracePeriodSeconds: 0 is the same as none.
    const zero = await alice.gql(ROTATE, { clientId: client.clientId, grace: 0 });
    expect(await ccError(client.clientId, fresh)).toEqual({ status: 401, error: "invalid_client" });
    expect((await ccToken(client.clientId, zero.body.data.rotateOAuthClientSecret.clientSecret)).access_token).toBeTruthy();
  });

  it("with a grace period: both secrets work until it ends, then only the new one", async () => {
    const { client, clientSecret: old } = await create(alice);
    const started = Date.now();
    const { body } = await alice.gql(ROTATE, { clientId: client.clientId, grace: 3600 });
    const fresh: string = body.data.rotateOAuthClientSecret.clientSecret;
    const stored = await row(client.clientId);
    expect(stored.previousSecretHash).toBe(sha256(old!));
    const ends = stored.previousSecretExpiresAt!.getTime();
    expect(ends).toBeGreaterThanOrEqual(started + 3600_000 - 1000);
    expect(ends).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);

    expect((await ccToken(client.clientId, old!)).access_token).toBeTruthy();
    expect((await ccToken(client.clientId, fresh)).access_token).toBeTruthy();

    // The grace period ends: the server (in this process) is moved past it rather than waited for.
    vi.useFakeTimers({ toFake: ["Date"], now: ends + 1000 });
    try {
      expect(await ccError(client.clientId, old!)).toEqual({ status: 401, error: "invalid_client" });
      expect((await ccToken(client.clientId, fresh)).access_token).toBeTruthy();
    } finally {
      vi.useRealTimers();
    }
  });

  it("a second rotation during a grace period ends the oldest secret at once", async () => {
    const { client, clientSecret: first } = await create(alice);
    const second = (await alice.gql(ROTATE, { clientId: client.clientId, grace: 3600 })).body.data.rotateOAuthClientSecret.clientSecret;
    const third = (await alice.gql(ROTATE, { clientId: client.clientId, grace: 3600 })).body.data.rotateOAuthClientSecret.clientSecret;
    expect(await ccError(client.clientId, first!)).toEqual({ status: 401, error: "invalid_client" });
    expect((await ccToken(client.clientId, second)).access_token).toBeTruthy();
    expect((await ccToken(client.clientId, third)).access_token).toBeTruthy();
  });

  it("accepts a grace period of up to 7 days and refuses more, or a negative one", async () => {
    const { client } = await create(alice);
    const max = await alice.gql(ROTATE, { clientId: client.clientId, grace: 604_800 });
    expect(max.body.errors).toBeUndefined();
    const hint = (await row(client.clientId)).secretHint;
    for (const grace of [604_801, -1, 2 ** 31 - 1]) {
      expectBadInput((await alice.gql(ROTATE, { clientId: client.clientId, grace })).body, "rotateOAuthClientSecret", "gracePeriodSeconds");
    }
    expect((await row(client.clientId)).secretHint).toBe(hint);
    expect(await auditActions(client.clientId)).toEqual(["client.created", "client.secret_rotated"]);
  });

  it("refuses a public client, which has no secret", async () => {
    const { client } = await create(alice, { type: "PUBLIC" });
    const error = expectBadInput((await alice.gql(ROTATE, { clientId: client.clientId })).body, "rotateOAuthClientSecret", "clientId");
    expect(error.message).toMatch(/public clients have no secret/i);
    expect((await row(client.clientId)).secretHash).toBeNull();
  });
});

describe("revokeOAuthClient", () => {
  it("ends every grant, refresh token and access token (client_credentials too) on their next use, and the client itself", async () => {
    const { client, clientSecret } = await create(alice);
    const id = client.clientId;
    const secret = clientSecret!;
    const connected = await connect(id, secret, "offline_access profile:read data:read");
    const cc = await ccToken(id, secret);
    const pending = await authorize(id, "data:read");
    expect((await bearerGql(connected.access_token, "{ me { id } }")).status).toBe(200);
    expect((await bearerGql(cc.access_token, "{ me { id } }")).status).toBe(200);

    const { body } = await alice.gql(REVOKE, { clientId: id });
    expect(body.errors).toBeUndefined();
    const revokedAt = body.data.revokeOAuthClient.revokedAt;
    expect(Date.parse(revokedAt)).toBeGreaterThan(Date.now() - 60_000);

    // Every token fails on its next use.
    for (const token of [connected.access_token, cc.access_token]) {
      const res = await bearerGql(token, "{ me { id } }");
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    }
    // The client can no longer authenticate: refresh, client_credentials, code exchange.
    const refreshRes = await oauth.refreshTokenGrantRequest(
      as,
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      connected.refresh_token!,
      insecure,
    );
    expect(refreshRes.status).toBe(401);
    expect(((await refreshRes.json()) as { error: string }).error).toBe("invalid_client");
    expect(await ccError(id, secret)).toEqual({ status: 401, error: "invalid_client" });
    const exchange = await oauth.authorizationCodeGrantRequest(
      as,
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      pending.callback,
      PARTNER,
      pending.req.verifier,
      insecure,
    );
    expect(exchange.status).toBe(401);
    // ...nor start an authorization: an error page, never a redirect to the app.
    const req = await authorizationUrl(as, id, PARTNER, "data:read");
    const page = await ruth.web.fetch(req.url.pathname + req.url.search);
    expect(page.status).toBe(400);
    expect(page.headers.get("location")).toBeNull();
    expect(await page.text()).toContain("switched off");

    // In the database: everything hanging off the client is ended.
    const stored = await row(id);
    expect(stored.revokedAt?.toISOString()).toBe(revokedAt);
    const grants = await server.db.prisma.grant.findMany({ where: { clientId: stored.id } });
    expect(grants.length).toBe(1);
    expect(grants.every((g) => g.revokedAt)).toBe(true);
    expect(await server.db.prisma.refreshToken.count({ where: { grant: { clientId: stored.id }, revokedAt: null } })).toBe(0);
    expect(await server.db.prisma.changeEvent.count({ where: { kind: "client.revoked", subject: stored.id } })).toBe(1);
    expect(await server.db.prisma.authorizationCode.count({ where: { clientId: stored.id, usedAt: null } })).toBe(0);

    const actions = await auditActions(id);
    expect(actions).toContain("client.revoked");
    expect(actions).toContain("grant.revoked");
    const event = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: "client.revoked", clientId: stored.id } });
    expect(event.userId).toBe(alice.userId);

    // It stays listed, as revoked.
    const list = await alice.gql(LIST);
    expect(list.body.data.viewer.oauthClients.find((c: { clientId: string }) => c.clientId === id)).toMatchObject({ revokedAt });
  });

  it("is idempotent: revoking again changes nothing and writes no second event", async () => {
    const { client } = await create(alice, { type: "PUBLIC" });
    const first = await alice.gql(REVOKE, { clientId: client.clientId });
    const second = await alice.gql(REVOKE, { clientId: client.clientId });
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data.revokeOAuthClient.revokedAt).toBe(first.body.data.revokeOAuthClient.revokedAt);
    expect((await auditActions(client.clientId)).filter((a) => a === "client.revoked")).toHaveLength(1);
  });

  it("leaves a revoked client unchangeable: no update, no rotation", async () => {
    const { client } = await create(alice);
    await alice.gql(REVOKE, { clientId: client.clientId });
    const before = await row(client.clientId);
    const update = await alice.gql(UPDATE, { clientId: client.clientId, input: { name: "Back from the dead" } });
    expect(expectBadInput(update.body, "updateOAuthClient", "clientId").message).toMatch(/revoked/);
    const rotate = await alice.gql(ROTATE, { clientId: client.clientId });
    expect(expectBadInput(rotate.body, "rotateOAuthClientSecret", "clientId").message).toMatch(/revoked/);
    expect(await row(client.clientId)).toEqual(before);
  });

  it("leaves the owner's other clients alone", async () => {
    const keep = await create(alice);
    const gone = await create(alice);
    const token = await ccToken(keep.client.clientId, keep.clientSecret!);
    await alice.gql(REVOKE, { clientId: gone.client.clientId });
    expect((await bearerGql(token.access_token, "{ me { id } }")).status).toBe(200);
    expect((await row(keep.client.clientId)).revokedAt).toBeNull();
  });
});

describe("only the owner manages a client", () => {
  it("answers another user's clientId exactly like an unknown one (NOT_FOUND) for every mutation, and changes nothing", async () => {
    const { client, clientSecret } = await create(alice);
    const before = await row(client.clientId);
    const calls: [string, string, Record<string, unknown>][] = [
      ["updateOAuthClient", UPDATE, { input: { name: "Mine now" } }],
      ["rotateOAuthClientSecret", ROTATE, { grace: 60 }],
      ["revokeOAuthClient", REVOKE, {}],
    ];
    for (const [mutation, query, vars] of calls) {
      const theirs = refusal((await bob.gql(query, { clientId: client.clientId, ...vars })).body, mutation);
      const unknown = refusal((await bob.gql(query, { clientId: "sgc_00000000000000000000000000000000", ...vars })).body, mutation);
      const silly = refusal((await bob.gql(query, { clientId: "x".repeat(5000), ...vars })).body, mutation);
      expect(theirs.extensions).toEqual({ code: "NOT_FOUND" });
      expect(theirs).toEqual(unknown);
      expect(silly).toEqual(unknown);
    }
    expect(await row(client.clientId)).toEqual(before);
    expect(await auditActions(client.clientId)).toEqual(["client.created"]);
    expect((await ccToken(client.clientId, clientSecret!)).access_token).toBeTruthy();
    const list = await bob.gql(LIST);
    expect(list.body.data.viewer.oauthClients.map((c: { clientId: string }) => c.clientId)).not.toContain(client.clientId);
  });
});

describe("credentials", () => {
  it("never lets an OAuth bearer token call these mutations, whatever its scopes", async () => {
    const { client, clientSecret } = await create(alice);
    const secret = clientSecret!;
    const cc = await ccToken(client.clientId, secret);
    const connected = await connect(client.clientId, secret, "openid offline_access profile:read data:read data:write");
    const before = await row(client.clientId);
    for (const token of [cc.access_token, connected.access_token]) {
      const calls: [string, string, Record<string, unknown>][] = [
        ["createOAuthClient", CREATE, { input: base }],
        ["updateOAuthClient", UPDATE, { clientId: client.clientId, input: { name: "Via token" } }],
        ["rotateOAuthClientSecret", ROTATE, { clientId: client.clientId }],
        ["revokeOAuthClient", REVOKE, { clientId: client.clientId }],
      ];
      for (const [mutation, query, vars] of calls) {
        const res = await bearerGql(token, query, vars);
        expect(res.status).toBeLessThan(500);
        const error = refusal(res.body, mutation);
        expect(error.extensions?.code, mutation).toBe("FORBIDDEN");
      }
    }
    expect(await row(client.clientId)).toEqual(before);
    expect(await server.db.prisma.oAuthClient.count({ where: { ownerId: alice.userId, name: "Via token" } })).toBe(0);
  });

  it("needs the CSRF header with the session cookie, and a session at all", async () => {
    const { client } = await create(alice);
    const noCsrf = await alice.web.graphql(REVOKE, { variables: { clientId: client.clientId } });
    expect(noCsrf.res.status).toBe(403);
    expect(noCsrf.body?.errors?.[0]?.extensions?.code).toBe("CSRF_TOKEN_INVALID");
    const anonymous = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: REVOKE, variables: { clientId: client.clientId } }),
    });
    expect(anonymous.status).toBe(401);
    expect((await row(client.clientId)).revokedAt).toBeNull();
  });
});

describe("the /developers page over HTTP", () => {
  it("sends a signed-out visitor to sign in and back", async () => {
    const res = await fetch(`${server.url}/developers`, { redirect: "manual" });
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get("location")!, server.url);
    expect(to.pathname).toBe("/login");
    expect(to.searchParams.get("return_to")).toBe("/developers");
  });

  it("lists only the user's own clients, escaped, under a strict Content-Security-Policy, with no inline script", async () => {
    const carol = await developer("Carol");
    const hostile = await create(carol, { name: `<img src=x onerror=alert(1)> & "quotes"` });
    const revoked = await create(carol, { name: "Old app" });
    await carol.gql(REVOKE, { clientId: revoked.client.clientId });
    const others = await create(alice, { name: "Alice's private app" });

    const { res, html } = await carol.web.page("/developers");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const csp = res.headers.get("content-security-policy") ?? "";
    const directives = Object.fromEntries(
      csp
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k, v]),
    );
    expect(directives["script-src"]).toEqual(["'self'"]);
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["frame-ancestors"]).toEqual(["'none'"]);
    for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
      expect(tag).toMatch(/^<script src="\/developers\/developers\.js"[^>]*><\/script>$/);
    }
    // No inline event handlers (attribute names only; values, escaped names among them, are blanked out).
    for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) expect(tag.replace(/"[^"]*"/g, '""')).not.toMatch(/\son[a-z]+=/i);

    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;");
    expect(html).not.toContain("<img src=x");
    expect(html).toContain(hostile.client.clientId);
    expect(html).toContain(revoked.client.clientId);
    expect(html).toMatch(/class="badge revoked">Revoked</);
    expect(html).not.toContain(others.client.clientId);
    expect(html).not.toContain("Alice&#39;s private app");
    expect(html).not.toContain(hostile.clientSecret!);
    expect(html).not.toContain((await row(hostile.client.clientId)).secretHash!);
    // Only administrators get the first-party switch.
    expect(html).not.toContain('name="firstParty"');
    expect((await admin.web.page("/developers")).html).toContain('name="firstParty"');

    // The CSRF token the page hands its script is the session's: GraphQL accepts it.
    const csrf = html.match(/data-csrf="([^"]+)"/)?.[1];
    expect(csrf).toBe(carol.csrf);
  });

  it("serves its script from the same origin as JavaScript", async () => {
    const res = await fetch(`${server.url}/developers/developers.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const text = await res.text();
    expect(text).toContain("rotateOAuthClientSecret");
    expect(text).toContain("x-csrf-token");
  });
});
