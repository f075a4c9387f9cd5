// Issue 15 item 3, Client ID Metadata Documents end to end: the real server as
// a child process that trusts a test certificate authority through
// NODE_EXTRA_CA_CERTS (read only when a Node process starts) and is allowed
// loopback documents (CIMD_ALLOW_LOOPBACK=true); documents served over https
// from 127.0.0.1. openid-client, with the document's URL as its client_id,
// runs the code flow with PKCE through the real sign-up and consent pages,
// then the token endpoint and GraphQL; the MCP SDK's own OAuth client goes
// from no stored client to connected with clientMetadataUrl. Problems with a
// document are shown on the authorization endpoint's error page.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, embeddedDataDirFromTemplate, type TestDatabase } from "../helpers/db.ts";
import { decodeEntities, WebClient } from "../helpers/http.ts";
import { currentKind } from "../helpers/kinds.ts";
import { DocumentServer, makeTestCertificates, type TestCertificates } from "../helpers/metadata-documents.ts";
import { AssistantProvider } from "../helpers/mcp.ts";
import { location, PASSWORD, submitConsent } from "../helpers/oauth.ts";
import { ServerProcess } from "../helpers/process.ts";
import { freePort, TEST_KEY_ENCRYPTION_SECRET } from "../helpers/server.ts";

const REDIRECT = "http://127.0.0.1:7777/callback";

let certs: TestCertificates;
let docs: DocumentServer;
let scopegate: ServerProcess | undefined;
let testDb: TestDatabase | undefined;
let dataDir: string | undefined;
let issuer: string;

beforeAll(async () => {
  certs = makeTestCertificates();
  docs = await DocumentServer.start(certs);
  let databaseEnv: Record<string, string>;
  if (currentKind() === "postgres") {
    testDb = await createTestDatabase();
    databaseEnv = { DATABASE_URL: (testDb.target as { url: string }).url };
  } else {
    dataDir = join(mkdtempSync(join(tmpdir(), "scopegate-cimd-e2e-")), "data");
    await embeddedDataDirFromTemplate(dataDir, "migrated");
    databaseEnv = { DATA_DIR: dataDir };
  }
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  scopegate = new ServerProcess({
    HOST: "127.0.0.1",
    PORT: String(port),
    ISSUER: issuer,
    ...databaseEnv,
    KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET,
    SEED_DEMO: "false",
    LOG_LEVEL: "warn",
    NODE_EXTRA_CA_CERTS: certs.caFile,
    CIMD_ALLOW_LOOPBACK: "true",
    CLIENT_REGISTRATION_MAX_PER_ADDRESS: "100000",
    SIGN_UP_MAX_PER_ADDRESS: "100000",
  });
  await scopegate.ready();
}, 90_000);

afterAll(async () => {
  await scopegate?.stop();
  await docs?.close();
  certs?.remove();
  await testDb?.drop();
  if (dataDir) rmSync(join(dataDir, ".."), { recursive: true, force: true });
});

let userCounter = 0;

/** A new user, signed up through the real /signup form (the server is another process). */
async function newUser(name: string) {
  const web = new WebClient(issuer);
  const email = `cimd-${++userCounter}-${Date.now()}@example.com`;
  const { res } = await web.signUp({ name, email, password: PASSWORD });
  expect(res.status).toBe(303);
  expect(web.jar.get("sg_session")).toBeTruthy();
  return { web, email };
}

/** The authorization endpoint's answer to `params` for a signed-in user: its status and the page's text. */
async function authorize(web: WebClient, params: Record<string, string>) {
  const { res, html } = await web.page(`/v1/oauth/authorize?${new URLSearchParams(params)}`);
  return { status: res.status, location: res.headers.get("location"), text: decodeEntities(html) };
}

const PKCE = { response_type: "code", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256" };

describe("openid-client with its document's URL as client_id", () => {
  it("discovers the support, connects through the consent page, gets tokens, calls GraphQL and refreshes", async () => {
    const clientId = docs.document("/pocket/client.json", {
      client_name: "Pocket Assistant",
      client_uri: "https://pocket.example/",
      redirect_uris: ["http://127.0.0.1/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "openid offline_access profile:read data:read",
    });
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    expect(config.serverMetadata().client_id_metadata_document_supported).toBe(true);

    const ada = await newUser("Ada");
    // A native app's loopback redirect URI: any port at request time (RFC 8252 §7.3), the rest exact.
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
    expect(url.searchParams.get("client_id")).toBe(clientId);
    const page = await ada.web.fetch(url.pathname + url.search);
    expect(page.status).toBe(200);
    const html = await page.text();
    // Unverified, with the host of the document (not client_uri's: the document's URL is what vouches for it).
    expect(html).toContain("Pocket Assistant");
    expect(html).toContain(">Unverified<");
    expect(html).toMatch(
      new RegExp(
        `scopegate has not verified this app\\.</strong> It registered itself, and its details came from <strong>${new URL(clientId).host.replace(/\./g, "\\.")}</strong>`,
      ),
    );
    const { res } = await submitConsent(ada.web, html, { decision: "allow" });
    const callback = location(res, issuer);
    expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri);

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.refresh_token).toBeTruthy();
    const me = async (accessToken: string) => {
      const r = await fetch(`${issuer}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ query: "{ me { id name email } }" }),
      });
      return (await r.json()) as { data?: { me: { id: string; name: string; email: string } } };
    };
    expect((await me(tokens.access_token)).data?.me).toMatchObject({ id: tokens.claims()!.sub, name: "Ada", email: ada.email });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await me(refreshed.access_token)).data?.me.name).toBe("Ada");
    // Fetched once: at the authorization request. The consent answer used the stored copy, and the
    // token endpoint finds the client without a fetch.
    expect(docs.hitsOf("/pocket/client.json")).toBe(1);

    // Under Connected apps like any app, marked unverified with the document's host.
    const apps = decodeEntities((await ada.web.page("/account/apps")).html);
    expect(apps).toContain("Pocket Assistant");
    expect(apps).toContain(`from ${new URL(clientId).host}`);
  });
});

describe("the authorization endpoint's error page", () => {
  it("names what is wrong with the document, and never redirects to an unchecked redirect URI", async () => {
    const { web } = await newUser("Bo");
    const mismatch = docs.set("/wrong-id.json", {
      body: { client_id: docs.url("/someone-else.json"), redirect_uris: [REDIRECT] },
    });
    const missing = docs.url("/missing.json");
    const good = docs.document("/strict.json", { client_name: "Strict", redirect_uris: [REDIRECT] });
    const cases: [string, string, string][] = [
      [
        mismatch,
        REDIRECT,
        `The app's client metadata document at ${mismatch} names another client_id: it must be exactly the document's URL.`,
      ],
      [missing, REDIRECT, `The app's client metadata document at ${missing} answered HTTP 404, not 200.`],
      [docs.url("/strict.json").replace("https:", "http:"), REDIRECT, "The app's client_id must use https."],
      [good, "http://127.0.0.1:7777/elsewhere", "Strict asked to send you back to an address that is not registered for it"],
    ];
    for (const [clientId, redirectUri, message] of cases) {
      const answer = await authorize(web, { ...PKCE, client_id: clientId, redirect_uri: redirectUri, scope: "data:read" });
      expect(answer.status).toBe(400);
      expect(answer.location).toBeNull();
      expect(answer.text).toContain("This app's request can't be used");
      expect(answer.text).toContain(message);
    }
  });
});

describe("an app known only by its document is unverified (RFC 9700 §4.11.2)", () => {
  it("its errors before the user chose are the page with a link back, never a redirect to its own redirect URI", async () => {
    const { web } = await newUser("Cy");
    const clientId = docs.document("/lure.json", { client_name: "Lure", redirect_uris: [REDIRECT] });
    for (const [params, error] of [
      [{ scope: "openid bogus" }, "invalid_scope"],
      [{ scope: "data:read", prompt: "none" }, "consent_required"],
    ] as const) {
      const answer = await authorize(web, { ...PKCE, client_id: clientId, redirect_uri: REDIRECT, state: "s-1", ...params });
      expect(answer.status).toBe(400);
      expect(answer.location).toBeNull();
      expect(answer.text).toContain("scopegate has not verified Lure");
      expect(answer.text).toContain(`its details came from ${new URL(clientId).host}`);
      const link = answer.text.match(/<a href="([^"]*)" rel="noreferrer">Return to 127\.0\.0\.1:7777<\/a>/)?.[1];
      const back = new URL(link!);
      expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
      expect(back.searchParams.get("error")).toBe(error);
      expect(back.searchParams.get("state")).toBe("s-1");
      expect(back.searchParams.get("iss")).toBe(issuer);
    }
    // Fetched once, at the first request; the second used the stored copy.
    expect(docs.hitsOf("/lure.json")).toBe(1);
  });
});

describe("the MCP SDK's OAuth client with clientMetadataUrl", () => {
  it("goes from no stored client to connected without registering: the URL is its client_id", async () => {
    const metadataUrl = docs.document("/assistant/oauth-client.json", {
      client_name: "Publishing assistant",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "none",
    });
    const provider = new AssistantProvider(REDIRECT, { clientMetadataUrl: metadataUrl, name: "Publishing assistant" });
    const mcpUrl = new URL(`${issuer}/mcp`);
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await expect(new Client({ name: "publishing-assistant", version: "1.0.0" }).connect(transport)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(provider.info?.client_id).toBe(metadataUrl);
    const opened = provider.opened.at(-1)!;
    expect(opened.searchParams.get("client_id")).toBe(metadataUrl);
    expect(opened.searchParams.get("resource")).toBe(`${issuer}/mcp`);

    const cy = await newUser("Cy");
    const page = await cy.web.fetch(opened.pathname + opened.search);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("Publishing assistant");
    expect(html).toContain(">Unverified<");
    const { res } = await submitConsent(cy.web, html, { decision: "allow" });
    const back = location(res, issuer);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    await transport.finishAuth(back.searchParams.get("code")!);

    const mcp = new Client({ name: "publishing-assistant", version: "1.0.0" });
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    expect((await mcp.listTools()).tools.map((t) => t.name)).toContain("get_profile");
    expect((await mcp.callTool({ name: "get_profile", arguments: {} })).structuredContent).toMatchObject({ name: "Cy", email: cy.email });
    await mcp.close();
    expect(docs.hitsOf("/assistant/oauth-client.json")).toBe(1);
  });
});
