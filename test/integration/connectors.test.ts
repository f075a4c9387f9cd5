// Issue 14 over real HTTP: scopegate as the OAuth client of another provider,
// here a second scopegate instance with its own issuer, data and a client
// registered on it; users sign in and consent on the provider's real pages.
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessTokenFor, type Connectors, ReconnectNeededError, resealConnectorSecrets } from "../../src/connectors/connections.ts";
import { ProviderClient } from "../../src/connectors/provider-client.ts";
import { browserCookieName } from "../../src/pages/connector-endpoints.ts";
import type { ConnectorProvider } from "../../src/connectors/providers.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import type { WebClient } from "../helpers/http.ts";
import { location, PASSWORD, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { freePort, startTestServer, TEST_KEY_ENCRYPTION_SECRET, type TestServer } from "../helpers/server.ts";

let provider: TestServer;
let consumer: TestServer;
let garbage: http.Server;
let connectors: Connectors;
let acme: ConnectorProvider;

type User = Awaited<ReturnType<typeof signedInUser>> & { csrf: string };

async function user(server: TestServer, name: string): Promise<User> {
  const u = await signedInUser(server, name);
  return { ...u, csrf: await u.web.csrfFrom("/logout") };
}

beforeAll(async () => {
  provider = await startTestServer();
  const consumerPort = await freePort();
  const callback = `http://127.0.0.1:${consumerPort}/v1/connectors/oauth/acme/callback`;
  const developer = await signedInUser(provider, "Acme developer");
  const { client, clientSecret } = await registerClient(provider, developer.user.id, {
    type: "CONFIDENTIAL",
    environment: "DEVELOPMENT",
    redirectUris: [callback],
    scopes: ["profile:read", "data:read"],
  });
  // A "provider" whose discovery answers HTML.
  garbage = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>hello</html>"));
  await new Promise<void>((resolve) => garbage.listen(0, "127.0.0.1", resolve));
  const file = join(mkdtempSync(join(tmpdir(), "scopegate-connectors-")), "connectors.json");
  writeFileSync(
    file,
    JSON.stringify({
      providers: [
        {
          slug: "acme",
          name: "Acme Health",
          issuer: provider.url,
          clientId: client.clientId,
          clientSecret,
          scopes: ["openid", "offline_access", "data:read"],
          allowInsecureLoopback: true,
        },
        { slug: "down", issuer: `http://127.0.0.1:${await freePort()}`, clientId: "x", clientSecret: "y", allowInsecureLoopback: true },
        {
          slug: "garbage",
          issuer: `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`,
          clientId: "x",
          clientSecret: "y",
          allowInsecureLoopback: true,
        },
      ],
    }),
  );
  consumer = await startTestServer({ CONNECTORS_FILE: file }, { port: consumerPort });
  acme = {
    slug: "acme",
    name: "Acme Health",
    issuer: provider.url,
    clientId: client.clientId,
    clientSecret: clientSecret!,
    tokenEndpointAuthMethod: "client_secret_basic",
    scopes: ["openid", "offline_access", "data:read"],
    redirectUri: callback,
    allowInsecureLoopback: true,
  };
  connectors = { clients: new Map([["acme", new ProviderClient(acme)]]), keyEncryption: new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET) };
});

afterAll(async () => {
  await consumer?.stop();
  await provider?.stop();
  await new Promise((r) => garbage?.close(r));
});

const HTML = { accept: "text/html,application/xhtml+xml" };
const JSON_ACCEPT = { accept: "application/json" };

/** Starts connecting in `u`'s browser; returns the provider's authorization URL. */
async function start(u: User, query = "", headers: Record<string, string> = HTML): Promise<URL> {
  const res = await u.web.fetch(`/v1/connectors/oauth/acme/authorize${query}`, { headers });
  expect(res.status).toBe(302);
  return new URL(res.headers.get("location")!);
}

/** The provider's user signs in there and answers the consent page; returns the callback URL the provider sends back. */
async function consentAtProvider(providerWeb: WebClient, authorizationUrl: URL, decision: "allow" | "deny" = "allow"): Promise<URL> {
  let res = await providerWeb.fetch(authorizationUrl.pathname + authorizationUrl.search);
  if (res.status === 200) res = (await submitConsent(providerWeb, await res.text(), { decision })).res;
  const back = location(res, provider.url);
  expect(back.origin).toBe(consumer.url);
  return back;
}

async function connect(u: User, providerUser: User, query = "") {
  const back = await consentAtProvider(providerUser.web, await start(u, query));
  return u.web.fetch(back.pathname + back.search, { headers: HTML });
}

async function gql(u: User, query: string, variables?: Record<string, unknown>) {
  const r = await u.web.graphql(query, { csrf: u.csrf, variables });
  return r.body!;
}

const CONNECTIONS = `{ viewer { connections { provider providerName scopes status connectedAt lastRefreshedAt collectionId spaceId } } }`;

/** What the provider says its token belongs to. */
async function providerMe(token: string): Promise<string | null> {
  const res = await fetch(`${provider.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  if (res.status !== 200) return null;
  return ((await res.json()) as any).data?.me?.id ?? null;
}

describe("connecting", () => {
  it("runs the code flow with PKCE through the provider's own sign-in and consent, and stores the tokens sealed", async () => {
    const ada = await user(consumer, "Ada");
    const adaAtAcme = await user(provider, "Ada at Acme");
    const authorizationUrl = await start(ada, "?collection_id=col-1&space_id=space%201&redirect_uri=%2Faccount%2Fconnections%3Ftab%3D1");
    expect(authorizationUrl.origin).toBe(provider.url);
    expect(Object.fromEntries(authorizationUrl.searchParams)).toMatchObject({
      client_id: acme.clientId,
      redirect_uri: acme.redirectUri,
      response_type: "code",
      scope: "openid offline_access data:read",
      code_challenge_method: "S256",
    });
    expect(authorizationUrl.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = ada.web.jar.get(browserCookieName(authorizationUrl.searchParams.get("state")!));
    expect(cookie).toBeTruthy();

    const back = await consentAtProvider(adaAtAcme.web, authorizationUrl);
    expect(back.searchParams.get("iss")).toBe(provider.url);
    const res = await ada.web.fetch(back.pathname + back.search, { headers: HTML });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/account/connections?tab=1");

    const body = await gql(ada, CONNECTIONS);
    expect(body.data.viewer.connections).toEqual([
      {
        provider: "acme",
        providerName: "Acme Health",
        scopes: expect.arrayContaining(["data:read"]),
        status: "ACTIVE",
        connectedAt: expect.any(String),
        lastRefreshedAt: null,
        collectionId: "col-1",
        spaceId: "space 1",
      },
    ]);
    const row = await consumer.db.prisma.providerConnection.findFirstOrThrow({ where: { userId: ada.user.id } });
    expect(row.accessToken.startsWith("ke1.")).toBe(true);
    expect(row.subject).toBe(adaAtAcme.user.id); // from the validated id_token
    const token = await accessTokenFor(consumer.db.prisma, connectors, ada.user.id, "acme");
    expect(row.accessToken).not.toContain(token);
    expect(await providerMe(token)).toBe(adaAtAcme.user.id);

    const log = await gql(ada, `{ viewer { auditLog(first: 5) { edges { node { action detail } } } } }`);
    expect(log.data.viewer.auditLog.edges.map((e: any) => e.node.action)).toContain("connection.created");
  });

  it("answers JSON to a caller that asks for it, and gives a first-party app's bearer caller the URL to open", async () => {
    const bo = await user(consumer, "Bo");
    const boAtAcme = await user(provider, "Bo at Acme");
    // A first-party app of scopegate's, acting for Bo with its own token.
    const { client, clientSecret } = await registerClient(consumer, bo.user.id, {
      type: "CONFIDENTIAL",
      firstParty: true,
      scopes: ["data:read"],
      redirectUris: ["https://app.scopegate.example/cb"],
    });
    const tokenRes = await fetch(`${consumer.url}/v1/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
      },
      body: "grant_type=client_credentials&scope=data:read",
    });
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const res = await bo.web.fetch("/v1/connectors/oauth/acme/authorize?tenant_id=t-9", {
      headers: { authorization: `Bearer ${access_token}`, accept: "text/html" },
    });
    expect(res.status).toBe(200);
    const { authorization_url } = (await res.json()) as { authorization_url: string };
    const back = await consentAtProvider(boAtAcme.web, new URL(authorization_url));
    const done = await bo.web.fetch(back.pathname + back.search, { headers: JSON_ACCEPT });
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({
      message: "OAuth connection established successfully",
      provider: "acme",
      collection_id: null,
      space_id: null,
      connector_id: null,
      tenant_id: "t-9",
    });

    // A partner app's token may not do this.
    const partner = await registerClient(consumer, bo.user.id, {
      type: "CONFIDENTIAL",
      scopes: ["data:read"],
      redirectUris: ["https://partner.example/cb"],
    });
    const partnerToken = await fetch(`${consumer.url}/v1/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${partner.client.clientId}:${partner.clientSecret}`).toString("base64")}`,
      },
      body: "grant_type=client_credentials&scope=data:read",
    });
    const refused = await fetch(`${consumer.url}/v1/connectors/oauth/acme/authorize`, {
      headers: { authorization: `Bearer ${((await partnerToken.json()) as any).access_token}` },
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ detail: "Only scopegate's own apps may connect providers for a user." });
    const badToken = await fetch(`${consumer.url}/v1/connectors/oauth/acme/authorize`, { headers: { authorization: "Bearer nope" } });
    expect(badToken.status).toBe(401);
    expect(badToken.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it("sends a signed-out browser to sign in first, and a signed-out API caller gets 401", async () => {
    const anon = new (await import("../helpers/http.ts")).WebClient(consumer.url);
    const res = await anon.fetch("/v1/connectors/oauth/acme/authorize?collection_id=x", { headers: HTML });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(
      `/login?return_to=${encodeURIComponent("/v1/connectors/oauth/acme/authorize?collection_id=x")}`,
    );
    const api = await anon.fetch("/v1/connectors/oauth/acme/authorize", { headers: JSON_ACCEPT });
    expect(api.status).toBe(401);
  });
});

describe("refusals that store nothing", () => {
  it("422 for missing or malformed parameters, one entry per problem, and the same as a page for a browser", async () => {
    const cy = await user(consumer, "Cy");
    const res = await cy.web.fetch("/v1/connectors/oauth/acme/callback", { headers: JSON_ACCEPT });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [
        { loc: ["query", "state"], msg: "field required", type: "value_error.missing" },
        { loc: ["query", "code"], msg: "field required", type: "value_error.missing" },
      ],
    });
    const long = await cy.web.fetch(
      `/v1/connectors/oauth/acme/authorize?collection_id=${"x".repeat(201)}&redirect_uri=${encodeURIComponent("https://evil.example/")}`,
      { headers: JSON_ACCEPT },
    );
    expect(long.status).toBe(422);
    expect(((await long.json()) as any).detail).toEqual([
      { loc: ["query", "collection_id"], msg: "must be at most 200 characters", type: "value_error" },
      { loc: ["query", "redirect_uri"], msg: "must be a path on this site, such as /account/connections", type: "value_error" },
    ]);
    for (const evil of ["//evil.example", "/%2F%2Fevil.example", "/\\evil.example", "javascript:alert(1)"]) {
      const r = await cy.web.fetch(`/v1/connectors/oauth/acme/authorize?redirect_uri=${encodeURIComponent(evil)}`, {
        headers: JSON_ACCEPT,
      });
      expect(r.status, evil).toBe(422);
    }
    const page = await cy.web.fetch("/v1/connectors/oauth/acme/callback?code=x", { headers: HTML });
    expect(page.status).toBe(422);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("state: field required");

    const unknown = await cy.web.fetch("/v1/connectors/oauth/nobody/authorize", { headers: JSON_ACCEPT });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ detail: "Provider not found." });
    expect((await cy.web.fetch("/v1/connectors/oauth/nobody/callback?state=a&code=b", { headers: HTML })).status).toBe(404);
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: cy.user.id } })).toBe(0);
  });

  it("a state that is unknown, used, expired, another user's or without its cookie", async () => {
    const di = await user(consumer, "Di");
    const diAtAcme = await user(provider, "Di at Acme");
    const expectDetail = async (res: Response, status: number, detail: string) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ detail });
    };
    await expectDetail(
      await di.web.fetch("/v1/connectors/oauth/acme/callback?state=made-up&code=x", { headers: JSON_ACCEPT }),
      400,
      "This connection request is unknown or was already used. Start connecting again.",
    );

    // Without the browser's cookie (another browser, or a link sent to the victim).
    let back = await consentAtProvider(diAtAcme.web, await start(di));
    const cookieName = (url: URL) => browserCookieName(url.searchParams.get("state")!);
    const cookie = di.web.jar.get(cookieName(back))!;
    await expectDetail(
      await fetch(`${consumer.url}${back.pathname}${back.search}`, { headers: JSON_ACCEPT, redirect: "manual" }),
      403,
      "This connection must be completed in the browser that started it.",
    );
    // That try did not burn the state (as a stolen authorization code is not burnt): the right browser still completes.
    const rightful = await di.web.fetch(back.pathname + back.search, {
      headers: { ...JSON_ACCEPT, cookie: `${cookieName(back)}=${cookie}` },
    });
    expect(rightful.status).toBe(200);

    // Another user signed in in the browser that holds the cookie.
    back = await consentAtProvider(diAtAcme.web, await start(di));
    const eve = await user(consumer, "Eve");
    await expectDetail(
      await eve.web.fetch(back.pathname + back.search, {
        headers: { ...JSON_ACCEPT, cookie: `${cookieName(back)}=${di.web.jar.get(cookieName(back))}; ${eve.web.jar.header()}` },
      }),
      403,
      "This connection was started by another account.",
    );

    // Expired.
    back = await consentAtProvider(diAtAcme.web, await start(di));
    await consumer.db.prisma.connectorState.updateMany({
      where: { userId: di.user.id, usedAt: null },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    await expectDetail(
      await di.web.fetch(back.pathname + back.search, { headers: JSON_ACCEPT }),
      400,
      "This connection request has expired. Start connecting again.",
    );

    // A replayed callback after a success.
    back = await consentAtProvider(diAtAcme.web, await start(di));
    const ok = await di.web.fetch(back.pathname + back.search, { headers: JSON_ACCEPT });
    expect(ok.status).toBe(200);
    await start(di); // a fresh cookie in the jar: still refused, the state is gone
    await expectDetail(
      await di.web.fetch(back.pathname + back.search, { headers: JSON_ACCEPT }),
      400,
      "This connection request is unknown or was already used. Start connecting again.",
    );
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: eve.user.id } })).toBe(0);
  });

  it("two flows started side by side in one browser (two tabs) both complete", async () => {
    const kim = await user(consumer, "Kim");
    const kimAtAcme = await user(provider, "Kim at Acme");
    const first = await start(kim, "?collection_id=tab-1");
    const second = await start(kim, "?collection_id=tab-2");
    const backFirst = await consentAtProvider(kimAtAcme.web, first);
    const backSecond = await consentAtProvider(kimAtAcme.web, second);
    const one = await kim.web.fetch(backSecond.pathname + backSecond.search, { headers: JSON_ACCEPT });
    expect(await one.json()).toMatchObject({ collection_id: "tab-2" });
    const two = await kim.web.fetch(backFirst.pathname + backFirst.search, { headers: JSON_ACCEPT });
    expect(two.status).toBe(200);
    expect(await two.json()).toMatchObject({ collection_id: "tab-1" });
  });

  it("the user denying at the provider, a provider that is down, and one that answers garbage: clear errors, not 500", async () => {
    const fay = await user(consumer, "Fay");
    const fayAtAcme = await user(provider, "Fay at Acme");
    const back = await consentAtProvider(fayAtAcme.web, await start(fay), "deny");
    expect(back.searchParams.get("error")).toBe("access_denied");
    const denied = await fay.web.fetch(back.pathname + back.search, { headers: JSON_ACCEPT });
    expect(denied.status).toBe(400);
    expect(((await denied.json()) as any).detail).toMatch(/^Acme Health did not authorize the connection \(access_denied/);
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: fay.user.id } })).toBe(0);

    const down = await fay.web.fetch("/v1/connectors/oauth/down/authorize", { headers: JSON_ACCEPT });
    expect(down.status).toBe(502);
    expect(((await down.json()) as any).detail).toMatch(/^down could not be reached \(ECONNREFUSED\) during the discovery\.$/);
    const downPage = await fay.web.fetch("/v1/connectors/oauth/down/authorize", { headers: HTML });
    expect(downPage.status).toBe(502);
    expect(await downPage.text()).toContain("could not be reached");

    const junk = await fay.web.fetch("/v1/connectors/oauth/garbage/authorize", { headers: JSON_ACCEPT });
    expect(junk.status).toBe(502);
    expect(((await junk.json()) as any).detail).toMatch(/^garbage gave an invalid answer during the discovery/);
    expect(await consumer.db.prisma.connectorState.count({ where: { userId: fay.user.id, provider: { in: ["down", "garbage"] } } })).toBe(
      0,
    );
  });
});

describe("using and ending a connection", () => {
  it("refreshes a token near expiry, marks the connection when the provider refuses, and disconnecting revokes at the provider", async () => {
    const gus = await user(consumer, "Gus");
    const gusAtAcme = await user(provider, "Gus at Acme");
    expect((await connect(gus, gusAtAcme)).status).toBe(303);
    const first = await accessTokenFor(consumer.db.prisma, connectors, gus.user.id, "acme");
    // Near expiry: refreshed (the provider rotates the refresh token too).
    await consumer.db.prisma.providerConnection.updateMany({
      where: { userId: gus.user.id },
      data: { accessTokenExpiresAt: new Date(Date.now() + 10_000) },
    });
    const [a, b] = await Promise.all([
      accessTokenFor(consumer.db.prisma, connectors, gus.user.id, "acme"),
      accessTokenFor(consumer.db.prisma, connectors, gus.user.id, "acme"),
    ]);
    expect(a).toBe(b); // one refresh for both callers
    expect(a).not.toBe(first);
    expect(await providerMe(a)).toBe(gusAtAcme.user.id);
    const refreshed = (await gql(gus, CONNECTIONS)).data.viewer.connections[0];
    expect(refreshed.lastRefreshedAt).not.toBeNull();

    // Gus disconnects scopegate at the provider: the next refresh is refused.
    const apps = await gusAtAcme.web.graphql(`{ viewer { connectedApps { id } } }`, { csrf: gusAtAcme.csrf });
    const grantId = apps.body!.data.viewer.connectedApps[0].id;
    await gusAtAcme.web.graphql(`mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, {
      csrf: gusAtAcme.csrf,
      variables: { id: grantId },
    });
    await consumer.db.prisma.providerConnection.updateMany({
      where: { userId: gus.user.id },
      data: { accessTokenExpiresAt: new Date(Date.now() - 1000) },
    });
    await expect(accessTokenFor(consumer.db.prisma, connectors, gus.user.id, "acme")).rejects.toBeInstanceOf(ReconnectNeededError);
    expect((await gql(gus, CONNECTIONS)).data.viewer.connections[0].status).toBe("NEEDS_RECONNECT");
    const log = await gql(gus, `{ viewer { auditLog(first: 5) { edges { node { action detail } } } } }`);
    expect(log.data.viewer.auditLog.edges[0].node).toMatchObject({ action: "connection.refresh_failed" });
    expect(log.data.viewer.auditLog.edges[0].node.detail).toContain("invalid_grant");

    // Connected again, then disconnected here: revoked at the provider, gone here.
    expect((await connect(gus, gusAtAcme)).status).toBe(303);
    const live = await accessTokenFor(consumer.db.prisma, connectors, gus.user.id, "acme");
    expect(await providerMe(live)).toBe(gusAtAcme.user.id);
    const gone = await gql(gus, `mutation { disconnectProvider(provider: "acme") { provider } }`);
    expect(gone.data.disconnectProvider.provider).toBe("acme");
    expect((await gql(gus, CONNECTIONS)).data.viewer.connections).toEqual([]);
    expect(await providerMe(live)).toBeNull();
    const after = await gql(gus, `{ viewer { auditLog(first: 1) { edges { node { action detail } } } } }`);
    expect(after.data.viewer.auditLog.edges[0].node).toMatchObject({ action: "connection.removed" });
    expect(after.data.viewer.auditLog.edges[0].node.detail).toContain("revoked at the provider");
    const again = await gql(gus, `mutation { disconnectProvider(provider: "acme") { provider } }`);
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("deleting the account disconnects everything and revokes at the provider", async () => {
    const hal = await user(consumer, "Hal");
    const halAtAcme = await user(provider, "Hal at Acme");
    await connect(hal, halAtAcme);
    const token = await accessTokenFor(consumer.db.prisma, connectors, hal.user.id, "acme");
    const r = await hal.web.postForm("/account/delete", { csrf: hal.csrf, password: PASSWORD, confirm: "yes" });
    expect(r.res.status).toBe(200);
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: hal.user.id } })).toBe(0);
    expect(await providerMe(token)).toBeNull();
    const trail = await consumer.db.prisma.auditEvent.findMany({ where: { userId: hal.user.id, action: "connection.removed" } });
    expect(trail.map((e) => e.detail)).toEqual([expect.stringContaining("the user deleted their account; revoked at the provider")]);
  });
});

describe("instances and key rotation", () => {
  it("two instances refreshing one connection at once spend its refresh token once (the row lock), and both get the new token", async () => {
    const ivy = await user(consumer, "Ivy");
    const ivyAtAcme = await user(provider, "Ivy at Acme");
    expect((await connect(ivy, ivyAtAcme)).status).toBe(303);
    // Two instances: two copies of the module, each with its own in-process sharing.
    type Module = typeof import("../../src/connectors/connections.ts");
    // The query makes Vite load the module again, as a second instance would (TypeScript cannot resolve it).
    // @ts-expect-error
    const a = (await import("../../src/connectors/connections.ts?instance=a")) as Module;
    // @ts-expect-error
    const b = (await import("../../src/connectors/connections.ts?instance=b")) as Module;
    const shared = { ...connectors, lockRefreshInDatabase: true };
    await consumer.db.prisma.providerConnection.updateMany({
      where: { userId: ivy.user.id },
      data: { accessTokenExpiresAt: new Date(Date.now() + 5_000) },
    });
    const reusedBefore = await provider.db.prisma.auditEvent.count({ where: { action: "refresh_token.reused" } });
    const [ta, tb] = await Promise.all([
      a.accessTokenFor(consumer.db.prisma, shared, ivy.user.id, "acme"),
      b.accessTokenFor(consumer.db.prisma, shared, ivy.user.id, "acme"),
    ]);
    expect(ta).toBe(tb);
    expect(await providerMe(ta)).toBe(ivyAtAcme.user.id);
    expect((await consumer.db.prisma.providerConnection.findFirstOrThrow({ where: { userId: ivy.user.id } })).status).toBe("active");
    expect(await provider.db.prisma.auditEvent.count({ where: { action: "refresh_token.reused" } })).toBe(reusedBefore);
  });

  it("tokens are sealed again under a rotated KEY_ENCRYPTION_SECRET at start, so the previous one can go", async () => {
    const jo = await user(consumer, "Jo");
    const joAtAcme = await user(provider, "Jo at Acme");
    await connect(jo, joAtAcme);
    const before = await consumer.db.prisma.providerConnection.findFirstOrThrow({ where: { userId: jo.user.id } });
    const NEW = "a-rotated-key-encryption-secret-0123456789abcdef";
    const rotating = new KeyEncryption(NEW, TEST_KEY_ENCRYPTION_SECRET);
    expect(await resealConnectorSecrets(consumer.db.prisma, rotating)).toBeGreaterThanOrEqual(1);
    const after = await consumer.db.prisma.providerConnection.findFirstOrThrow({ where: { userId: jo.user.id } });
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(rotating.isCurrent(after.accessToken) && rotating.isCurrent(after.refreshToken!)).toBe(true);
    // The new secret alone opens them now.
    const onlyNew = { ...connectors, keyEncryption: new KeyEncryption(NEW) };
    expect(await providerMe(await accessTokenFor(consumer.db.prisma, onlyNew, jo.user.id, "acme"))).toBe(joAtAcme.user.id);
    // (Back under the running server's secret, for anything after this.)
    await resealConnectorSecrets(consumer.db.prisma, new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET, NEW));
  });
});
