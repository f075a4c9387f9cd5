// RFC 9700 §4.11.2, "Authorization Server as Open Redirector": anyone can make
// a client with any redirect URI (RFC 7591 self-registration, or a Client ID
// Metadata Document), so scopegate must not send users to such a client on its
// own. Each attack of the section, for a self-registered client and for a
// metadata-document client: a request made to fail (bogus scope, unsupported
// response_type, no PKCE), prompt=none signed out and signed in without a
// grant, a sign-in link on scopegate's own domain whose return_to is such a
// request, and the user's Deny. Each ends on scopegate's error page naming the
// app's host, with a plain link back that the user may follow; the code still
// goes back after the user signed in and chose Allow. A developer's own client
// keeps its redirects. The decision is src/oauth/authorize/refusal.ts. Last,
// the per-address limit on fetching metadata documents: 429 with Retry-After.
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { decodeEntities, pageErrors, WebClient } from "../helpers/http.ts";
import {
  authorizationUrl,
  discover,
  exchangeCode,
  location,
  PASSWORD,
  registerClient,
  signedInUser,
  submitConsent,
  target,
} from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const EVIL = "https://evil.example/cb";
const SCOPE = "openid profile:read data:read";

let server: TestServer;
let as: oauth.AuthorizationServer;

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
});
afterAll(async () => {
  await server?.stop();
});

/** A client registered by anyone through POST /v1/oauth/register (RFC 7591), with the attacker's redirect URI. */
async function selfRegistered(): Promise<OAuthClient> {
  const res = await fetch(`${server.url}/v1/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({
      client_name: "Evil Assistant",
      client_uri: "https://evil.example/",
      redirect_uris: [EVIL],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "none",
      scope: "openid profile:read data:read",
    }),
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { client_id: string };
  return server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId: body.client_id } });
}

let documents = 0;
/**
 * A metadata-document client: its client_id is the https URL of the document.
 * The row is stored as the authorization endpoint stores a fetched document,
 * and fresh, so the endpoint uses it without a fetch (the fetch itself, and
 * one of these attacks through it, are in client-metadata-documents-e2e.test.ts).
 */
async function metadataDocument(): Promise<OAuthClient> {
  const url = `https://cimd.evil.example/clients/${++documents}-${Date.now()}.json`;
  return server.db.prisma.oAuthClient.create({
    data: {
      clientId: url,
      name: "Evil Assistant",
      environment: "PRODUCTION",
      type: "PUBLIC",
      redirectUris: [EVIL],
      scopes: ["profile:read", "data:read"],
      grantTypes: ["authorization_code"],
      refreshTokens: false,
      ownerId: null,
      registration: "metadata_document",
      registeredFrom: "cimd.evil.example",
      metadataFetchedAt: new Date(),
      metadataExpiresAt: new Date(Date.now() + 3_600_000),
    },
  });
}

/** GET an authorization URL (with a user's cookies when given), never following redirects. */
function get(url: URL, web?: WebClient): Promise<Response> {
  return web ? web.fetch(url.pathname + url.search) : fetch(url, { redirect: "manual" });
}

/**
 * The answer must be scopegate's error page, not a redirect: `status`, no
 * Location, HTML; it says what went wrong and names the app, where it came
 * from and the host; its one link to the app is the error redirect it would
 * have been (error, state, iss), which oauth4webapi reads as the app would.
 */
async function expectUnverifiedPage(
  res: Response,
  client: OAuthClient,
  req: { state: string },
  error: string,
  opts: { status?: number; text?: RegExp; html?: string } = {},
) {
  expect(res.status).toBe(opts.status ?? 400);
  expect(res.headers.get("location")).toBeNull();
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  const html = opts.html ?? (await res.text());
  const said = pageErrors(html).join(" ");
  expect(said).toContain(`scopegate has not verified ${client.name}`);
  expect(said).toContain(`its details came from ${client.registeredFrom}`);
  expect(said).toContain("does not send you to evil.example on its own");
  if (opts.text) expect(said).toMatch(opts.text);
  expect(html).toContain("scopegate did not share anything with the app.");
  const links = [...html.matchAll(/<a href="([^"]*)" rel="noreferrer">Return to ([^<]*)<\/a>/g)];
  expect(links).toHaveLength(1);
  expect(links[0]![2]).toBe("evil.example");
  const back = new URL(decodeEntities(links[0]![1]!));
  expect(target(back)).toBe(EVIL);
  expect(back.searchParams.get("iss")).toBe(server.issuer);
  expect(back.searchParams.get("code")).toBeNull();
  expect(() => oauth.validateAuthResponse(as, { client_id: client.clientId }, back, req.state)).toThrow(expect.objectContaining({ error }));
  // Nothing else on the page leads there.
  expect(html.split("evil.example/cb").length - 1).toBe(1);
}

describe.each([
  ["a self-registered client (RFC 7591)", selfRegistered],
  ["a metadata-document client", metadataDocument],
])("%s: no redirect before the user signed in and chose", (_kind, make) => {
  let evil: OAuthClient;
  /** signed in, and never allows this client (the Allow test has its own user) */
  let user: Awaited<ReturnType<typeof signedInUser>>;
  beforeAll(async () => {
    evil = await make();
    user = await signedInUser(server);
    expect(evil.registeredFrom).toBeTruthy();
    expect(evil.ownerId).toBeNull();
  });

  it("attack 1, a bogus scope: the error page, signed out and signed in", async () => {
    const req = await authorizationUrl(as, evil.clientId, EVIL, "openid bogus");
    await expectUnverifiedPage(await get(req.url), evil, req, "invalid_scope", { text: /This client may not ask for: bogus\./ });
    await expectUnverifiedPage(await get(req.url, user.web), evil, req, "invalid_scope");
  });

  it("attack 1, other errors before any user action: unsupported response_type, no PKCE, a request object, a repeated parameter", async () => {
    const cases: [Record<string, string | null>, string][] = [
      [{ response_type: "token" }, "unsupported_response_type"],
      [{ code_challenge: null }, "invalid_request"],
      [{ code_challenge_method: "plain" }, "invalid_request"],
      [{ request: "eyJhbGciOiJub25lIn0.e30." }, "request_not_supported"],
      [{ prompt: "select_account" }, "invalid_request"],
      [{ max_age: "soon" }, "invalid_request"],
    ];
    for (const [params, error] of cases) {
      const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE, params);
      await expectUnverifiedPage(await get(req.url), evil, req, error);
    }
    const repeated = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    repeated.url.searchParams.append("nonce", "again");
    await expectUnverifiedPage(await get(repeated.url), evil, repeated, "invalid_request");
  });

  it("attack 3, prompt=none: login_required signed out, consent_required signed in without a grant, on the page", async () => {
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE, { prompt: "none" });
    await expectUnverifiedPage(await get(req.url), evil, req, "login_required", { text: /you would have to sign in first/ });
    const web = user.web;
    await expectUnverifiedPage(await get(req.url, web), evil, req, "consent_required", {
      text: /you have not allowed it this access yet/,
    });
    // An old sign-in with max_age: login_required too, never a redirect.
    const old = await authorizationUrl(as, evil.clientId, EVIL, SCOPE, { prompt: "none", max_age: "0" });
    await expectUnverifiedPage(await get(old.url, web), evil, old, "login_required");
  });

  it("a sign-in link on scopegate's own domain whose return_to is such a request ends on the page, not on the app's site", async () => {
    const req = await authorizationUrl(as, evil.clientId, EVIL, "openid bogus");
    const returnTo = req.url.pathname + req.url.search;
    const web = new WebClient(server.url);
    const signIn = await web.signIn({ email: user.email, password: PASSWORD }, returnTo);
    expect(signIn.res.status).toBe(303);
    expect(signIn.res.headers.get("location")).toBe(returnTo);
    await expectUnverifiedPage(await web.fetch(returnTo), evil, req, "invalid_scope");
  });

  it("a valid request while signed out goes to scopegate's sign-in, never to the app", async () => {
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    const res = await get(req.url);
    expect(res.status).toBe(302);
    const loc = location(res, server.url);
    expect(loc.origin).toBe(server.url);
    expect(loc.pathname).toBe("/login");
  });

  it("the consent page says that Deny stays here", async () => {
    const { web } = user;
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    const html = decodeEntities(await (await get(req.url, web)).text());
    expect(html).toContain("Allow sends you back to <strong>evil.example</strong>. Deny keeps you here");
    expect(html).not.toContain("Either way, you will go back to");
  });

  it("attack 2, Deny: a page (200) with the link back carrying access_denied; nothing shared", async () => {
    const { web } = user;
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    const page = await get(req.url, web);
    expect(page.status).toBe(200);
    const denied = await submitConsent(web, await page.text(), { decision: "deny" });
    await expectUnverifiedPage(denied.res, evil, req, "access_denied", { status: 200, text: /^You chose Deny\./, html: denied.html });
    expect(await server.db.prisma.grant.count({ where: { userId: user.user.id } })).toBe(0);
    expect(await server.db.prisma.authorizationCode.count({ where: { userId: user.user.id } })).toBe(0);
  });

  it("a consent form whose hidden fields were changed to a bogus scope: the page, not a 303 to the app", async () => {
    const { web } = user;
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    const html = await (await get(req.url, web)).text();
    const changed = await submitConsent(web, html, { decision: "allow", override: { scope: "openid bogus" } });
    await expectUnverifiedPage(changed.res, evil, req, "invalid_scope", { html: changed.html });
  });

  it("Allow, after signing in: the code goes back to the app; then prompt=none gets a code at once", async () => {
    const { web } = await signedInUser(server);
    const req = await authorizationUrl(as, evil.clientId, EVIL, SCOPE);
    const page = await get(req.url, web);
    expect(page.status).toBe(200);
    const { res } = await submitConsent(web, await page.text(), { decision: "allow" });
    expect(res.status).toBe(303);
    const params = oauth.validateAuthResponse(as, { client_id: evil.clientId }, location(res, server.url), req.state);
    const tokens = await exchangeCode(as, { client_id: evil.clientId }, oauth.None(), params, EVIL, req.verifier, req.nonce);
    expect(tokens.access_token).toBeTruthy();
    // Silent authentication for an app the user has allowed (RFC 9700 §4.11.2's one exception).
    const silent = await authorizationUrl(as, evil.clientId, EVIL, SCOPE, { prompt: "none" });
    const again = await get(silent.url, web);
    expect(again.status).toBe(302);
    expect(
      oauth.validateAuthResponse(as, { client_id: evil.clientId }, location(again, server.url), silent.state).get("code"),
    ).toBeTruthy();
  });
});

describe("a developer's own (verified) client keeps its redirects", () => {
  const PARTNER = "https://partner.example/cb";
  let partner: OAuthClient;
  beforeAll(async () => {
    const owner = await signedInUser(server, "Owner");
    partner = (await registerClient(server, owner.user.id, { redirectUris: [PARTNER] })).client;
    expect(partner.registeredFrom).toBeNull();
  });

  /** A 302/303 to the partner's redirect URI with `error`, state and iss. */
  function expectRedirectError(res: Response, state: string, error: string, status = 302) {
    expect(res.status).toBe(status);
    const loc = location(res, server.url);
    expect(target(loc)).toBe(PARTNER);
    expect(loc.searchParams.get("iss")).toBe(server.issuer);
    expect(() => oauth.validateAuthResponse(as, { client_id: partner.clientId }, loc, state)).toThrow(expect.objectContaining({ error }));
  }

  it("a bogus scope, an unsupported response_type, prompt=none signed out and signed in, and Deny all redirect", async () => {
    const bogus = await authorizationUrl(as, partner.clientId, PARTNER, "openid bogus");
    expectRedirectError(await get(bogus.url), bogus.state, "invalid_scope");
    const token = await authorizationUrl(as, partner.clientId, PARTNER, "data:read", { response_type: "token" });
    expectRedirectError(await get(token.url), token.state, "unsupported_response_type");
    const none = await authorizationUrl(as, partner.clientId, PARTNER, "data:read", { prompt: "none" });
    expectRedirectError(await get(none.url), none.state, "login_required");
    const { web } = await signedInUser(server);
    expectRedirectError(await get(none.url, web), none.state, "consent_required");
    const req = await authorizationUrl(as, partner.clientId, PARTNER, "data:read");
    const page = await get(req.url, web);
    expect(decodeEntities(await page.clone().text())).toContain("Either way, you will go back to <strong>partner.example</strong>.");
    const { res } = await submitConsent(web, await page.text(), { decision: "deny" });
    expectRedirectError(res, req.state, "access_denied", 303);
  });
});
describe("the per-address limit on fetching metadata documents", () => {
  it("answers the authorization request with 429 and Retry-After, on the error page", async () => {
    const limited = await startTestServer({ CLIENT_REGISTRATION_MAX_PER_ADDRESS: "1", CLIENT_REGISTRATION_WINDOW_SECONDS: "3600" });
    try {
      // The one allowed for this address: a self-registration (the same buckets).
      const reg = await fetch(`${limited.url}/v1/oauth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: ["http://127.0.0.1/callback"], token_endpoint_auth_method: "none" }),
      });
      expect(reg.status).toBe(201);
      const url = new URL(`${limited.url}/v1/oauth/authorize`);
      for (const [k, v] of Object.entries({
        client_id: "https://cimd.example/client.json",
        redirect_uri: "http://127.0.0.1/callback",
        response_type: "code",
        scope: "data:read",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
      })) {
        url.searchParams.set(k, v);
      }
      const res = await fetch(url, { redirect: "manual" });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      const said = pageErrors(await res.text()).join(" ");
      expect(said).toMatch(/Too many apps were looked up from your network address; try again in \d+ seconds\./);
      expect(await limited.db.prisma.oAuthClient.count({ where: { clientId: "https://cimd.example/client.json" } })).toBe(0);
    } finally {
      await limited.stop();
    }
  });
});
