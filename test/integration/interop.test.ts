// Issue 15 item 5: faults that real clients hit, each checked with the client
// that hit it (openid-client for client_secret_post; the GraphQL over HTTP media
// type that Apollo Client asks for), and where the RFC and the client meet.
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerClient, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let clientId: string;
let clientSecret: string;

beforeAll(async () => {
  server = await startTestServer();
  const dev = await signedInUser(server, "Developer");
  const reg = await registerClient(server, dev.user.id, {
    type: "CONFIDENTIAL",
    redirectUris: ["https://partner.example/cb"],
    scopes: ["data:read"],
  });
  clientId = reg.client.clientId;
  clientSecret = reg.clientSecret!;
});
afterAll(async () => {
  await server?.stop();
});

async function configWith(auth: client.ClientAuth): Promise<client.Configuration> {
  return client.discovery(new URL(server.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

async function errorOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => null,
    (e: unknown) => e,
  );
}

describe("openid-client", () => {
  it("reads invalid_client from a wrong client_secret_post: the 401 carries no Basic challenge the client never tried (RFC 6749 §5.2)", async () => {
    const err = await errorOf(
      client.clientCredentialsGrant(await configWith(client.ClientSecretPost("sgs_wrong")), { scope: "data:read" }),
    );
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe("invalid_client");
    expect((err as client.ResponseBodyError).status).toBe(401);
    expect((err as client.ResponseBodyError).response.headers.get("www-authenticate")).toBeNull();
  });

  it("with client_secret_basic a wrong secret is a Basic challenge with error=invalid_client, which it reads as such", async () => {
    const err = await errorOf(
      client.clientCredentialsGrant(await configWith(client.ClientSecretBasic("sgs_wrong")), { scope: "data:read" }),
    );
    expect(err).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect((err as client.WWWAuthenticateChallengeError).cause[0]).toMatchObject({
      scheme: "basic",
      parameters: { error: "invalid_client" },
    });
  });

  it("gets tokens with the right secret either way", async () => {
    for (const auth of [client.ClientSecretPost(clientSecret), client.ClientSecretBasic(clientSecret)]) {
      const tokens = await client.clientCredentialsGrant(await configWith(auth), { scope: "data:read" });
      expect(tokens.token_type).toBe("bearer");
    }
  });
});

describe("GraphQL over HTTP", () => {
  it("a bad bearer token answers in the media type the client asked for, so Apollo Client reads INVALID_TOKEN", async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json;q=0.9",
        authorization: "Bearer not-a-token",
      },
      body: JSON.stringify({ query: "{ me { id } }" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe("INVALID_TOKEN");
  });
});
