// Issue 15 item 3: clients that register themselves (RFC 7591) and manage the
// registration with its registration access token (RFC 7592), checked with the
// real clients that do it (openid-client, oauth4webapi): registration, the code
// flow with PKCE and the consent page that calls the app unverified, RFC 7592
// read/update/delete, the refusals, the switch, the per-address limit and the
// 30-day clean-up.
import * as oauth from "oauth4webapi";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteUnusedDynamicClients, SelfRegisteredClientSweeper } from "../../src/clients/dynamic-registration.ts";
import { revokeConnectedApp } from "../../src/consent/connected-apps.ts";
import { createLogger } from "../../src/lib/log.ts";
import {
  authorizationUrl,
  discover,
  exchangeCode,
  insecure,
  location,
  registerClient,
  signedInUser,
  submitConsent,
} from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const DAY = 86_400_000;

let server: TestServer;
let as: oauth.AuthorizationServer;

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
});
afterAll(async () => {
  await server?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(s: TestServer, path: string, init: RequestInit): Promise<Answer> {
  const res = await fetch(`${s.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** POST /v1/oauth/register with a JSON body. */
function register(metadata: unknown, s: TestServer = server): Promise<Answer> {
  return call(s, "/v1/oauth/register", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(metadata),
  });
}

/** An RFC 7592 request to the registration's own URI, with `token` as the Bearer token (none when null). */
function manage(method: "GET" | "PUT" | "DELETE", clientId: string, token: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return call(server, `/v1/oauth/register/${encodeURIComponent(clientId)}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

function expectInvalidToken(a: Answer) {
  expect(a.status).toBe(401);
  expect(a.body.error).toBe("invalid_token");
  expect(a.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
}

const METADATA = {
  client_name: "Pocket Assistant",
  redirect_uris: ["http://127.0.0.1/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
  scope: "openid offline_access profile:read data:read",
};

/** `u` connects the self-registered public client through the consent page (Allow) and the token endpoint, with oauth4webapi. */
async function connect(u: Awaited<ReturnType<typeof signedInUser>>, clientId: string, redirectUri: string, scope: string) {
  const req = await authorizationUrl(as, clientId, redirectUri, scope);
  const page = await u.web.fetch(req.url.pathname + req.url.search);
  expect(page.status).toBe(200);
  const html = await page.text();
  const { res } = await submitConsent(u.web, html, { decision: "allow" });
  const params = oauth.validateAuthResponse(as, { client_id: clientId }, location(res, server.url), req.state);
  const tokens = await exchangeCode(
    as,
    { client_id: clientId },
    oauth.None(),
    params,
    redirectUri,
    req.verifier,
    scope.includes("openid") ? req.nonce : undefined,
  );
  return { tokens, consentHtml: html };
}

async function me(accessToken: string) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ query: "{ me { id name } }" }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("discovery", () => {
  it("lists the registration endpoint", () => {
    expect(as.registration_endpoint).toBe(`${server.issuer}/v1/oauth/register`);
  });
});

describe("openid-client registers a client and connects with it", () => {
  it("registers a public, production client owned by no one, ignoring metadata it does not use", async () => {
    const config = await client.dynamicClientRegistration(
      new URL(server.issuer),
      {
        ...METADATA,
        client_uri: "https://assistant.example/about",
        logo_uri: "https://assistant.example/logo.png",
        software_id: "pocket-assistant",
        contacts: ["dev@assistant.example"],
      },
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const meta = config.clientMetadata();
    expect(meta.client_id).toMatch(/^sgc_/);
    expect(meta).toMatchObject({
      client_name: "Pocket Assistant",
      client_uri: "https://assistant.example/about",
      redirect_uris: ["http://127.0.0.1/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      registration_client_uri: `${server.issuer}/v1/oauth/register/${meta.client_id}`,
    });
    expect(meta.client_secret).toBeUndefined();
    expect(meta.logo_uri).toBeUndefined();
    expect(meta.software_id).toBeUndefined();
    expect(String(meta.scope).split(" ").sort()).toEqual(["data:read", "offline_access", "openid", "profile:read"]);
    const token = meta.registration_access_token as string;
    expect(token).toMatch(/^sgr_/);

    const row = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId: meta.client_id } });
    expect(row).toMatchObject({
      ownerId: null,
      type: "PUBLIC",
      environment: "PRODUCTION",
      firstParty: false,
      registration: "dynamic",
      registeredFrom: "assistant.example",
      scopes: ["profile:read", "data:read"],
      refreshTokens: true,
      secretHash: null,
    });
    // Only a hash of the registration access token is kept.
    expect(row.registrationTokenHash).toBeTruthy();
    expect(row.registrationTokenHash).not.toContain(token);

    // The code flow with PKCE, through openid-client, from a loopback port chosen now (RFC 8252 §7.3).
    const redirectUri = "http://127.0.0.1:53682/callback";
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid offline_access profile:read data:read",
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    const ada = await signedInUser(server, "Ada");
    const page = await ada.web.fetch(url.pathname + url.search);
    expect(page.status).toBe(200);
    const html = await page.text();
    // Unverified, with the host its metadata came from.
    expect(html).toContain("Pocket Assistant");
    expect(html).toContain(">Unverified<");
    expect(html).toMatch(
      /scopegate has not verified this app\.<\/strong> It registered itself, and its details came from <strong>assistant\.example<\/strong>/,
    );
    const { res } = await submitConsent(ada.web, html, { decision: "allow" });
    const callback = location(res, server.url);
    expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()?.sub).toBe(ada.user.id);
    expect(tokens.refresh_token).toBeTruthy();
    const answer = await me(tokens.access_token);
    expect(answer.status).toBe(200);
    expect(answer.body.data.me).toEqual({ id: ada.user.id, name: "Ada" });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await me(refreshed.access_token)).body.data.me.name).toBe("Ada");

    // Listed under Connected apps like any other: in GraphQL (no owner, so no secret hint) and on the page.
    const csrf = await ada.web.csrfFrom("/logout");
    const apps = await ada.web.graphql("{ viewer { connectedApps { scopes client { clientId name type environment secretHint } } } }", {
      csrf,
    });
    expect(apps.body!.errors).toBeUndefined();
    expect(apps.body!.data.viewer.connectedApps).toEqual([
      {
        scopes: expect.arrayContaining(["openid", "offline_access", "profile:read", "data:read"]),
        client: { clientId: meta.client_id, name: "Pocket Assistant", type: "PUBLIC", environment: "PRODUCTION", secretHint: null },
      },
    ]);
    const appsPage = await ada.web.page("/account/apps");
    expect(appsPage.html).toContain("Pocket Assistant");
    expect(appsPage.html).toContain("from assistant.example");
  });

  it("tells openid-client why a registration was refused (RFC 7591 §3.2.2)", async () => {
    const err = await client
      .dynamicClientRegistration(new URL(server.issuer), { ...METADATA, redirect_uris: ["http://assistant.example/cb"] }, undefined, {
        execute: [client.allowInsecureRequests],
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe("invalid_redirect_uri");
    expect((err as client.ResponseBodyError).status).toBe(400);
  });
});

describe("oauth4webapi registers a client and connects with it", () => {
  it("with RFC 7591's defaults: the code grant only, every data scope; the host of the first redirect URI is named", async () => {
    const res = await oauth.dynamicClientRegistrationRequest(
      as,
      { redirect_uris: ["http://localhost/cb", "https://helper.example/cb"], client_name: "Local Helper" },
      insecure,
    );
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const reg = await oauth.processDynamicClientRegistrationResponse(res);
    expect(reg).toMatchObject({ client_name: "Local Helper", grant_types: ["authorization_code"], token_endpoint_auth_method: "none" });
    expect(String(reg.scope).split(" ").sort()).toEqual(["data:read", "data:write", "offline_access", "openid", "profile:read"]);

    const bo = await signedInUser(server, "Bo");
    const { tokens, consentHtml } = await connect(bo, reg.client_id, "http://localhost:40123/cb", "data:read data:write offline_access");
    expect(consentHtml).toContain(">Unverified<");
    expect(consentHtml).toContain("its details came from <strong>localhost</strong>");
    expect(tokens.access_token).toBeTruthy();
    // Registered without refresh_token: none is issued, offline_access or not.
    expect(tokens.refresh_token).toBeUndefined();
  });

  it("a client without a client_name is called by its host", async () => {
    const a = await register({ redirect_uris: ["com.example.notes:/oauth"] });
    expect(a.status).toBe(201);
    expect(a.body.client_name).toBe("com.example.notes");
    const b = await register({ redirect_uris: ["https://notes.example/cb"], client_uri: "https://www.notes.example" });
    expect(b.body.client_name).toBe("www.notes.example");
  });

  it("a developer's own client from the console is shown as before: no unverified note", async () => {
    const dev = await signedInUser(server, "Developer");
    const { client: own } = await registerClient(server, dev.user.id, {
      name: "Console App",
      redirectUris: ["https://console-app.example/cb"],
    });
    const cy = await signedInUser(server, "Cy");
    const req = await authorizationUrl(as, own.clientId, "https://console-app.example/cb", "data:read");
    const html = await (await cy.web.fetch(req.url.pathname + req.url.search)).text();
    expect(html).toContain("Console App");
    expect(html).not.toContain("Unverified");
    expect(html).not.toContain("has not verified");
  });
});

describe("RFC 7592 management with the registration access token", () => {
  it("reads, updates and deletes the registration only with its own token", async () => {
    const first = await register({ ...METADATA, client_name: "Manager", scope: "profile:read data:read offline_access" });
    expect(first.status).toBe(201);
    const { client_id: clientId, registration_access_token: token, registration_client_uri: uri } = first.body;
    expect(uri).toBe(`${server.issuer}/v1/oauth/register/${clientId}`);
    const other = await register({ ...METADATA, client_name: "Someone Else" });

    // Read: without a token, with a wrong one, with another registration's: 401 invalid_token alike.
    expectInvalidToken(await manage("GET", clientId, null));
    expectInvalidToken(await manage("GET", clientId, "sgr_wrong"));
    expectInvalidToken(await manage("GET", clientId, other.body.registration_access_token));
    expectInvalidToken(await manage("GET", "sgc_unknown", token));
    const read = await manage("GET", clientId, token);
    expect(read.status).toBe(200);
    expect(read.headers.get("cache-control")).toBe("no-store");
    expect(read.body).toEqual(first.body);

    // A user connects it; the update below takes profile:read away.
    const dee = await signedInUser(server, "Dee");
    const { tokens } = await connect(dee, clientId, "http://127.0.0.1:9911/callback", "profile:read data:read offline_access");
    expect((await me(tokens.access_token)).status).toBe(200);

    // Update: the token is judged before the body, then the metadata as at registration.
    const update = { ...METADATA, client_id: clientId, client_name: "Manager 2", redirect_uris: ["http://[::1]/cb"], scope: "data:read" };
    expectInvalidToken(await manage("PUT", clientId, "sgr_wrong", update));
    expectInvalidToken(await manage("PUT", clientId, other.body.registration_access_token, { nonsense: true }));
    const mismatch = await manage("PUT", clientId, token, { ...update, client_id: other.body.client_id });
    expect(mismatch).toMatchObject({ status: 400, body: { error: "invalid_client_metadata" } });
    const badUri = await manage("PUT", clientId, token, { ...update, redirect_uris: ["http://manager.example/cb"] });
    expect(badUri).toMatchObject({ status: 400, body: { error: "invalid_redirect_uri" } });
    const updated = await manage("PUT", clientId, token, {
      ...update,
      // Fields the server issued are ignored when echoed back (RFC 7592 §2.2).
      registration_access_token: "sgr_ignored",
      registration_client_uri: "https://elsewhere.example/",
      client_id_issued_at: 1,
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      client_id: clientId,
      client_name: "Manager 2",
      redirect_uris: ["http://[::1]/cb"],
      registration_access_token: token,
      registration_client_uri: uri,
      client_id_issued_at: first.body.client_id_issued_at,
    });
    expect(String(updated.body.scope).split(" ").sort()).toEqual(["data:read", "offline_access", "openid"]);
    expect((await manage("GET", clientId, token)).body).toEqual(updated.body);
    // The scope taken away ends at once in the user's grant and in the live token that carried it.
    const row = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
    expect(row).toMatchObject({ name: "Manager 2", scopes: ["data:read"], registeredFrom: "[::1]" });
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { clientId: row.id, userId: dee.user.id } });
    expect(grant.scopes.sort()).toEqual(["data:read", "offline_access"]);
    expect((await me(tokens.access_token)).status).toBe(401);

    // Delete: 204, then the token works no more and the client is switched off with its grants.
    expectInvalidToken(await manage("DELETE", clientId, other.body.registration_access_token));
    const deleted = await fetch(`${server.url}/v1/oauth/register/${clientId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(deleted.status).toBe(204);
    expectInvalidToken(await manage("GET", clientId, token));
    expectInvalidToken(await manage("DELETE", clientId, token));
    expect((await server.db.prisma.grant.findUniqueOrThrow({ where: { id: grant.id } })).revokedAt).not.toBeNull();
    const refresh = await oauth.refreshTokenGrantRequest(as, { client_id: clientId }, oauth.None(), tokens.refresh_token!, insecure);
    expect(refresh.status).toBe(401);
    expect(((await refresh.json()) as any).error).toBe("invalid_client");
    // The other registration is untouched.
    expect((await manage("GET", other.body.client_id, other.body.registration_access_token)).status).toBe(200);
  });

  it("a developer's own client cannot be managed here", async () => {
    const dev = await signedInUser(server, "Developer");
    const { client: own } = await registerClient(server, dev.user.id);
    expectInvalidToken(await manage("GET", own.clientId, "sgr_anything"));
    expectInvalidToken(await manage("DELETE", own.clientId, "sgr_anything"));
  });
});

describe("refusals", () => {
  it.each<[string, unknown, string]>([
    ["no redirect_uris", { client_name: "X" }, "invalid_client_metadata"],
    ["redirect_uris not a list", { redirect_uris: "https://x.example/cb" }, "invalid_client_metadata"],
    ["an http redirect URI to a host", { redirect_uris: ["http://x.example/cb"] }, "invalid_redirect_uri"],
    ["a redirect URI with a fragment", { redirect_uris: ["https://x.example/cb#f"] }, "invalid_redirect_uri"],
    ["a relative redirect URI", { redirect_uris: ["/cb"] }, "invalid_redirect_uri"],
    ["a confidential auth method", { ...METADATA, token_endpoint_auth_method: "client_secret_basic" }, "invalid_client_metadata"],
    ["private_key_jwt", { ...METADATA, token_endpoint_auth_method: "private_key_jwt" }, "invalid_client_metadata"],
    ["client_credentials", { ...METADATA, grant_types: ["authorization_code", "client_credentials"] }, "invalid_client_metadata"],
    ["no authorization_code", { ...METADATA, grant_types: ["refresh_token"] }, "invalid_client_metadata"],
    ["the implicit flow", { ...METADATA, response_types: ["token"] }, "invalid_client_metadata"],
    ["an unknown scope", { ...METADATA, scope: "data:read admin" }, "invalid_client_metadata"],
    ["no data scope", { ...METADATA, scope: "openid offline_access" }, "invalid_client_metadata"],
    ["an http client_uri", { ...METADATA, client_uri: "http://x.example" }, "invalid_client_metadata"],
    ["a client_name of the wrong type", { ...METADATA, client_name: 7 }, "invalid_client_metadata"],
    ["a list instead of an object", [METADATA], "invalid_client_metadata"],
  ])("%s: 400 %s", async (_what, metadata, error) => {
    const before = await server.db.prisma.oAuthClient.count();
    const a = await register(metadata);
    expect(a.status).toBe(400);
    expect(a.body.error).toBe(error);
    expect(typeof a.body.error_description).toBe("string");
    expect(a.headers.get("cache-control")).toBe("no-store");
    expect(await server.db.prisma.oAuthClient.count()).toBe(before);
  });

  it("a body that is not JSON is invalid_client_metadata", async () => {
    for (const [type, body] of [
      ["application/json", "{not json"],
      ["application/x-www-form-urlencoded", "redirect_uris=https://x.example/cb"],
    ]) {
      const a = await call(server, "/v1/oauth/register", { method: "POST", headers: { "content-type": type! }, body });
      expect(a).toMatchObject({ status: 400, body: { error: "invalid_client_metadata" } });
    }
  });

  it("a self-registered client cannot use client_credentials", async () => {
    const reg = await register(METADATA);
    const res = await fetch(`${server.url}/v1/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: reg.body.client_id, scope: "data:read" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toBe("unauthorized_client");
  });
});

describe("CLIENT_REGISTRATION=off", () => {
  it("answers 404 and is not listed in discovery", async () => {
    const off = await startTestServer({ CLIENT_REGISTRATION: "off" });
    try {
      for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
        const meta = (await (await fetch(`${off.url}${path}`)).json()) as Record<string, unknown>;
        expect(meta.token_endpoint).toBe(`${off.issuer}/v1/oauth/token`);
        expect(meta).not.toHaveProperty("registration_endpoint");
      }
      expect((await register(METADATA, off)).status).toBe(404);
      expect((await call(off, "/v1/oauth/register/sgc_x", { headers: { authorization: "Bearer sgr_x" } })).status).toBe(404);
      const err = await client
        .dynamicClientRegistration(new URL(off.issuer), METADATA, undefined, { execute: [client.allowInsecureRequests] })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(Error);
      expect(await off.db.prisma.oAuthClient.count()).toBe(0);
    } finally {
      await off.stop();
    }
  });
});

describe("the limit per address", () => {
  it("counts registrations (not refusals) from one address, exactly, also in parallel; then 429 with Retry-After", async () => {
    const limited = await startTestServer({ CLIENT_REGISTRATION_MAX_PER_ADDRESS: "3", CLIENT_REGISTRATION_WINDOW_SECONDS: "3600" });
    try {
      for (let i = 0; i < 5; i++) expect((await register({ redirect_uris: ["http://x.example/cb"] }, limited)).status).toBe(400);
      const answers = await Promise.all(Array.from({ length: 8 }, () => register(METADATA, limited)));
      expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
      const refused = answers.filter((a) => a.status !== 201);
      expect(refused).toHaveLength(5);
      for (const a of refused) {
        expect(a.status).toBe(429);
        expect(a.body.error).toBe("too_many_requests");
        expect(Number(a.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      expect(await limited.db.prisma.oAuthClient.count()).toBe(3);
    } finally {
      await limited.stop();
    }
  });
});

describe("the 30-day clean-up", () => {
  it("deletes self-registered clients that went 30 days without a grant, and nothing else", async () => {
    const s = await startTestServer();
    try {
      const prisma = s.db.prisma;
      const t0 = Date.now();
      const reg = async (name: string) => (await register({ ...METADATA, client_name: name }, s)).body;
      const unused = await reg("Unused");
      const connected = await reg("Connected");
      const disconnected = await reg("Disconnected");
      const lateDisconnected = await reg("Disconnected later");
      const selfDeleted = await reg("Deleted itself");
      const dev = await prisma.user.create({ data: { email: "dev@example.com", name: "Dev", passwordHash: "x" } });
      const { client: own } = await registerClient(s, dev.id, { name: "Console, unused" });

      const user = await prisma.user.create({ data: { email: "u@example.com", name: "U", passwordHash: "x" } });
      const rowOf = (c: { client_id: string }) => prisma.oAuthClient.findUnique({ where: { clientId: c.client_id } });
      const grantTo = async (c: { client_id: string }) =>
        prisma.grant.create({ data: { userId: user.id, clientId: (await rowOf(c))!.id, scopes: ["data:read"] } });
      await grantTo(connected);
      await revokeConnectedApp(prisma, user.id, (await grantTo(disconnected)).id);
      const late = await grantTo(lateDisconnected);
      await revokeConnectedApp(prisma, user.id, late.id);
      // As if the user disconnected it on day 20.
      await prisma.grant.update({ where: { id: late.id }, data: { revokedAt: new Date(t0 + 20 * DAY) } });
      const del = await call(s, `/v1/oauth/register/${selfDeleted.client_id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${selfDeleted.registration_access_token}` },
      });
      expect(del.status).toBe(204);

      const alive = async () =>
        (
          await Promise.all(
            [unused, connected, disconnected, lateDisconnected, selfDeleted, { client_id: own.clientId }].map(async (c) =>
              (await rowOf(c)) ? ((await rowOf(c))!.name as string) : null,
            ),
          )
        ).filter((n): n is string => n !== null);

      // Day 29: too early for any.
      expect(await deleteUnusedDynamicClients(prisma, new Date(t0 + 29 * DAY))).toBe(0);
      expect(await alive()).toHaveLength(6);

      // Day 31: those with no grant in the last 30 days go (through the sweeper's loop, as the timer runs it).
      const sweeper = new SelfRegisteredClientSweeper(prisma, createLogger("silent", false));
      expect(await sweeper.sweep(new Date(t0 + 31 * DAY))).toBe(3);
      expect(await alive()).toEqual(["Connected", "Disconnected later", "Console, unused"]);
      // Instances holding the deleted client in memory are told (one that had not been revoked already).
      const unusedRow = await prisma.changeEvent.findFirst({ where: { kind: "client.revoked", clientId: unused.client_id } });
      expect(unusedRow).not.toBeNull();
      // Its registration is gone: management and authorization no longer know it.
      expect(
        (
          await call(s, `/v1/oauth/register/${unused.client_id}`, {
            headers: { authorization: `Bearer ${unused.registration_access_token}` },
          })
        ).status,
      ).toBe(401);

      // Day 51: 31 days after the later disconnection, it goes too; a live grant keeps its client for good.
      expect(await deleteUnusedDynamicClients(prisma, new Date(t0 + 51 * DAY))).toBe(1);
      expect(await deleteUnusedDynamicClients(prisma, new Date(t0 + 400 * DAY))).toBe(0);
      expect(await alive()).toEqual(["Connected", "Console, unused"]);
    } finally {
      await s.stop();
    }
  });
});
