import * as oauth from "oauth4webapi";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let ownerId: string;
let clientId: string;
let clientSecret: string;

const opts = { [oauth.allowInsecureRequests]: true } as const;

async function ccToken(client: oauth.Client, auth: oauth.ClientAuth, scope?: string) {
  const params = new URLSearchParams(scope === undefined ? {} : { scope });
  const res = await oauth.clientCredentialsGrantRequest(as, client, auth, params, opts);
  return oauth.processClientCredentialsResponse(as, client, res);
}

beforeAll(async () => {
  server = await startTestServer();
  const user = await signUp(server.db.prisma, { name: "Owner", email: "owner@example.com", password: "correct horse battery" });
  if (!user.ok) throw new Error("signup failed");
  ownerId = user.user.id;
  const created = await insertClient(server.db.prisma, {
    ownerId,
    name: "Backend",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/callback"],
    scopes: ["profile:read", "data:read"],
  });
  clientId = created.client.clientId;
  clientSecret = created.clientSecret!;
  const issuer = new URL(server.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: "oauth2" }));
});
afterAll(async () => {
  await server?.stop();
});

describe("client_credentials", () => {
  it("issues an RFC 9068 access token acting as the client's owner, with basic and post auth", async () => {
    for (const auth of [oauth.ClientSecretBasic(clientSecret), oauth.ClientSecretPost(clientSecret)]) {
      const tokens = await ccToken({ client_id: clientId }, auth);
      expect(tokens.token_type).toBe("bearer");
      expect(tokens.scope).toBe("profile:read data:read");
      expect(tokens.refresh_token).toBeUndefined();
      const header = decodeProtectedHeader(tokens.access_token);
      expect(header).toMatchObject({ alg: "ES256", typ: "at+jwt" });
      expect(header.kid).toBeTruthy();
      const claims = decodeJwt(tokens.access_token);
      expect(claims).toMatchObject({
        iss: server.issuer,
        sub: ownerId,
        aud: `${server.issuer}/graphql`,
        client_id: clientId,
        scope: "profile:read data:read",
      });
      expect(claims.grant_id).toBeUndefined();
      expect(claims.exp! - claims.iat!).toBe(600);
      expect(typeof claims.jti).toBe("string");
    }
  });

  it("narrows to a requested subset and refuses scopes the client lacks", async () => {
    const tokens = await ccToken({ client_id: clientId }, oauth.ClientSecretBasic(clientSecret), "data:read");
    expect(tokens.scope).toBe("data:read");
    await expect(ccToken({ client_id: clientId }, oauth.ClientSecretBasic(clientSecret), "data:write")).rejects.toMatchObject({
      error: "invalid_scope",
    });
    await expect(ccToken({ client_id: clientId }, oauth.ClientSecretBasic(clientSecret), "openid")).rejects.toMatchObject({
      error: "invalid_scope",
    });
  });

  it("refuses a wrong secret and an unknown client with 401 invalid_client and WWW-Authenticate", async () => {
    for (const [id, secret] of [
      [clientId, "sgs_wrong"],
      ["sgc_unknown", clientSecret],
    ] as const) {
      const res = await fetch(`${server.issuer}/v1/oauth/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`,
        },
        body: "grant_type=client_credentials",
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ error: "invalid_client" });
    }
  });

  it("accepts a JSON body too", async () => {
    const res = await fetch(`${server.issuer}/v1/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token_type: "Bearer", scope: "profile:read data:read" });
  });

  it("answers RFC 6749 errors for malformed requests, never a 5xx", async () => {
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`;
    const cases: [string, Record<string, string>, string | null, number, string][] = [
      ["no grant_type", { authorization: basic, "content-type": "application/x-www-form-urlencoded" }, "", 400, "invalid_request"],
      [
        "unknown grant",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        "grant_type=password",
        400,
        "unsupported_grant_type",
      ],
      [
        "__proto__ grant",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        "grant_type=__proto__",
        400,
        "unsupported_grant_type",
      ],
      [
        "duplicate param",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        "grant_type=client_credentials&grant_type=client_credentials",
        400,
        "invalid_request",
      ],
      ["text body", { authorization: basic, "content-type": "text/plain" }, "grant_type=client_credentials", 400, "invalid_request"],
      ["bad json", { authorization: basic, "content-type": "application/json" }, "{nope", 400, "invalid_request"],
      ["json array", { authorization: basic, "content-type": "application/json" }, "[1]", 400, "invalid_request"],
      ["json number param", { authorization: basic, "content-type": "application/json" }, '{"grant_type":1}', 400, "invalid_request"],
      [
        "garbage basic",
        { authorization: "Basic !!!", "content-type": "application/x-www-form-urlencoded" },
        "grant_type=client_credentials",
        401,
        "invalid_client",
      ],
      [
        "basic and post",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        `grant_type=client_credentials&client_secret=${clientSecret}`,
        400,
        "invalid_request",
      ],
      ["no client", { "content-type": "application/x-www-form-urlencoded" }, "grant_type=client_credentials", 401, "invalid_client"],
      [
        "code without params",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        "grant_type=authorization_code",
        400,
        "invalid_request",
      ],
      [
        "unknown code",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        `grant_type=authorization_code&code=x&redirect_uri=http://localhost:3000/callback&code_verifier=${"a".repeat(43)}`,
        400,
        "invalid_grant",
      ],
      [
        "unknown refresh token",
        { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        "grant_type=refresh_token&refresh_token=nope",
        400,
        "invalid_grant",
      ],
    ];
    for (const [name, headers, body, status, error] of cases) {
      const res = await fetch(`${server.issuer}/v1/oauth/token`, { method: "POST", headers, body });
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect({ name, body: await res.json() }).toMatchObject({ name, body: { error } });
    }
  });

  it("introspects its own token; revocation makes it inactive", async () => {
    const client = { client_id: clientId };
    const auth = oauth.ClientSecretBasic(clientSecret);
    const tokens = await ccToken(client, auth);
    let res = await oauth.introspectionRequest(as, client, auth, tokens.access_token, opts);
    let info = await oauth.processIntrospectionResponse(as, client, res);
    expect(info).toMatchObject({ active: true, client_id: clientId, sub: ownerId, scope: "profile:read data:read" });

    res = await oauth.revocationRequest(as, client, auth, tokens.access_token, opts);
    await oauth.processRevocationResponse(res);
    res = await oauth.introspectionRequest(as, client, auth, tokens.access_token, opts);
    info = await oauth.processIntrospectionResponse(as, client, res);
    expect(info).toEqual({ active: false });
  });

  it("does not tell one client about another client's tokens", async () => {
    const other = await insertClient(server.db.prisma, {
      ownerId,
      name: "Other",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: ["http://localhost:3001/cb"],
      scopes: ["data:read"],
    });
    const tokens = await ccToken({ client_id: clientId }, oauth.ClientSecretBasic(clientSecret));
    const client = { client_id: other.client.clientId };
    const auth = oauth.ClientSecretBasic(other.clientSecret!);
    const info = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, auth, tokens.access_token, opts),
    );
    expect(info).toEqual({ active: false });
    // and cannot revoke it
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.access_token, opts));
    const own = { client_id: clientId };
    const stillActive = await oauth.processIntrospectionResponse(
      as,
      own,
      await oauth.introspectionRequest(as, own, oauth.ClientSecretBasic(clientSecret), tokens.access_token, opts),
    );
    expect(stillActive.active).toBe(true);
  });

  it("writes an audit event for each token issued, without the token in it", async () => {
    const tokens = await ccToken({ client_id: clientId }, oauth.ClientSecretBasic(clientSecret));
    await server.flushAudit(); // issued tokens are audited in batches, up to half a second later
    const events = await server.db.prisma.auditEvent.findMany({ where: { action: "token.issued", userId: ownerId } });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.detail?.includes("grant_type=client_credentials"))).toBe(true);
    expect(JSON.stringify(events)).not.toContain(tokens.access_token);
  });
});
