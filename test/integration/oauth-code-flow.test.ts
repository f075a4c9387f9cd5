import * as oauth from "oauth4webapi";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../../src/lib/crypto.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
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
import type { WebClient } from "../helpers/http.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let web: WebClient;
let userId: string;
let email: string;
const REDIRECT = "https://partner.example/callback";

type Registered = { client: oauth.Client; auth: oauth.ClientAuth; rowId: string };

async function confidential(extra: Record<string, unknown> = {}): Promise<Registered> {
  const { client, clientSecret } = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read", "data:write"],
    ...extra,
  });
  return { client: { client_id: client.clientId }, auth: oauth.ClientSecretBasic(clientSecret!), rowId: client.id };
}

/** Runs the authorization request through consent (Allow) and returns the callback parameters. */
async function authorize(reg: Registered, scope: string, redirectUri = REDIRECT) {
  const req = await authorizationUrl(as, reg.client.client_id, redirectUri, scope);
  let res = await web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) {
    const html = await res.text();
    res = (await submitConsent(web, html, { decision: "allow" })).res;
  }
  expect([302, 303]).toContain(res.status);
  const callback = oauth.validateAuthResponse(as, reg.client, location(res, server.url), req.state);
  return { callback, req };
}

async function codeFlow(reg: Registered, scope = "openid offline_access profile:read data:read") {
  const { callback, req } = await authorize(reg, scope);
  const openid = scope.split(" ").includes("openid");
  const tokens = await exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, openid ? req.nonce : undefined);
  return { tokens, callback, req };
}

async function refresh(reg: Registered, refreshToken: string, scope?: string) {
  const res = await oauth.refreshTokenGrantRequest(as, reg.client, reg.auth, refreshToken, {
    ...insecure,
    ...(scope ? { additionalParameters: { scope } } : {}),
  });
  return oauth.processRefreshTokenResponse(as, reg.client, res);
}

async function graphqlStatus(token: string): Promise<number> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  return res.status;
}

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  const signed = await signedInUser(server, "Robin");
  web = signed.web;
  userId = signed.user.id;
  email = signed.email;
  await server.db.prisma.user.update({ where: { id: userId }, data: { birthDate: new Date("1985-02-03") } });
});
afterAll(async () => {
  await server?.stop();
});

describe("authorization code flow, end to end with oauth4webapi", () => {
  it("issues an access token, a refresh token and a validated id_token", async () => {
    const reg = await confidential();
    const { tokens, req } = await codeFlow(reg);
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.scope).toBe("openid offline_access profile:read data:read");
    expect(tokens.refresh_token).toBeTruthy();
    const idClaims = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(idClaims).toMatchObject({ iss: server.issuer, sub: userId, aud: reg.client.client_id, nonce: req.nonce });
    expect(typeof idClaims.auth_time).toBe("number");
    expect(typeof idClaims.at_hash).toBe("string");
    const access = decodeJwt(tokens.access_token);
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId, clientId: reg.rowId } });
    expect(access).toMatchObject({ sub: userId, client_id: reg.client.client_id, grant_id: grant.id, aud: `${server.issuer}/graphql` });
    expect(await graphqlStatus(tokens.access_token)).toBe(200);
  });

  it("validates the id_token signature against the JWKS (RS256)", async () => {
    const reg = await confidential();
    const { callback, req } = await authorize(reg, "openid data:read");
    const res = await oauth.authorizationCodeGrantRequest(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, insecure);
    const body = await res.clone().json();
    const { jwtVerify, createRemoteJWKSet, decodeProtectedHeader } = await import("jose");
    expect(decodeProtectedHeader(body.id_token).alg).toBe("RS256");
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
    const { payload } = await jwtVerify(body.id_token, jwks, { issuer: server.issuer, audience: reg.client.client_id });
    expect(payload.sub).toBe(userId);
  });

  it("answers userinfo per the granted scopes", async () => {
    const reg = await confidential();
    const full = await codeFlow(reg, "openid profile:read");
    let res = await oauth.userInfoRequest(as, reg.client, full.tokens.access_token, insecure);
    expect(await oauth.processUserInfoResponse(as, reg.client, userId, res)).toEqual({
      sub: userId,
      name: "Robin",
      email,
      birthdate: "1985-02-03",
    });
    const reg2 = await confidential();
    const bare = await codeFlow(reg2, "openid data:read");
    res = await oauth.userInfoRequest(as, reg2.client, bare.tokens.access_token, insecure);
    expect(await oauth.processUserInfoResponse(as, reg2.client, userId, res)).toEqual({ sub: userId });
    const noOpenid = await codeFlow(reg2, "data:read");
    const raw = await fetch(as.userinfo_endpoint!, { headers: { authorization: `Bearer ${noOpenid.tokens.access_token}` } });
    expect(raw.status).toBe(403);
    expect(raw.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    const bad = await fetch(as.userinfo_endpoint!, { headers: { authorization: "Bearer garbage" } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("rotates refresh tokens; presenting a rotated one revokes the whole grant (reuse detection)", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg);
    const first = tokens.refresh_token!;
    const second = await refresh(reg, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    expect(second.id_token).toBeUndefined();
    expect(await graphqlStatus(second.access_token)).toBe(200);

    await expect(refresh(reg, first)).rejects.toMatchObject({ error: "invalid_grant" });
    // the grant is gone: the newest refresh token and every access token stop working
    await expect(refresh(reg, second.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    expect(await graphqlStatus(second.access_token)).toBe(401);
    expect(await graphqlStatus(tokens.access_token)).toBe(401);
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId, clientId: reg.rowId } });
    expect(grant.revokedAt).not.toBeNull();
    await server.flushAudit(); // token.issued is written in batches
    const events = await server.db.prisma.auditEvent.findMany({ where: { grantId: grant.id }, orderBy: { at: "asc" } });
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["grant.created", "token.issued", "grant.revoked", "refresh_token.reused"]),
    );
  });

  it("stores refresh tokens only as a SHA-256 hash: after the code exchange and after rotation, no row holds one in clear", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg, "offline_access data:read");
    const first = tokens.refresh_token!;
    const second = (await refresh(reg, first)).refresh_token!;
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId, clientId: reg.rowId } });
    const rows = await server.db.prisma.refreshToken.findMany({ where: { grantId: grant.id } });
    expect(rows.map((r) => r.tokenHash).sort()).toEqual([sha256(first), sha256(second)].sort());
    // No column of any table, as PostgreSQL prints it, holds either token (or its bytes in hex).
    const tables = await server.db.sql<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    const holding = async (needles: string[]) => {
      const found: string[] = [];
      for (const { name } of tables) {
        const [row] = await server.db.sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${name}" t WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS s(v) WHERE strpos(t::text, s.v) > 0)`,
          [needles],
        );
        if (row!.n) found.push(name);
      }
      return found;
    };
    expect(await holding([sha256(first)])).toEqual(["RefreshToken"]); // the search finds what is there
    expect(await holding([first, second, ...[first, second].map((t) => Buffer.from(t, "base64url").toString("hex"))])).toEqual([]);
  });

  it("parallel redemptions of one code or one refresh token: exactly one wins, the others get invalid_grant, none a 5xx", async () => {
    const reg = await confidential();
    const secretAuth = reg.auth;
    const post = async (body: Record<string, string>) => {
      const headers = new Headers({ "content-type": "application/x-www-form-urlencoded" });
      const bodyParams = new URLSearchParams(body);
      await secretAuth(as, reg.client, bodyParams, headers);
      const res = await fetch(as.token_endpoint!, { method: "POST", headers, body: bodyParams });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    const { callback, req } = await authorize(reg, "offline_access data:read");
    const code = callback.get("code")!;
    const exchanges = await Promise.all(
      Array.from({ length: 8 }, () =>
        post({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: req.verifier }),
      ),
    );
    expect(exchanges.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of exchanges.filter((r) => r.status !== 200)) expect(r).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

    // (The losers count as a second use of the code, which revoked what the winner got: start afresh.)
    const rt = (await codeFlow(reg, "offline_access data:read")).tokens.refresh_token!;
    const refreshes = await Promise.all(Array.from({ length: 8 }, () => post({ grant_type: "refresh_token", refresh_token: rt })));
    expect(
      refreshes.filter((r) => r.status === 200),
      JSON.stringify(refreshes),
    ).toHaveLength(1);
    for (const r of refreshes.filter((r) => r.status !== 200)) expect(r).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  it("narrows scope on refresh when asked, and refuses a wider one", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg, "profile:read data:read");
    const narrow = await refresh(reg, tokens.refresh_token!, "data:read");
    expect(narrow.scope).toBe("data:read");
    expect(decodeJwt(narrow.access_token).scope).toBe("data:read");
    await expect(refresh(reg, narrow.refresh_token!, "data:read data:write")).rejects.toMatchObject({ error: "invalid_scope" });
    // a refused request does not spend the token: the plain retry works and no reuse is detected
    const retry = await refresh(reg, narrow.refresh_token!);
    expect(retry.access_token).toBeTruthy();
    expect(await graphqlStatus(retry.access_token)).toBe(200);
  });

  it("refuses an expired refresh token", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg);
    await server.db.prisma.refreshToken.updateMany({
      where: { grant: { clientId: reg.rowId } },
      data: { idleExpiresAt: new Date(Date.now() - 1000) },
    });
    await expect(refresh(reg, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("a code used twice fails and revokes every token from its first use", async () => {
    const reg = await confidential();
    const { callback, req } = await authorize(reg, "openid offline_access data:read");
    const tokens = await exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, req.nonce);
    expect(await graphqlStatus(tokens.access_token)).toBe(200);
    await expect(exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, req.nonce)).rejects.toMatchObject({
      error: "invalid_grant",
    });
    expect(await graphqlStatus(tokens.access_token)).toBe(401);
    await expect(refresh(reg, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("refuses a code with the wrong verifier or redirect_uri, and an expired one; each attempt by its client burns it", async () => {
    const reg = await confidential({ redirectUris: [REDIRECT, "https://partner.example/other"] });
    const cases: [string, (c: URLSearchParams, v: string) => Promise<unknown>][] = [
      ["verifier", (c) => exchangeCode(as, reg.client, reg.auth, c, REDIRECT, oauth.generateRandomCodeVerifier())],
      ["redirect_uri", (c, v) => exchangeCode(as, reg.client, reg.auth, c, "https://partner.example/other", v)],
    ];
    for (const [name, attempt] of cases) {
      const { callback, req } = await authorize(reg, "data:read");
      await expect(attempt(callback, req.verifier), name).rejects.toMatchObject({ error: "invalid_grant" });
      // the right request afterwards fails too: the code is spent
      await expect(exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier), name).rejects.toMatchObject({
        error: "invalid_grant",
      });
    }
    const { callback, req } = await authorize(reg, "data:read");
    await server.db.prisma.authorizationCode.updateMany({
      where: { clientId: reg.rowId, usedAt: null },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    await expect(exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier)).rejects.toMatchObject({
      error: "invalid_grant",
    });
  });

  it("another client presenting a stolen code is refused without spending it: the rightful client still redeems it", async () => {
    const reg = await confidential();
    const { client: publicThief } = await registerClient(server, userId, { redirectUris: [REDIRECT], scopes: ["data:read"] });
    const other = await confidential();
    const thieves: [string, oauth.Client, oauth.ClientAuth][] = [
      ["a public client", { client_id: publicThief.clientId }, oauth.None()],
      ["a confidential client", other.client, other.auth],
    ];
    const { callback, req } = await authorize(reg, "openid offline_access data:read");
    const codeRow = () =>
      server.db.prisma.authorizationCode.findFirstOrThrow({ where: { clientId: reg.rowId }, orderBy: { createdAt: "desc" } });
    for (const [who, client, auth] of thieves) {
      // With the verifier too: the strongest thief.
      await expect(exchangeCode(as, client, auth, callback, REDIRECT, req.verifier, req.nonce), who).rejects.toMatchObject({
        error: "invalid_grant",
      });
      expect((await codeRow()).usedAt, who).toBeNull();
    }

    const tokens = await exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, req.nonce);
    expect(await graphqlStatus(tokens.access_token)).toBe(200);
    // A thief after the redemption changes nothing either: no reuse is declared on the rightful client's behalf.
    await expect(exchangeCode(as, other.client, other.auth, callback, REDIRECT, req.verifier, req.nonce)).rejects.toMatchObject({
      error: "invalid_grant",
    });
    expect(await graphqlStatus(tokens.access_token)).toBe(200);
    const events = await server.db.prisma.auditEvent.findMany({ where: { clientId: reg.rowId, action: "code.reused" } });
    expect(events).toHaveLength(0);

    // A second use by the rightful client is still a reuse: what the first use issued is revoked.
    await expect(exchangeCode(as, reg.client, reg.auth, callback, REDIRECT, req.verifier, req.nonce)).rejects.toMatchObject({
      error: "invalid_grant",
    });
    expect(await graphqlStatus(tokens.access_token)).toBe(401);
    await expect(refresh(reg, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("revoking a refresh token ends the grant: the access token fails on its next request", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg);
    expect(await graphqlStatus(tokens.access_token)).toBe(200);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, reg.client, reg.auth, tokens.refresh_token!, insecure));
    expect(await graphqlStatus(tokens.access_token)).toBe(401);
    await expect(refresh(reg, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    const info = await oauth.processIntrospectionResponse(
      as,
      reg.client,
      await oauth.introspectionRequest(as, reg.client, reg.auth, tokens.access_token, insecure),
    );
    expect(info.active).toBe(false);
  });

  it("introspects refresh tokens: active until rotated", async () => {
    const reg = await confidential();
    const { tokens } = await codeFlow(reg);
    let info = await oauth.processIntrospectionResponse(
      as,
      reg.client,
      await oauth.introspectionRequest(as, reg.client, reg.auth, tokens.refresh_token!, insecure),
    );
    expect(info).toMatchObject({ active: true, token_type: "refresh_token", sub: userId, client_id: reg.client.client_id });
    await refresh(reg, tokens.refresh_token!);
    info = await oauth.processIntrospectionResponse(
      as,
      reg.client,
      await oauth.introspectionRequest(as, reg.client, reg.auth, tokens.refresh_token!, insecure),
    );
    expect(info.active).toBe(false);
  });

  it("issues no refresh token to a client registered with refreshTokens: false", async () => {
    const reg = await confidential({ refreshTokens: false, accessTokenTtl: 120 });
    const { tokens } = await codeFlow(reg);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.expires_in).toBe(120);
  });
});

describe("public clients (single-page apps)", () => {
  const SPA = "https://spa.example/callback";

  it("authenticate with PKCE alone, rotate refresh tokens, and get CORS from their own origin only", async () => {
    const { client } = await registerClient(server, userId, { redirectUris: [SPA], scopes: ["data:read"] });
    const reg: Registered = { client: { client_id: client.clientId }, auth: oauth.None(), rowId: client.id };
    const { callback, req } = await authorize(reg, "data:read", SPA);
    const tokens = await exchangeCode(as, reg.client, reg.auth, callback, SPA, req.verifier);
    expect(tokens.refresh_token).toBeTruthy();
    const next = await refresh(reg, tokens.refresh_token!);
    expect(next.access_token).toBeTruthy();

    const preflight = (origin: string) =>
      fetch(as.token_endpoint!, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
    const ok = await preflight("https://spa.example");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://spa.example");
    expect(ok.headers.get("access-control-allow-credentials")).toBeNull();
    expect((await preflight("https://evil.example")).status).toBe(403);
    const gql = await fetch(`${server.url}/graphql`, {
      method: "OPTIONS",
      headers: { origin: "https://spa.example", "access-control-request-method": "POST" },
    });
    expect(gql.headers.get("access-control-allow-origin")).toBe("https://spa.example");

    // a public client has no secret to send, and may not use client_credentials
    const cc = await fetch(as.token_endpoint!, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.clientId }),
    });
    expect(cc.status).toBe(400);
    expect(await cc.json()).toMatchObject({ error: "unauthorized_client" });
    const withSecret = await fetch(as.token_endpoint!, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: client.clientId,
        client_secret: "x",
        refresh_token: next.refresh_token!,
      }),
    });
    expect(withSecret.status).toBe(401);
  });
});

describe("discovery", () => {
  it("lists every endpoint and capability in both documents", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const meta = await (await fetch(`${server.url}${path}`)).json();
      expect(meta).toMatchObject({
        issuer: server.issuer,
        authorization_endpoint: `${server.issuer}/v1/oauth/authorize`,
        token_endpoint: `${server.issuer}/v1/oauth/token`,
        revocation_endpoint: `${server.issuer}/v1/oauth/revoke`,
        introspection_endpoint: `${server.issuer}/v1/oauth/introspect`,
        userinfo_endpoint: `${server.issuer}/v1/oauth/userinfo`,
        jwks_uri: `${server.issuer}/v1/oauth/jwks`,
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        authorization_response_iss_parameter_supported: true,
        id_token_signing_alg_values_supported: ["RS256"],
        scopes_supported: ["openid", "offline_access", "profile:read", "data:read", "data:write"],
      });
      expect(meta.grant_types_supported.sort()).toEqual(["authorization_code", "client_credentials", "refresh_token"]);
      expect(meta.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["client_secret_basic", "client_secret_post"]));
      expect(meta.claims_supported).toEqual(expect.arrayContaining(["sub", "name", "email", "birthdate"]));
    }
    // RFC 9728 §3.3: the root document's resource is the origin; each resource has its own at its path.
    const root = await (await fetch(`${server.url}/.well-known/oauth-protected-resource`)).json();
    expect(root).toMatchObject({ resource: server.issuer, authorization_servers: [server.issuer] });
    const prm = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/graphql`)).json();
    expect(prm).toMatchObject({
      resource: `${server.issuer}/graphql`,
      authorization_servers: [server.issuer],
      scopes_supported: ["profile:read", "data:read", "data:write"],
      bearer_methods_supported: ["header"],
    });
  });
});
