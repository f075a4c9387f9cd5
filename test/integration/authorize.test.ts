import { createHash } from "node:crypto";
import * as oauth from "oauth4webapi";
import { decodeJwt } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { hiddenInput, pageErrors, WebClient } from "../helpers/http.ts";
import {
  authorizationUrl,
  checkboxes,
  discover,
  exchangeCode,
  location,
  PASSWORD,
  registerClient,
  signedInUser,
  submitConsent,
  target,
  type AuthRequest,
} from "../helpers/oauth.ts";
import { loadConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/index.ts";
import { startServer } from "../../src/server.ts";
import { createTestDatabase } from "../helpers/db.ts";
import { freePort, startTestServer, TEST_KEY_ENCRYPTION_SECRET, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let ownerId: string;
/** public, production, data:read + profile:read, redirect http://localhost:3000/callback */
let app: OAuthClient;
const REDIRECT = "http://localhost:3000/callback";

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  const owner = await signedInUser(server, "Owner");
  ownerId = owner.user.id;
  app = (await registerClient(server, ownerId)).client;
});
afterAll(async () => {
  await server?.stop();
});

const prisma = () => server.db.prisma;
const sha256 = (s: string) => createHash("sha256").update(s).digest("base64url");

/** GET an authorization URL (with a user's cookies when given), never following redirects. */
async function get(url: URL | string, web?: WebClient): Promise<Response> {
  return web ? web.fetch(String(url)) : fetch(url, { redirect: "manual" });
}

/** The response must be the HTML error page: 400, no redirect, no Location. */
async function expectErrorPage(res: Response, text?: RegExp) {
  expect(res.status).toBe(400);
  expect(res.headers.get("location")).toBeNull();
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const html = await res.text();
  expect(html).toContain("scopegate did not share anything with the app.");
  if (text) expect(pageErrors(html).join(" ")).toMatch(text);
}

/**
 * The response must redirect to `redirectUri` with `error` (and the request's
 * state and our iss): checked by oauth4webapi's validateAuthResponse as a partner app would.
 */
function expectRedirectError(
  res: Response,
  req: Pick<AuthRequest, "state">,
  redirectUri: string,
  error: string,
  client: OAuthClient = app,
) {
  expect(res.status).toBe(302);
  const loc = location(res, server.url);
  expect(target(loc)).toBe(redirectUri.split("?")[0]);
  expect(loc.searchParams.get("iss")).toBe(server.issuer);
  expect(loc.searchParams.get("code")).toBeNull();
  let thrown: unknown;
  try {
    oauth.validateAuthResponse(as, { client_id: client.clientId }, loc, req.state);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(oauth.AuthorizationResponseError);
  expect((thrown as oauth.AuthorizationResponseError).error).toBe(error);
  expect(loc.searchParams.get("error_description")).toBeTruthy();
  return loc;
}

/** The response must redirect to `redirectUri` with a code, state and iss; returns the callback parameters. */
function expectCode(res: Response, req: Pick<AuthRequest, "state">, redirectUri: string, client: OAuthClient = app) {
  expect([302, 303]).toContain(res.status);
  const loc = location(res, server.url);
  expect(target(loc)).toBe(redirectUri.split("?")[0]);
  const params = oauth.validateAuthResponse(as, { client_id: client.clientId }, loc, req.state);
  expect(params.get("code")).toMatch(/^[\w-]{43}$/);
  return { loc, params, code: params.get("code")! };
}

async function consentPageFor(web: WebClient, req: AuthRequest) {
  const res = await get(req.url, web);
  expect(res.status).toBe(200);
  return { res, html: await res.text() };
}

describe("requests that cannot be sent back to the app get an error page, never a redirect", () => {
  it("a missing or unknown client_id", async () => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { client_id: null });
    await expectErrorPage(await get(req.url), /client_id is missing/);
    const unknown = await authorizationUrl(as, "sgc_nobody", REDIRECT, "data:read");
    await expectErrorPage(await get(unknown.url), /not registered with scopegate/);
  });

  it("a revoked client", async () => {
    const { client } = await registerClient(server, ownerId, { name: "Old App" });
    await prisma().oAuthClient.update({ where: { id: client.id }, data: { revokedAt: new Date() } });
    const req = await authorizationUrl(as, client.clientId, REDIRECT, "data:read");
    await expectErrorPage(await get(req.url), /Old App has been switched off/);
  });

  it("a missing or unregistered redirect_uri, compared as exact strings", async () => {
    const missing = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { redirect_uri: null });
    await expectErrorPage(await get(missing.url), /redirect_uri is missing/);
    for (const wrong of [
      "http://localhost:3000/callback/", // trailing slash
      "http://localhost:3000/Callback", // case of the path
      "http://LOCALHOST:3000/callback", // case of the host
      "http://localhost:3000/callback?x=1", // extra query
      "http://localhost:3000/callback#frag",
      "https://localhost:3000/callback",
      "https://evil.example/callback",
    ]) {
      const req = await authorizationUrl(as, app.clientId, wrong, "data:read");
      await expectErrorPage(await get(req.url), /not registered for it/);
    }
  });

  it("client_id or redirect_uri given twice", async () => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read");
    const twiceId = new URL(req.url);
    twiceId.searchParams.append("client_id", app.clientId);
    await expectErrorPage(await get(twiceId), /client_id more than once/);
    const twiceRedirect = new URL(req.url);
    twiceRedirect.searchParams.append("redirect_uri", REDIRECT);
    await expectErrorPage(await get(twiceRedirect), /redirect_uri more than once/);
  });

  it("escapes what it shows: a client name with markup", async () => {
    const { client } = await registerClient(server, ownerId, { name: "<script>alert(1)</script>" });
    const req = await authorizationUrl(as, client.clientId, "https://evil.example/", "data:read");
    const res = await get(req.url);
    const html = await res.text();
    expect(res.status).toBe(400);
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;");
  });
});

describe("loopback redirect URIs (RFC 8252 §7.3)", () => {
  it("a public client registered with http://127.0.0.1:PORT/path matches any port, the rest exact", async () => {
    const { client } = await registerClient(server, ownerId, {
      name: "CLI",
      redirectUris: ["http://127.0.0.1:8080/cb", "http://[::1]:8080/cb"],
    });
    // prompt=none while signed out answers login_required at the redirect URI: proof it was trusted.
    for (const uri of ["http://127.0.0.1:8080/cb", "http://127.0.0.1:51234/cb", "http://127.0.0.1/cb", "http://[::1]:40000/cb"]) {
      const req = await authorizationUrl(as, client.clientId, uri, "data:read", { prompt: "none" });
      const loc = expectRedirectError(await get(req.url), req, uri, "login_required", client);
      expect(loc.port).toBe(new URL(uri).port);
    }
    for (const uri of [
      "http://127.0.0.1:51234/cb/", // path still exact
      "http://127.0.0.1:51234/other",
      "http://127.0.0.1:51234/cb?x=1",
      "https://127.0.0.1:51234/cb",
      "http://127.0.0.2:8080/cb",
      "http://localhost:8080/cb", // localhost is not the IP literal
      "http://127.0.0.1:99999/cb",
      "http://127.0.0.1:80@evil.example/cb",
    ]) {
      const req = await authorizationUrl(as, client.clientId, uri, "data:read", { prompt: "none" });
      await expectErrorPage(await get(req.url), /not registered for it/);
    }
  });

  it("gives a public client's localhost the port exception too (the host stays exact), and no confidential client", async () => {
    const { client: localhostClient } = await registerClient(server, ownerId, { redirectUris: ["http://localhost:8080/cb"] });
    const other = await authorizationUrl(as, localhostClient.clientId, "http://localhost:9090/cb", "data:read", { prompt: "none" });
    expectRedirectError(await get(other.url), other, "http://localhost:9090/cb", "login_required", localhostClient);
    const req1 = await authorizationUrl(as, localhostClient.clientId, "http://127.0.0.1:9090/cb", "data:read");
    await expectErrorPage(await get(req1.url), /not registered for it/);
    const { client: confidential } = await registerClient(server, ownerId, {
      type: "CONFIDENTIAL",
      redirectUris: ["http://127.0.0.1:8080/cb"],
    });
    const req2 = await authorizationUrl(as, confidential.clientId, "http://127.0.0.1:9090/cb", "data:read");
    await expectErrorPage(await get(req2.url), /not registered for it/);
    const exact = await authorizationUrl(as, confidential.clientId, "http://127.0.0.1:8080/cb", "data:read", { prompt: "none" });
    expectRedirectError(await get(exact.url), exact, "http://127.0.0.1:8080/cb", "login_required", confidential);
  });
});

describe("errors after the redirect URI is trusted go back to it with error, state and iss", () => {
  const cases: [string, Record<string, string | null>, string][] = [
    ["response_type=token", { response_type: "token" }, "unsupported_response_type"],
    ["response_type=code id_token", { response_type: "code id_token" }, "unsupported_response_type"],
    ["no response_type", { response_type: null }, "invalid_request"],
    ["no code_challenge", { code_challenge: null }, "invalid_request"],
    ["no code_challenge_method (plain by default)", { code_challenge_method: null }, "invalid_request"],
    ["code_challenge_method=plain", { code_challenge_method: "plain" }, "invalid_request"],
    ["a code_challenge of 42 characters", { code_challenge: "a".repeat(42) }, "invalid_request"],
    ["a code_challenge of 129 characters", { code_challenge: "a".repeat(129) }, "invalid_request"],
    ["a code_challenge with characters outside [A-Za-z0-9-._~]", { code_challenge: `${"a".repeat(42)}+` }, "invalid_request"],
    ["a scope the client is not registered for", { scope: "data:read data:write" }, "invalid_scope"],
    ["an unknown scope", { scope: "openid admin" }, "invalid_scope"],
    ["no scope", { scope: null }, "invalid_scope"],
    ["an empty scope", { scope: " " }, "invalid_scope"],
    ["an unknown prompt value", { prompt: "select_account" }, "invalid_request"],
    ["prompt=none with another value", { prompt: "none consent" }, "invalid_request"],
    ["response_mode=fragment", { response_mode: "fragment" }, "invalid_request"],
    ["a request object", { request: "eyJhbGciOiJub25lIn0.e30." }, "request_not_supported"],
    ["a request_uri", { request_uri: "urn:ietf:params:oauth:request_uri:abc" }, "request_uri_not_supported"],
  ];
  for (const [what, params, error] of cases) {
    it(`${what} → ${error}`, async () => {
      const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read", params);
      expectRedirectError(await get(req.url), req, REDIRECT, error);
    });
  }

  it("a parameter given twice → invalid_request (without the ambiguous state when it is the one repeated)", async () => {
    for (const name of ["scope", "code_challenge", "response_type", "nonce"]) {
      const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read");
      req.url.searchParams.append(name, req.url.searchParams.get(name)!);
      expectRedirectError(await get(req.url), req, REDIRECT, "invalid_request");
    }
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read");
    req.url.searchParams.append("state", "other");
    const loc = location(await get(req.url), server.url);
    expect(loc.searchParams.get("error")).toBe("invalid_request");
    expect(loc.searchParams.get("state")).toBeNull();
    expect(loc.searchParams.get("iss")).toBe(server.issuer);
  });

  it("without state, the error redirect carries none", async () => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { state: null, response_type: "token" });
    const res = await get(req.url);
    const loc = location(res, server.url);
    expect(loc.searchParams.has("state")).toBe(false);
    expect(() => oauth.validateAuthResponse(as, { client_id: app.clientId }, loc, oauth.expectNoState)).toThrow(
      oauth.AuthorizationResponseError,
    );
  });

  it("keeps the redirect URI's own query and appends after it", async () => {
    const withQuery = "http://localhost:3000/cb?tenant=a%20b&x=1";
    const { client } = await registerClient(server, ownerId, { redirectUris: [withQuery] });
    const req = await authorizationUrl(as, client.clientId, withQuery, "data:read", { response_type: "token" });
    const res = await get(req.url);
    expect(res.headers.get("location")!.startsWith(`${withQuery}&`)).toBe(true);
    const loc = location(res, server.url);
    expect(loc.searchParams.get("tenant")).toBe("a b");
    expect(loc.searchParams.get("x")).toBe("1");
    expect(loc.searchParams.get("error")).toBe("unsupported_response_type");
    expect(loc.searchParams.get("state")).toBe(req.state);
    expect(loc.searchParams.get("iss")).toBe(server.issuer);
  });
});

describe("signing in", () => {
  it("sends a signed-out user to /login and back to the same authorization request", async () => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read");
    const res = await get(req.url);
    expect(res.status).toBe(302);
    const loc = location(res, server.url);
    expect(loc.pathname).toBe("/login");
    const returnTo = loc.searchParams.get("return_to")!;
    expect(returnTo).toBe(req.url.pathname + req.url.search);

    const { email } = await signedInUser(server, "Grace"); // an account to sign in with
    const web = new WebClient(server.url);
    const signIn = await web.signIn({ email, password: "correct horse battery staple" }, returnTo);
    expect(signIn.res.status).toBe(303);
    expect(signIn.res.headers.get("location")).toBe(returnTo);
    const page = await web.page(returnTo);
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("Pulse Tracker wants to access your scopegate account");
  });

  // The query is rebuilt before it becomes the sign-in's return path: raw, a backslash or a stray "%"
  // made the path unsafe, the login form fell back to "/", and the user landed home instead of on consent.
  it.each([
    ["a backslash", "a\\b", "a\\b"],
    ["a stray percent sign", "a%b", "a%b"],
    ["a percent sign before hex digits", "a%zz%4", "a%zz%4"],
    ["an encoded backslash and a plus", "a%5Cb+c", "a\\b c"],
  ])("keeps the flow through sign-in to consent with %s in state", async (_what, raw, state) => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read", { state: null });
    const res = await get(`${req.url.href}&state=${raw}`);
    expect(res.status).toBe(302);
    const loc = location(res, server.url);
    expect(loc.pathname).toBe("/login");
    const returnTo = loc.searchParams.get("return_to")!;
    expect(new URL(returnTo, server.url).searchParams.get("state")).toBe(state);

    const { email } = await signedInUser(server, "Grace");
    const web = new WebClient(server.url);
    // The login form carries the path as it is (not "/"), and sign-in leads back to it.
    const form = await web.page(`/login?return_to=${encodeURIComponent(returnTo)}`);
    expect(hiddenInput(form.html, "return_to")).toBe(returnTo);
    const signIn = await web.signIn({ email, password: "correct horse battery staple" }, returnTo);
    expect(signIn.res.status).toBe(303);
    expect(signIn.res.headers.get("location")).toBe(returnTo);
    const page = await web.page(returnTo);
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("Pulse Tracker wants to access your scopegate account");
    expect(hiddenInput(page.html, "state")).toBe(state);
  });

  it("prompt=none while signed out → login_required", async () => {
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { prompt: "none" });
    expectRedirectError(await get(req.url), req, REDIRECT, "login_required");
  });

  /** A signed-in user whose sign-in is an hour old. */
  async function signedInAnHourAgo() {
    const signed = await signedInUser(server);
    const old = await prisma().accountSession.findFirstOrThrow({ where: { userId: signed.user.id } });
    const createdAt = new Date(Date.now() - 3600_000);
    await prisma().accountSession.update({ where: { id: old.id }, data: { createdAt } });
    return { ...signed, old: { ...old, createdAt } };
  }

  /** Follows a redirect to /login that must ask for the password although the user is signed in; returns where it will go back to. */
  async function expectReauthentication(res: Response, web: WebClient): Promise<string> {
    expect(res.status).toBe(302);
    const loc = location(res, server.url);
    expect(loc.pathname).toBe("/login");
    expect(loc.searchParams.get("prompt")).toBe("login");
    const page = await web.page(loc.pathname + loc.search);
    expect(page.res.status).toBe(200); // the form, not a redirect straight back
    expect(hiddenInput(page.html, "csrf")).toBeTruthy();
    return loc.searchParams.get("return_to")!;
  }

  async function signInAgain(web: WebClient, email: string, returnTo: string) {
    const csrf = await web.csrfFrom(`/login?prompt=login&return_to=${encodeURIComponent(returnTo)}`);
    const { res } = await web.postForm("/login", { csrf, return_to: returnTo, email, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(returnTo);
  }

  it("prompt=login makes a signed-in user sign in again; the ID token's auth_time is the new sign-in", async () => {
    const { web, user, email, old } = await signedInAnHourAgo();
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read", { prompt: "login consent" });
    const returnTo = await expectReauthentication(await get(req.url, web), web);
    // It comes back without login in prompt (or it would ask for ever), the rest as sent.
    const back = new URL(returnTo, server.url);
    expect(back.pathname).toBe("/v1/oauth/authorize");
    expect(back.searchParams.get("prompt")).toBe("consent");
    for (const name of ["client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge"]) {
      expect(back.searchParams.get(name)).toBe(req.url.searchParams.get(name));
    }

    // Coming back without signing in does not do: the old session is sent to sign in again.
    await expectReauthentication(await get(new URL(returnTo, server.url), web), web);

    await signInAgain(web, email, returnTo);
    // The session this browser had is over; the new one is the sign-in just made.
    expect((await prisma().accountSession.findUniqueOrThrow({ where: { id: old.id } })).revokedAt).not.toBeNull();
    const fresh = await prisma().accountSession.findFirstOrThrow({ where: { userId: user.id, revokedAt: null } });
    expect(fresh.createdAt.getTime()).toBeGreaterThan(old.createdAt.getTime());

    const { html } = await consentPageFor(web, { ...req, url: new URL(returnTo, server.url) });
    const { res } = await submitConsent(web, html, { decision: "allow" });
    const { params } = expectCode(res, req, REDIRECT);
    const tokens = await exchangeCode(as, { client_id: app.clientId }, oauth.None(), params, REDIRECT, req.verifier, req.nonce);
    const idToken = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(idToken.auth_time).toBe(Math.floor(fresh.createdAt.getTime() / 1000));
  });

  it("prompt=login while signed out: one sign-in is enough", async () => {
    const { email } = await signedInUser(server, "Grace");
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { prompt: "login" });
    const res = await get(req.url);
    expect(res.status).toBe(302);
    const loc = location(res, server.url);
    expect(loc.pathname).toBe("/login");
    const returnTo = loc.searchParams.get("return_to")!;
    const web = new WebClient(server.url);
    await web.signIn({ email, password: PASSWORD }, returnTo);
    expect((await web.page(returnTo)).res.status).toBe(200); // the consent page
  });

  it("max_age: an older sign-in signs in again (prompt=none → login_required); a recent enough one goes on", async () => {
    const { web, email } = await signedInAnHourAgo();
    const young = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { max_age: "7200" });
    expect((await get(young.url, web)).status).toBe(200);

    const silent = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { max_age: "60", prompt: "none" });
    expectRedirectError(await get(silent.url, web), silent, REDIRECT, "login_required");

    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { max_age: "60" });
    const returnTo = await expectReauthentication(await get(req.url, web), web);
    expect(new URL(returnTo, server.url).searchParams.get("max_age")).toBe("60");
    await signInAgain(web, email, returnTo);
    const page = await web.page(returnTo);
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("Allow");
  });

  it("max_age=0 asks every time and the sign-in it asked for is enough; a malformed max_age goes back to the app", async () => {
    const { web, email } = await signedInAnHourAgo();
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { max_age: "0" });
    const returnTo = await expectReauthentication(await get(req.url, web), web);
    await signInAgain(web, email, returnTo);
    expect((await web.page(returnTo)).res.status).toBe(200);

    const bad = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { max_age: "-1" });
    expectRedirectError(await get(bad.url, web), bad, REDIRECT, "invalid_request");
  });
});

describe("the consent page", () => {
  it("names the app, marks a development app, lists each scope in plain words with ticked checkboxes", async () => {
    const { web } = await signedInUser(server);
    const { client } = await registerClient(server, ownerId, {
      name: "Beta Sleep Lab",
      environment: "DEVELOPMENT",
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const req = await authorizationUrl(as, client.clientId, REDIRECT, "openid profile:read data:read offline_access");
    const { res, html } = await consentPageFor(web, req);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // The URL carries the authorization request. (The form's own post then comes with
    // Origin: null and Sec-Fetch-Site: same-origin, which the CSRF check accepts; see the Chromium test.)
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(html).toContain("Beta Sleep Lab wants to access your scopegate account");
    expect(html).toContain("Development app");
    expect(html).toContain("This app is under development.");
    for (const words of [
      "Know who you are (your scopegate user ID)",
      "See your name, email address and date of birth",
      "Read your health measurements",
      "Keep access when you are not using the app",
    ]) {
      expect(html).toContain(words);
    }
    expect(html).not.toContain("Add, change and delete your health measurements"); // not requested
    // Data scopes: a ticked checkbox each; openid and offline_access: listed, no checkbox.
    expect(checkboxes(html)).toEqual([
      { value: "profile:read", checked: true, disabled: false },
      { value: "data:read", checked: true, disabled: false },
    ]);
    expect(html).toMatch(/<button[^>]*value="allow"[^>]*>Allow<\/button>/);
    expect(html).toMatch(/<button[^>]*value="deny"[^>]*>Deny<\/button>/);
    expect(html).toContain('<form method="post" action="/v1/oauth/authorize">');
    expect(hiddenInput(html, "csrf")).toBeTruthy();
    expect(hiddenInput(html, "code_challenge")).toBe(req.challenge);
    expect(hiddenInput(html, "state")).toBe(req.state);
    expect(html).not.toContain("New</span>"); // nothing granted before: nothing to call new
  });

  it("a production app gets no development warning", async () => {
    const { web } = await signedInUser(server);
    const { html } = await consentPageFor(web, await authorizationUrl(as, app.clientId, REDIRECT, "data:read"));
    expect(html).toContain("Production app");
    expect(html).not.toContain("Development app");
    expect(html).not.toContain("under development");
  });
});

describe("Deny and Allow", () => {
  it("Deny → access_denied with state and iss; no grant, no code", async () => {
    const { web, user } = await signedInUser(server);
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read");
    const { html } = await consentPageFor(web, req);
    const { res } = await submitConsent(web, html, { decision: "deny" });
    expect(res.status).toBe(303);
    const loc = location(res, server.url);
    expect(loc.searchParams.get("error")).toBe("access_denied");
    expect(() => oauth.validateAuthResponse(as, { client_id: app.clientId }, loc, req.state)).toThrow(
      expect.objectContaining({ error: "access_denied" }),
    );
    expect(await prisma().grant.count({ where: { userId: user.id } })).toBe(0);
    expect(await prisma().authorizationCode.count({ where: { userId: user.id } })).toBe(0);
  });

  it("Allow → a code bound to the request, stored hashed, and a grant, in one go; the token endpoint exchanges it", async () => {
    const { web, user } = await signedInUser(server);
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "openid profile:read data:read");
    const { html } = await consentPageFor(web, req);
    const { res } = await submitConsent(web, html, { decision: "allow" });
    expect(res.status).toBe(303);
    const { params, code } = expectCode(res, req, REDIRECT);

    const session = await prisma().accountSession.findFirstOrThrow({ where: { userId: user.id } });
    const grant = await prisma().grant.findFirstOrThrow({ where: { userId: user.id, clientId: app.id } });
    expect(grant.scopes.sort()).toEqual(["data:read", "openid", "profile:read"]);
    const row = await prisma().authorizationCode.findFirstOrThrow({ where: { userId: user.id } });
    expect(row).toMatchObject({
      grantId: grant.id,
      clientId: app.id,
      redirectUri: REDIRECT,
      codeChallenge: req.challenge,
      codeChallengeMethod: "S256",
      nonce: req.nonce,
      usedAt: null,
    });
    expect(row.scopes.sort()).toEqual(["data:read", "openid", "profile:read"]);
    expect(row.authTime.getTime()).toBe(session.createdAt.getTime());
    const ttl = row.expiresAt.getTime() - row.createdAt.getTime();
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
    // Stored hashed: the code itself is nowhere in the table, its SHA-256 is.
    expect(row.codeHash).toBe(sha256(code));
    const everything = JSON.stringify(await prisma().authorizationCode.findMany());
    expect(everything).not.toContain(code);
    const audit = await prisma().auditEvent.findFirst({ where: { grantId: grant.id, action: "grant.created" } });
    expect(audit).not.toBeNull();

    // The partner app exchanges it with oauth4webapi.
    const tokens = await exchangeCode(as, { client_id: app.clientId }, oauth.None(), params, REDIRECT, req.verifier, req.nonce);
    expect(tokens.scope!.split(" ").sort()).toEqual(["data:read", "openid", "profile:read"]);
    const idToken = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(idToken.sub).toBe(user.id);
    expect(idToken.nonce).toBe(req.nonce);
    expect(idToken.auth_time).toBe(Math.floor(session.createdAt.getTime() / 1000));
    expect(decodeJwt(tokens.access_token).sub).toBe(user.id);
  });

  it("grants only the ticked scopes (plus openid): the Grant row, the code row and the token say so", async () => {
    const { web, user } = await signedInUser(server);
    const { client, clientSecret } = await registerClient(server, ownerId, {
      type: "CONFIDENTIAL",
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const req = await authorizationUrl(as, client.clientId, REDIRECT, "openid profile:read data:read data:write");
    const { html } = await consentPageFor(web, req);
    const { res } = await submitConsent(web, html, { decision: "allow", ticked: ["data:read"] });
    const { params } = expectCode(res, req, REDIRECT, client);
    const grant = await prisma().grant.findFirstOrThrow({ where: { userId: user.id, clientId: client.id } });
    expect(grant.scopes.sort()).toEqual(["data:read", "openid"]);
    const row = await prisma().authorizationCode.findFirstOrThrow({ where: { userId: user.id, clientId: client.id } });
    expect(row.scopes.sort()).toEqual(["data:read", "openid"]);
    const tokens = await exchangeCode(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretBasic(clientSecret!),
      params,
      REDIRECT,
      req.verifier,
      req.nonce,
    );
    expect(tokens.scope!.split(" ").sort()).toEqual(["data:read", "openid"]);
  });

  it("a scope ticked but not in the request is ignored", async () => {
    const { web, user } = await signedInUser(server);
    const req = await authorizationUrl(as, app.clientId, REDIRECT, "data:read");
    const { html } = await consentPageFor(web, req);
    const { res } = await submitConsent(web, html, { decision: "allow", ticked: ["data:read", "profile:read", "data:write"] });
    expectCode(res, req, REDIRECT);
    const grant = await prisma().grant.findFirstOrThrow({ where: { userId: user.id, clientId: app.id } });
    expect(grant.scopes).toEqual(["data:read"]);
  });

  it("every data scope unticked: a code for openid alone, or, with nothing left, the page again with a message", async () => {
    const { web, user } = await signedInUser(server);
    const withOpenid = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read");
    const page1 = await consentPageFor(web, withOpenid);
    const allowed = await submitConsent(web, page1.html, { decision: "allow", ticked: [] });
    expectCode(allowed.res, withOpenid, REDIRECT);
    const row = await prisma().authorizationCode.findFirstOrThrow({ where: { userId: user.id } });
    expect(row.scopes).toEqual(["openid"]);

    const dataOnly = await authorizationUrl(as, app.clientId, REDIRECT, "profile:read", { prompt: "consent" });
    const page2 = await consentPageFor(web, dataOnly);
    const refused = await submitConsent(web, page2.html, { decision: "allow", ticked: [] });
    expect(refused.res.status).toBe(400);
    expect(refused.res.headers.get("location")).toBeNull();
    expect(pageErrors(refused.html)).toContain("Tick at least one permission to allow, or choose Deny.");
    expect(checkboxes(refused.html)).toEqual([{ value: "profile:read", checked: false, disabled: false }]);
    expect(await prisma().authorizationCode.count({ where: { userId: user.id } })).toBe(1);
  });
});

describe("the consent form is checked again on POST", () => {
  let web: WebClient;
  let userId: string;
  let req: AuthRequest;
  let html: string;
  beforeAll(async () => {
    ({
      web,
      user: { id: userId },
    } = await signedInUser(server));
    req = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read");
    ({ html } = await consentPageFor(web, req));
  });

  async function nothingIssued() {
    expect(await prisma().grant.count({ where: { userId } })).toBe(0);
    expect(await prisma().authorizationCode.count({ where: { userId } })).toBe(0);
  }

  it("a wrong, missing or repeated CSRF token → 403 page, no code", async () => {
    for (const override of [{ csrf: "x".repeat(43) }, { csrf: null }, { csrf: "" }]) {
      const { res, html: page } = await submitConsent(web, html, { decision: "allow", override });
      expect(res.status).toBe(403);
      expect(res.headers.get("location")).toBeNull();
      expect(page).toContain("This form expired or came from another site");
    }
    const fields = new URLSearchParams(`csrf=${encodeURIComponent(hiddenInput(html, "csrf")!)}&csrf=other&decision=allow`);
    for (const [k, v] of new URLSearchParams(req.url.search)) fields.append(k, v);
    const repeated = await web.fetch("/v1/oauth/authorize", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
    });
    expect(repeated.status).toBe(403);
    await nothingIssued();
  });

  it("the right token from another site (Origin) → 403", async () => {
    const { res } = await submitConsent(web, html, { decision: "allow", headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    await nothingIssued();
  });

  it("another user's session with this page's token → 403", async () => {
    const other = await signedInUser(server);
    const { res } = await submitConsent(other.web, html, { decision: "allow" });
    expect(res.status).toBe(403);
    expect(await prisma().authorizationCode.count({ where: { userId: other.user.id } })).toBe(0);
    await nothingIssued();
  });

  it("hidden fields changed to an unregistered redirect_uri → error page; to a bad scope or plain PKCE → error redirect", async () => {
    const evil = await submitConsent(web, html, { decision: "allow", override: { redirect_uri: "https://evil.example/cb" } });
    expect(evil.res.status).toBe(400);
    expect(evil.res.headers.get("location")).toBeNull();
    const scope = await submitConsent(web, html, { decision: "allow", override: { scope: "openid data:write" } });
    expect(scope.res.status).toBe(303);
    expect(location(scope.res, server.url).searchParams.get("error")).toBe("invalid_scope");
    const plain = await submitConsent(web, html, { decision: "allow", override: { code_challenge_method: "plain" } });
    expect(location(plain.res, server.url).searchParams.get("error")).toBe("invalid_request");
    const noChallenge = await submitConsent(web, html, { decision: "allow", override: { code_challenge: null } });
    expect(location(noChallenge.res, server.url).searchParams.get("error")).toBe("invalid_request");
    await nothingIssued();
  });

  it("a revoked client between page and POST → error page", async () => {
    const { client } = await registerClient(server, ownerId, { name: "Soon Gone" });
    const r = await authorizationUrl(as, client.clientId, REDIRECT, "data:read");
    const page = await consentPageFor(web, r);
    await prisma().oAuthClient.update({ where: { id: client.id }, data: { revokedAt: new Date() } });
    const { res } = await submitConsent(web, page.html, { decision: "allow" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    await nothingIssued();
  });

  it("signed out since the page was shown → back to /login, then to the authorization request", async () => {
    const anonymous = new WebClient(server.url);
    const { res } = await submitConsent(anonymous, html, { decision: "allow" });
    expect(res.status).toBe(303);
    const loc = location(res, server.url);
    expect(loc.pathname).toBe("/login");
    const back = new URL(loc.searchParams.get("return_to")!, server.url);
    expect(back.pathname).toBe("/v1/oauth/authorize");
    expect(back.searchParams.get("code_challenge")).toBe(req.challenge);
    expect(back.searchParams.get("state")).toBe(req.state);
    await nothingIssued();
  });
});

describe("when consent is skipped", () => {
  it("a first-party client gets a code at once (and a grant), unless prompt=consent", async () => {
    const { web, user } = await signedInUser(server);
    const { client } = await registerClient(server, ownerId, { name: "scopegate mobile", firstParty: true });
    const req = await authorizationUrl(as, client.clientId, REDIRECT, "openid profile:read");
    expectCode(await get(req.url, web), req, REDIRECT, client);
    const grant = await prisma().grant.findFirstOrThrow({ where: { userId: user.id, clientId: client.id } });
    expect(grant.scopes.sort()).toEqual(["openid", "profile:read"]);
    const silent = await authorizationUrl(as, client.clientId, REDIRECT, "data:read", { prompt: "none" });
    expectCode(await get(silent.url, web), silent, REDIRECT, client);
    const forced = await authorizationUrl(as, client.clientId, REDIRECT, "openid profile:read", { prompt: "consent" });
    const res = await get(forced.url, web);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("scopegate mobile wants to access your scopegate account");
  });

  it("scopes already granted: a code at once; prompt=consent shows the page; more scopes: the new ones are marked", async () => {
    const { web, user } = await signedInUser(server);
    const first = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read");
    const page = await consentPageFor(web, first);
    expectCode((await submitConsent(web, page.html, { decision: "allow" })).res, first, REDIRECT);

    // The same or fewer scopes: no page.
    for (const scope of ["openid data:read", "data:read"]) {
      const again = await authorizationUrl(as, app.clientId, REDIRECT, scope);
      expectCode(await get(again.url, web), again, REDIRECT);
    }
    const silent = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { prompt: "none" });
    expectCode(await get(silent.url, web), silent, REDIRECT);

    // prompt=consent forces the page, with what was allowed before marked as such.
    const forced = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read", { prompt: "consent" });
    const forcedPage = await consentPageFor(web, forced);
    expect(forcedPage.html).toContain("Allowed before");
    expect(checkboxes(forcedPage.html)).toEqual([{ value: undefined, checked: true, disabled: true }]);

    // A new scope: the page, with it marked new; prompt=none → consent_required.
    const more = await authorizationUrl(as, app.clientId, REDIRECT, "openid data:read profile:read");
    const morePage = await consentPageFor(web, more);
    expect(morePage.html).toMatch(/See your name, email address and date of birth<span class="tag new">New<\/span>/);
    expect(morePage.html).toMatch(/Read your health measurements<span class="tag before">Allowed before<\/span>/);
    expect(checkboxes(morePage.html)).toEqual([
      { value: undefined, checked: true, disabled: true },
      { value: "profile:read", checked: true, disabled: false },
    ]);
    const moreSilent = await authorizationUrl(as, app.clientId, REDIRECT, "data:read profile:read", { prompt: "none" });
    expectRedirectError(await get(moreSilent.url, web), moreSilent, REDIRECT, "consent_required");

    // Allowing the new one widens the grant; the earlier scope stays.
    const { params } = expectCode((await submitConsent(web, morePage.html, { decision: "allow" })).res, more, REDIRECT);
    const grant = await prisma().grant.findFirstOrThrow({ where: { userId: user.id, clientId: app.id, revokedAt: null } });
    expect(grant.scopes.sort()).toEqual(["data:read", "openid", "profile:read"]);
    expect(await prisma().grant.count({ where: { userId: user.id, clientId: app.id } })).toBe(1);
    const row = await prisma().authorizationCode.findUniqueOrThrow({ where: { codeHash: sha256(params.get("code")!) } });
    expect(row.scopes.sort()).toEqual(["data:read", "openid", "profile:read"]);
  });

  it("a revoked grant no longer skips consent", async () => {
    const { web, user } = await signedInUser(server);
    const first = await authorizationUrl(as, app.clientId, REDIRECT, "data:read");
    const page = await consentPageFor(web, first);
    expectCode((await submitConsent(web, page.html, { decision: "allow" })).res, first, REDIRECT);
    await prisma().grant.updateMany({ where: { userId: user.id }, data: { revokedAt: new Date() } });
    const again = await authorizationUrl(as, app.clientId, REDIRECT, "data:read", { prompt: "none" });
    expectRedirectError(await get(again.url, web), again, REDIRECT, "consent_required");
  });
});

describe("logs", () => {
  it("no log line carries the code, state, nonce, PKCE challenge, CSRF token or session cookie", async () => {
    // A second server whose logger writes into memory, with no redaction safety net:
    // what the endpoint itself chooses to log is what is checked.
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, { write: (s: string) => void lines.push(s) });
    const testDb = await createTestDatabase();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const config = {
      ...loadConfig({ PORT: String(port), ISSUER: issuer, SEED_DEMO: "false", KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET }),
      host: "127.0.0.1",
      database: testDb.target,
    };
    const db = await openDatabase(testDb.target);
    const logged = Object.assign(await startServer(config, logger, { db }), {
      issuer,
      stop: async () => {},
    });
    try {
      const las = await discover(logged);
      const { web } = await signedInUser(logged);
      const owner = await signedInUser(logged, "Owner");
      const { client } = await registerClient(logged, owner.user.id);
      const secrets: string[] = [web.jar.get("sg_session")!];

      const req = await authorizationUrl(las, client.clientId, REDIRECT, "openid data:read");
      const page = await web.fetch(req.url.href);
      const html = await page.text();
      const csrf = hiddenInput(html.slice(html.indexOf("<main>")), "csrf")!;
      const allowed = await submitConsent(web, html, { decision: "allow" });
      const code = location(allowed.res, logged.url).searchParams.get("code")!;
      expect(code).toBeTruthy();
      const refused = await authorizationUrl(las, client.clientId, REDIRECT, "data:read", { response_type: "token" });
      expect(location(await web.fetch(refused.url.href), logged.url).searchParams.get("error")).toBe("unsupported_response_type");
      secrets.push(code, csrf, req.state, req.nonce, req.challenge, refused.state, refused.challenge);

      const all = lines.join("");
      expect(all).toContain("authorization code issued"); // the endpoint did log
      expect(all).toContain("authorization request refused");
      for (const s of secrets) expect(all).not.toContain(s);
    } finally {
      await logged.close(1_000);
      await db.close();
      await testDb.drop();
    }
  });
});
