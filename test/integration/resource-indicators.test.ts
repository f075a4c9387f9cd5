// Issue 15 item 2: RFC 8707 resource indicators. /graphql and /mcp are two
// protected resources; a token carries the audience it was asked for and only
// that resource takes it. Driven with oauth4webapi, as partner apps do.
import * as jose from "jose";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { authorizationUrl, discover, insecure, location, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let client: OAuthClient;
let auth: oauth.ClientAuth;
const REDIRECT = "https://partner.example/callback";

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  const dev = await signedInUser(server, "Developer");
  const reg = await registerClient(server, dev.user.id, {
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read"],
  });
  client = reg.client;
  auth = oauth.ClientSecretBasic(reg.clientSecret!);
});
afterAll(async () => {
  await server?.stop();
});

const graphqlAud = () => `${server.issuer}/graphql`;
const mcpAud = () => `${server.issuer}/mcp`;
const audOf = (token: string) => jose.decodeJwt(token).aud;

async function ccToken(resource?: string): Promise<oauth.TokenEndpointResponse> {
  const res = await oauth.clientCredentialsGrantRequest(
    as,
    { client_id: client.clientId },
    auth,
    new URLSearchParams({ scope: "data:read", ...(resource ? { resource } : {}) }),
    insecure,
  );
  return oauth.processClientCredentialsResponse(as, { client_id: client.clientId }, res);
}

async function me(token: string) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  return { status: res.status, challenge: res.headers.get("www-authenticate"), body: (await res.json()) as any };
}

/** The code flow with `resource` at the authorization request (and optionally another at the token request). */
async function codeFlow(resource: string | null, tokenResource?: string) {
  const u = await signedInUser(server, "Ada");
  const req = await authorizationUrl(as, client.clientId, REDIRECT, "openid offline_access data:read", resource ? { resource } : {});
  let res = await u.web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) res = (await submitConsent(u.web, await res.text(), { decision: "allow" })).res;
  const callback = location(res, server.url);
  if (callback.searchParams.get("error"))
    return { error: callback.searchParams.get("error"), description: callback.searchParams.get("error_description") };
  const params = oauth.validateAuthResponse(as, { client_id: client.clientId }, callback, req.state);
  const tokenRes = await oauth.authorizationCodeGrantRequest(as, { client_id: client.clientId }, auth, params, REDIRECT, req.verifier, {
    ...insecure,
    ...(tokenResource ? { additionalParameters: { resource: tokenResource } } : {}),
  });
  return {
    tokens: await oauth.processAuthorizationCodeResponse(as, { client_id: client.clientId }, tokenRes, { expectedNonce: req.nonce }),
    user: u,
  };
}

async function tokenError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return `${err.error}: ${err.error_description}`;
    throw err;
  }
  throw new Error("expected a token error");
}

describe("resource indicators (RFC 8707)", () => {
  it("a token asked for without resource is for /graphql, as before; resource=<origin> means the same", async () => {
    const plain = await ccToken();
    expect(audOf(plain.access_token)).toBe(graphqlAud());
    expect((await me(plain.access_token)).status).toBe(200);
    expect(audOf((await ccToken(server.issuer)).access_token)).toBe(graphqlAud());
    expect(audOf((await ccToken(graphqlAud())).access_token)).toBe(graphqlAud());
  });

  it("a token for /mcp is refused by /graphql, naming why", async () => {
    const mcp = await ccToken(mcpAud());
    expect(audOf(mcp.access_token)).toBe(mcpAud());
    const r = await me(mcp.access_token);
    expect(r.status).toBe(401);
    expect(r.challenge).toContain('error="invalid_token"');
    expect(r.body.errors[0].message).toBe(
      `This access token is for another resource (${mcpAud()}); ask for one with resource=${graphqlAud()}.`,
    );
    // Introspection tells a resource server which audience a token has.
    const intro = await oauth.introspectionRequest(as, { client_id: client.clientId }, auth, mcp.access_token, insecure);
    expect(await oauth.processIntrospectionResponse(as, { client_id: client.clientId }, intro)).toMatchObject({
      active: true,
      aud: mcpAud(),
    });
  });

  it("an unknown resource, or more than one, is invalid_target", async () => {
    expect(await tokenError(ccToken("https://elsewhere.example/api"))).toBe(
      `invalid_target: Unknown resource https://elsewhere.example/api. Resources: ${graphqlAud()}, ${mcpAud()}.`,
    );
    const two = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      auth,
      new URLSearchParams([
        ["scope", "data:read"],
        ["resource", graphqlAud()],
        ["resource", mcpAud()],
      ]),
      insecure,
    );
    expect(await tokenError(oauth.processClientCredentialsResponse(as, { client_id: client.clientId }, two))).toBe(
      "invalid_target: Ask for one resource per token.",
    );
  });

  it("the code flow binds the resource to the code and the refresh-token family", async () => {
    const flow = await codeFlow(mcpAud());
    const tokens = flow.tokens!;
    expect(audOf(tokens.access_token)).toBe(mcpAud());
    expect((await me(tokens.access_token)).status).toBe(401);
    // userinfo is the authorization server's own: it takes a token for either resource.
    const info = await fetch(as.userinfo_endpoint!, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(info.status).toBe(200);
    // Refreshing keeps the audience; asking for another one there is refused.
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      { client_id: client.clientId },
      await oauth.refreshTokenGrantRequest(as, { client_id: client.clientId }, auth, tokens.refresh_token!, insecure),
    );
    expect(audOf(refreshed.access_token)).toBe(mcpAud());
    const other = oauth.refreshTokenGrantRequest(as, { client_id: client.clientId }, auth, refreshed.refresh_token!, {
      ...insecure,
      additionalParameters: { resource: graphqlAud() },
    });
    expect(await tokenError(oauth.processRefreshTokenResponse(as, { client_id: client.clientId }, await other))).toBe(
      `invalid_target: This grant is for the resource ${mcpAud()}; ask for another resource with a new authorization.`,
    );
  });

  it("the token request may repeat the authorization request's resource but not change it", async () => {
    expect(audOf((await codeFlow(mcpAud(), mcpAud())).tokens!.access_token)).toBe(mcpAud());
    expect(await tokenError(codeFlow(null, mcpAud()))).toBe(
      `invalid_target: This grant is for the resource ${graphqlAud()}; ask for another resource with a new authorization.`,
    );
  });

  it("an unknown resource at the authorization request goes back to the app as invalid_target", async () => {
    const r = await codeFlow("https://elsewhere.example/");
    expect(r).toEqual({
      error: "invalid_target",
      description: `Unknown resource https://elsewhere.example/. Resources: ${graphqlAud()}, ${mcpAud()}.`,
    });
  });
});
