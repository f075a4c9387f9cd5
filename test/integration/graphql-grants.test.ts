import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeGrant } from "../../src/consent/grants.ts";
import { transaction } from "../../src/db/changes.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { authorizationUrl, discover, exchangeCode, location, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import type { WebClient } from "../helpers/http.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let web: WebClient;
let userId: string;
const REDIRECT = "https://app.example/cb";

async function connect(scope = "data:read offline_access") {
  const { client, clientSecret } = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes: ["data:read"],
  });
  const c = { client_id: client.clientId };
  const auth = oauth.ClientSecretBasic(clientSecret!);
  const req = await authorizationUrl(as, client.clientId, REDIRECT, scope);
  let res = await web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) res = (await submitConsent(web, await res.text(), { decision: "allow" })).res;
  const callback = oauth.validateAuthResponse(as, c, location(res, server.url), req.state);
  const tokens = await exchangeCode(as, c, auth, callback, REDIRECT, req.verifier);
  const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId, clientId: client.id, revokedAt: null } });
  return { tokens, grant, client, c, auth };
}

async function read(token: string) {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { measurements(first: 1) { pageInfo { hasNextPage } } } }" }),
  });
}

async function waitFor<T>(probe: () => Promise<T | null | undefined>, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  const s = await signedInUser(server, "Gil");
  web = s.web;
  userId = s.user.id;
});
afterAll(async () => {
  await server?.stop();
});

describe("grants and token-authenticated requests", () => {
  it("a revoked grant fails on the very next request, and its refresh token with it", async () => {
    const { tokens, grant, c, auth } = await connect();
    expect((await read(tokens.access_token)).status).toBe(200);
    await transaction(server.db.prisma, (tx) => revokeGrant(tx, grant.id, "test"));
    const res = await read(tokens.access_token);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    const refresh = await oauth.refreshTokenGrantRequest(as, c, auth, tokens.refresh_token!, { [oauth.allowInsecureRequests]: true });
    await expect(oauth.processRefreshTokenResponse(as, c, refresh)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("each read leaves a data.read event naming client, user and grant", async () => {
    const { tokens, grant, client } = await connect();
    await read(tokens.access_token);
    const event = await waitFor(() => server.db.prisma.auditEvent.findFirst({ where: { action: "data.read", grantId: grant.id } }));
    expect(event).toMatchObject({ userId, clientId: client.id, grantId: grant.id, detail: "fields: me{measurements}" });
  });

  it("moves the grant's lastUsedAt at most once a minute", async () => {
    const { tokens, grant } = await connect();
    // the code exchange stamped it; start from a known past time
    const past = new Date(Date.now() - 5 * 60_000);
    await server.db.prisma.grant.update({ where: { id: grant.id }, data: { lastUsedAt: past } });
    await read(tokens.access_token);
    const first = await waitFor(async () => {
      const g = await server.db.prisma.grant.findUniqueOrThrow({ where: { id: grant.id } });
      return g.lastUsedAt && g.lastUsedAt > past ? g.lastUsedAt : null;
    });
    for (let i = 0; i < 3; i++) await read(tokens.access_token);
    await new Promise((r) => setTimeout(r, 1200)); // longer than a flush
    const after = await server.db.prisma.grant.findUniqueOrThrow({ where: { id: grant.id } });
    expect(after.lastUsedAt).toEqual(first);
  });
});

describe("a connected app as its user sees it", () => {
  it("shows no secret hint of another developer's client", async () => {
    const dev = await signedInUser(server, "Dev");
    const { client, clientSecret } = await registerClient(server, dev.user.id, {
      type: "CONFIDENTIAL",
      redirectUris: [REDIRECT],
      scopes: ["data:read"],
    });
    const c = { client_id: client.clientId };
    const req = await authorizationUrl(as, client.clientId, REDIRECT, "data:read");
    let res = await web.fetch(req.url.pathname + req.url.search);
    if (res.status === 200) res = (await submitConsent(web, await res.text(), { decision: "allow" })).res;
    const callback = oauth.validateAuthResponse(as, c, location(res, server.url), req.state);
    await exchangeCode(as, c, oauth.ClientSecretBasic(clientSecret!), callback, REDIRECT, req.verifier);

    const query = "{ viewer { connectedApps { client { clientId secretHint } } oauthClients { clientId secretHint } } }";
    const mine = await web.graphql(query, { csrf: await web.csrfFrom("/logout") });
    const app = mine.body!.data.viewer.connectedApps.find((a: any) => a.client.clientId === client.clientId);
    expect(app.client.secretHint).toBeNull();
    const devView = await dev.web.graphql(query, { csrf: await dev.web.csrfFrom("/logout") });
    expect(devView.body!.data.viewer.oauthClients.find((x: any) => x.clientId === client.clientId).secretHint).toBe(
      clientSecret!.slice(-4),
    );
  });
});
