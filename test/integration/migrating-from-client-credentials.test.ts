/**
 * docs/migrating-from-client-credentials.md, step by step, with the example
 * partner app as the worked example: a client registered with GraphQL
 * (createOAuthClient) that reads its owner's data with client_credentials
 * (examples/partner-app/client-credentials.ts) gets its real redirect URI
 * (updateOAuthClient), and the same client then serves other people through
 * the example web app (authorization code + PKCE), while the client_credentials
 * job keeps working beside it. The owner connecting through the web app is
 * the same `sub` as before, so data kept under it carries over.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPartnerApp, type PartnerApp } from "../../examples/partner-app/server.ts";
import { readOwnData } from "../../examples/partner-app/client-credentials.ts";
import { hiddenInput, WebClient } from "../helpers/http.ts";
import { signedInUser, submitConsent } from "../helpers/oauth.ts";
import { freePort, startTestServer, type TestServer } from "../helpers/server.ts";

const CLIENT_FIELDS = "clientId environment type redirectUris scopes refreshTokens";

describe("moving the example partner app from client_credentials to the code flow", () => {
  let server: TestServer;
  let app: PartnerApp | undefined;
  let owner: Awaited<ReturnType<typeof signedInUser>>;
  let ownerCsrf: string;
  let clientId: string;
  let clientSecret: string;
  let appPort: number;

  /** A GraphQL request as the signed-in owner (session cookie and the page's CSRF token). */
  async function asOwner(query: string, variables: Record<string, unknown>) {
    const { body } = await owner.web.graphql(query, { csrf: ownerCsrf, variables });
    expect(body?.errors, JSON.stringify(body?.errors)).toBeUndefined();
    return body!.data;
  }

  /** `who` connects through the example app: its Connect form, scopegate's consent, the callback. Returns the app's page. */
  async function connectThroughTheApp(who: { web: WebClient }): Promise<string> {
    const browser = new WebClient(app!.url);
    const home = await browser.page("/");
    const connect = await browser.postForm("/connect", { csrf: hiddenInput(home.html, "csrf")! });
    expect(connect.res.status).toBe(303);
    const authorize = new URL(connect.res.headers.get("location")!);
    expect(authorize.origin + authorize.pathname).toBe(`${server.issuer}/v1/oauth/authorize`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    const consent = await who.web.page(authorize.pathname + authorize.search);
    expect(consent.res.status).toBe(200);
    const allowed = await submitConsent(who.web, consent.html, { decision: "allow" });
    const callback = new URL(allowed.res.headers.get("location")!);
    expect(callback.origin + callback.pathname).toBe(`http://localhost:${appPort}/callback`);
    const back = await browser.fetch(callback.pathname + callback.search);
    expect(back.status).toBe(303);
    return (await browser.page("/")).html;
  }

  beforeAll(async () => {
    server = await startTestServer();
    owner = await signedInUser(server, "Olive Owner");
    ownerCsrf = await owner.web.csrfFrom("/logout");
    await server.db.prisma.measurement.create({
      data: { userId: owner.user.id, type: "HEART_RATE", value: 64, unit: "bpm", recordedAt: new Date(Date.now() - 60_000) },
    });
    appPort = await freePort();
  });
  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it("before: a confidential client reads its owner's data with client_credentials", async () => {
    // Registered for a backend job: the redirect URI was a placeholder nobody visits.
    const created = await asOwner(
      `mutation($input: CreateOAuthClientInput!) { createOAuthClient(input: $input) { clientSecret client { ${CLIENT_FIELDS} } } }`,
      {
        input: {
          name: "Example Partner App",
          environment: "DEVELOPMENT",
          type: "CONFIDENTIAL",
          redirectUris: ["https://partner.example/unused"],
          scopes: ["profile:read", "data:read", "data:write"],
        },
      },
    );
    clientId = created.createOAuthClient.client.clientId;
    clientSecret = created.createOAuthClient.clientSecret;
    const own = await readOwnData({ issuer: server.issuer, clientId, clientSecret });
    expect(own.scope).toBe("profile:read data:read");
    expect(own.me).toMatchObject({ id: owner.user.id, name: "Olive Owner", email: owner.email });
    expect(own.me.measurements).toEqual([expect.objectContaining({ type: "HEART_RATE", value: 64, unit: "bpm" })]);
    // Such a token has no grant: nothing under the owner's connected apps.
    expect(await server.db.prisma.grant.count({ where: { userId: owner.user.id } })).toBe(0);
  });

  it("step 1: the client registration gets the web app's redirect URI; nothing else has to change", async () => {
    const updated = await asOwner(
      `mutation($clientId: ID!, $input: UpdateOAuthClientInput!) { updateOAuthClient(clientId: $clientId, input: $input) { ${CLIENT_FIELDS} } }`,
      { clientId, input: { redirectUris: [`http://localhost:${appPort}/callback`] } },
    );
    expect(updated.updateOAuthClient).toEqual({
      clientId,
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: [`http://localhost:${appPort}/callback`],
      scopes: ["profile:read", "data:read", "data:write"],
      refreshTokens: true,
    });
  });

  it("steps 2 to 4: the same client serves another person through the example app, with their consent", async () => {
    app = await startPartnerApp({ issuer: server.issuer, clientId, clientSecret, port: appPort, log: () => {} });
    const rosa = await signedInUser(server, "Rosa Reader");
    const page = await connectThroughTheApp(rosa);
    expect(page).toContain("Connected to scopegate as Rosa Reader");
    expect(page).toContain(rosa.email);
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId: rosa.user.id, revokedAt: null } });
    expect([...grant.scopes].sort()).toEqual(["data:read", "data:write", "offline_access", "openid", "profile:read"]);
  });

  it("step 5: meanwhile the client_credentials job still reads the owner's data, and only theirs", async () => {
    const own = await readOwnData({ issuer: server.issuer, clientId, clientSecret });
    expect(own.me.id).toBe(owner.user.id);
    expect(own.me.name).toBe("Olive Owner");
  });

  it("step 6: the owner connects through the web app too, as the same sub, so what was kept under it carries over", async () => {
    const page = await connectThroughTheApp(owner);
    expect(page).toContain("Connected to scopegate as Olive Owner");
    const sub = page.match(/data-testid="id-token-sub">([^<]+)</)?.[1];
    expect(sub).toBe(owner.user.id);
    expect(await server.db.prisma.grant.count({ where: { userId: owner.user.id, revokedAt: null } })).toBe(1);
  });
});
