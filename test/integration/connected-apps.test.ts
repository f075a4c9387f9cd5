// Issue 7 over real HTTP: connected apps (viewer.connectedApps, revokeConnectedApp,
// updateConnectedAppScopes, /account/apps), the audit trail (viewer.auditLog,
// /account/activity) and the account itself (/account: password, export, deletion).
// Partner apps go through the real authorization code flow with oauth4webapi.
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getSchema } from "../../src/graphql/schema.ts";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { seedDemoActivity } from "../../src/seed/demo.ts";
import { hiddenInput, pageErrors, WebClient } from "../helpers/http.ts";
import {
  authorizationUrl,
  discover,
  exchangeCode,
  insecure,
  location,
  PASSWORD,
  registerClient,
  signedInUser,
  submitConsent,
} from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
let developerId: string;
const REDIRECT = "https://partner.example/callback";

type User = Awaited<ReturnType<typeof signedInUser>> & { csrf: string };

async function user(name: string): Promise<User> {
  const u = await signedInUser(server, name);
  return { ...u, csrf: await u.web.csrfFrom("/logout") };
}

interface Connection {
  client: OAuthClient;
  oc: oauth.Client;
  auth: oauth.ClientAuth;
  tokens: oauth.TokenEndpointResponse;
  grantId: string;
}

/** A confidential partner app (owned by `ownerId`) connected by `u` through the real code flow. */
async function connect(
  u: User,
  opts: {
    name?: string;
    scope?: string;
    ticked?: string[];
    ownerId?: string;
    environment?: "DEVELOPMENT" | "PRODUCTION";
    client?: OAuthClient;
    secret?: string;
  } = {},
): Promise<Connection> {
  let client = opts.client;
  let secret = opts.secret;
  if (!client) {
    const reg = await registerClient(server, opts.ownerId ?? developerId, {
      name: opts.name ?? "Pulse Tracker",
      type: "CONFIDENTIAL",
      environment: opts.environment ?? "PRODUCTION",
      redirectUris: [REDIRECT],
      scopes: ["profile:read", "data:read", "data:write"],
    });
    client = reg.client;
    secret = reg.clientSecret!;
  }
  const oc = { client_id: client.clientId };
  const auth = oauth.ClientSecretPost(secret!);
  const scope = opts.scope ?? "openid offline_access profile:read data:read";
  const callback = await authorize(u, client, scope, opts.ticked);
  const tokens = await exchangeCode(
    as,
    oc,
    auth,
    callback.params,
    REDIRECT,
    callback.verifier,
    scope.includes("openid") ? callback.nonce : undefined,
  );
  const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId: u.user.id, clientId: client.id, revokedAt: null } });
  return { client, oc, auth, tokens, grantId: grant.id };
}

/** Runs the authorization request through the consent page (Allow) and returns the callback. */
async function authorize(u: User, client: OAuthClient, scope: string, ticked?: string[]) {
  const req = await authorizationUrl(as, client.clientId, REDIRECT, scope);
  let res = await u.web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) res = (await submitConsent(u.web, await res.text(), { decision: "allow", ticked })).res;
  const params = oauth.validateAuthResponse(as, { client_id: client.clientId }, location(res, server.url), req.state);
  return { params, verifier: req.verifier, nonce: req.nonce };
}

async function refresh(conn: Connection, refreshToken = conn.tokens.refresh_token!, scope?: string) {
  const res = await oauth.refreshTokenGrantRequest(as, conn.oc, conn.auth, refreshToken, {
    ...insecure,
    ...(scope ? { additionalParameters: { scope } } : {}),
  });
  return oauth.processRefreshTokenResponse(as, conn.oc, res);
}

/** The token endpoint's error code for a refresh (null when it succeeds). */
async function refreshError(conn: Connection, refreshToken = conn.tokens.refresh_token!): Promise<string | null> {
  try {
    await refresh(conn, refreshToken);
    return null;
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return err.error;
    throw err;
  }
}

async function bearer(token: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  return { status: res.status, body, headers: res.headers };
}

const APPS = `{ viewer { connectedApps { id scopes grantedAt lastUsedAt revokedAt permissions { scope description }
  client { clientId name environment } } } }`;

const LOG = `query Log($first: Int, $after: String, $clientId: ID) { viewer { auditLog(first: $first, after: $after, clientId: $clientId) {
  edges { cursor node { id at action grantId detail client { clientId name } } } pageInfo { hasNextPage endCursor } } } }`;

/** A GraphQL request with the user's session cookie and CSRF header. */
async function gql(u: User, query: string, variables?: Record<string, unknown>): Promise<any> {
  const r = await u.web.graphql(query, { csrf: u.csrf, variables });
  expect(r.res.status).toBeLessThan(500);
  return r.body;
}

async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function seedMeasurements(userId: string, n = 3) {
  await server.db.prisma.measurement.createMany({
    data: Array.from({ length: n }, (_, i) => ({
      userId,
      type: "HEART_RATE" as const,
      value: 60 + i,
      unit: "bpm",
      recordedAt: new Date(Date.now() - (i + 1) * 60_000),
    })),
  });
}

beforeAll(async () => {
  server = await startTestServer();
  as = await discover(server);
  developerId = (await signedInUser(server, "Developer")).user.id;
});
afterAll(async () => {
  await server?.stop();
});

describe("viewer.connectedApps", () => {
  it("lists each live grant with the app, its environment, the scopes in plain words, when granted and when last used", async () => {
    const ada = await user("Ada");
    const before = Date.now();
    const pulse = await connect(ada, { name: "Pulse Tracker" });
    const beta = await connect(ada, {
      name: "Beta Coach",
      environment: "DEVELOPMENT",
      scope: "data:read data:write",
      ticked: ["data:read"],
    });
    const gone = await connect(ada, { name: "Old App", scope: "data:read" });
    await gql(ada, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id: gone.grantId });

    const body = await gql(ada, APPS);
    expect(body.errors).toBeUndefined();
    const apps = body.data.viewer.connectedApps as any[];
    expect(apps.map((a) => a.client.name)).toEqual(["Beta Coach", "Pulse Tracker"]); // newest first, revoked gone
    const [b, p] = apps;
    expect(p).toMatchObject({ id: pulse.grantId, client: { clientId: pulse.client.clientId, environment: "PRODUCTION" }, revokedAt: null });
    expect(p.scopes.sort()).toEqual(["data:read", "offline_access", "openid", "profile:read"]);
    expect(p.permissions).toEqual([
      { scope: "profile:read", description: "See your name, email address and date of birth" },
      { scope: "data:read", description: "Read your health measurements" },
      { scope: "openid", description: "Know who you are (your scopegate user ID)" },
      { scope: "offline_access", description: "Keep access when you are not using the app" },
    ]);
    expect(Date.parse(p.grantedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(p.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(p.grantedAt)); // the code exchange used it
    // Only the ticked scope was granted to the development app.
    expect(b).toMatchObject({ id: beta.grantId, scopes: ["data:read"], client: { environment: "DEVELOPMENT" } });
  });

  it("shows another user none of this user's apps", async () => {
    const ada = await user("Ada");
    const bob = await user("Bob");
    await connect(ada);
    const body = await gql(bob, APPS);
    expect(body.data.viewer.connectedApps).toEqual([]);
  });
});

describe("revokeConnectedApp", () => {
  it("ends the grant: the next GraphQL request gets 401 and the next refresh invalid_grant", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada);
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);

    const body = await gql(ada, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id revokedAt client { name } } }`, {
      id: conn.grantId,
    });
    expect(body.errors).toBeUndefined();
    expect(body.data.revokeConnectedApp).toMatchObject({ id: conn.grantId, client: { name: "Pulse Tracker" } });
    expect(body.data.revokeConnectedApp.revokedAt).toBeTruthy();

    const after = await bearer(conn.tokens.access_token, "{ me { id } }");
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(await refreshError(conn)).toBe("invalid_grant");
    const event = await server.db.prisma.auditEvent.findFirst({ where: { action: "grant.revoked", grantId: conn.grantId } });
    expect(event).toMatchObject({ userId: ada.user.id, clientId: conn.client.id });
  });

  it("answers NOT_FOUND for another user's grant (which stays live), an unknown id, nonsense and an already revoked grant", async () => {
    const ada = await user("Ada");
    const eve = await user("Eve");
    const conn = await connect(ada);
    const revoke = (u: User, id: string) => gql(u, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id });

    for (const id of [conn.grantId, "00000000-0000-4000-8000-000000000000", "not-a-grant", "x".repeat(5000)]) {
      const body = await revoke(eve, id);
      expect(body.data.revokeConnectedApp).toBeNull();
      expect(body.errors[0].extensions.code).toBe("NOT_FOUND");
    }
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);
    expect(await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } })).toMatchObject({ revokedAt: null });

    expect((await revoke(ada, conn.grantId)).errors).toBeUndefined();
    expect((await revoke(ada, conn.grantId)).errors[0].extensions.code).toBe("NOT_FOUND");
  });
});

describe("updateConnectedAppScopes (narrowing without revoking)", () => {
  const NARROW = `mutation($id: ID!, $scopes: [String!]!) { updateConnectedAppScopes(grantId: $id, scopes: $scopes) { id scopes revokedAt } }`;

  it("removes a scope: tokens that carry it stop at once, others keep working, the next refresh gets the narrower set", async () => {
    const ada = await user("Ada");
    await seedMeasurements(ada.user.id);
    const conn = await connect(ada, { scope: "openid offline_access profile:read data:read data:write" });
    // A second token from the same grant that never carried data:read.
    const profileOnly = await refresh(conn, conn.tokens.refresh_token!, "profile:read");
    const liveRefresh = profileOnly.refresh_token!;
    expect(profileOnly.scope).toBe("profile:read");

    const body = await gql(ada, NARROW, { id: conn.grantId, scopes: ["profile:read", "data:write"] });
    expect(body.errors).toBeUndefined();
    expect(body.data.updateConnectedAppScopes.scopes.sort()).toEqual(["data:write", "offline_access", "openid", "profile:read"]);
    expect(body.data.updateConnectedAppScopes.revokedAt).toBeNull();

    // The first access token carried data:read: it is revoked. The profile-only one still works.
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(401);
    expect((await bearer(profileOnly.access_token, "{ me { name } }")).status).toBe(200);

    // Refreshing keeps the app connected, with the narrower set.
    const next = await refresh(conn, liveRefresh);
    expect(next.scope!.split(" ").sort()).toEqual(["data:write", "offline_access", "openid", "profile:read"]);
    const read = await bearer(next.access_token, "{ me { name measurements(first: 1) { edges { node { id } } } } }");
    expect(read.body.errors?.[0]?.extensions?.code).toBe("INSUFFICIENT_SCOPE");
    expect(read.body.data.me.name).toBe("Ada");
    // Even asking for it explicitly does not bring it back.
    const again = await oauth.refreshTokenGrantRequest(as, conn.oc, conn.auth, next.refresh_token!, {
      ...insecure,
      additionalParameters: { scope: "data:read" },
    });
    expect(again.status).toBe(400);
    expect((await again.json()).error).toBe("invalid_scope");

    const event = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: "grant.updated", grantId: conn.grantId } });
    expect(event.detail).toContain("removed data:read");
  });

  it("narrows an authorization code that is not exchanged yet", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada, { scope: "profile:read data:read" });
    // The app asks again (consent skipped: already granted) and holds the code while the user narrows.
    const pending = await authorize(ada, conn.client, "profile:read data:read");
    await gql(ada, NARROW, { id: conn.grantId, scopes: ["profile:read"] });
    const tokens = await exchangeCode(as, conn.oc, conn.auth, pending.params, REDIRECT, pending.verifier);
    expect(tokens.scope).toBe("profile:read");
  });

  it("refuses scopes that were not granted, unknown ones, protocol scopes and an empty result; NOT_FOUND for others' grants", async () => {
    const ada = await user("Ada");
    const eve = await user("Eve");
    const conn = await connect(ada, { scope: "profile:read data:read" });
    const onlyData = await connect(ada, { scope: "data:read" });
    const cases: [User, string, unknown[], string][] = [
      [ada, conn.grantId, ["profile:read", "data:write"], "BAD_USER_INPUT"], // widening is for the consent page
      [ada, conn.grantId, ["admin"], "BAD_USER_INPUT"],
      [ada, conn.grantId, ["x".repeat(3000)], "BAD_USER_INPUT"],
      [ada, conn.grantId, Array.from({ length: 500 }, () => "data:read"), "BAD_USER_INPUT"],
      [ada, onlyData.grantId, [], "BAD_USER_INPUT"], // nothing left: revoke instead
      [eve, conn.grantId, ["profile:read"], "NOT_FOUND"],
      [ada, "nope", ["profile:read"], "NOT_FOUND"],
    ];
    for (const [u, id, scopes, code] of cases) {
      const body = await gql(u, NARROW, { id, scopes });
      expect({ scopes: scopes.slice(0, 2), code: body.errors?.[0]?.extensions?.code }).toEqual({ scopes: scopes.slice(0, 2), code });
    }
    const grant = await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } });
    expect(grant.scopes.sort()).toEqual(["data:read", "profile:read"]);
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);
  });
});

describe("viewer.auditLog", () => {
  it("is newest first, paginates with cursors, filters by app, and names app, grant and the fields read", async () => {
    const ada = await user("Ada");
    await seedMeasurements(ada.user.id);
    const pulse = await connect(ada, { name: "Pulse Tracker", scope: "profile:read data:read data:write" });
    const other = await connect(ada, { name: "Sleep Lab", scope: "data:read" });
    expect((await bearer(pulse.tokens.access_token, "{ me { name measurements(first: 2) { edges { node { value } } } } }")).status).toBe(
      200,
    );
    const write = await bearer(
      pulse.tokens.access_token,
      `mutation { recordMeasurement(input: { type: STEPS, value: 1200, unit: "count", recordedAt: "${new Date().toISOString()}" }) { id } }`,
    );
    expect(write.body.errors).toBeUndefined();
    await gql(ada, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id: pulse.grantId });

    // Reads are written in batches, about a second late.
    const all = await waitFor(async () => {
      const body = await gql(ada, LOG, { first: 100 });
      const edges = body.data.viewer.auditLog.edges as any[];
      return edges.some((e) => e.node.action === "data.read") ? edges : null;
    });
    const nodes = all.map((e) => e.node);
    const times = nodes.map((n) => Date.parse(n.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const pulseEvents = nodes.filter((n) => n.client?.clientId === pulse.client.clientId);
    expect(pulseEvents.map((n) => n.action)).toEqual(
      expect.arrayContaining(["grant.created", "token.issued", "data.read", "data.written", "grant.revoked"]),
    );
    for (const n of pulseEvents) expect(n.grantId).toBe(pulse.grantId);
    expect(pulseEvents.find((n) => n.action === "data.read").detail).toBe("fields: me{name,measurements}");
    expect(pulseEvents.find((n) => n.action === "data.written").detail).toBe("recordMeasurement: STEPS");
    expect(nodes[0].action).toBe("grant.revoked"); // the newest

    // Pages of two, following endCursor, give the same list.
    const paged: any[] = [];
    let after: string | null = null;
    for (let i = 0; i < 50; i++) {
      const body = await gql(ada, LOG, { first: 2, after });
      const conn = body.data.viewer.auditLog;
      paged.push(...conn.edges.map((e: any) => e.node));
      expect(conn.edges.length).toBeLessThanOrEqual(2);
      if (!conn.pageInfo.hasNextPage) break;
      expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1).cursor);
      after = conn.pageInfo.endCursor;
    }
    expect(paged.map((n) => n.id)).toEqual(nodes.map((n) => n.id));

    // The filter keeps one app.
    const filtered = (await gql(ada, LOG, { first: 100, clientId: other.client.clientId })).data.viewer.auditLog.edges;
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((e: any) => e.node.client.clientId === other.client.clientId)).toBe(true);
    // An unknown app has nothing.
    const none = (await gql(ada, LOG, { clientId: "sgc_unknown" })).data.viewer.auditLog;
    expect(none).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it("shows a user only their own events", async () => {
    const ada = await user("Ada");
    const bob = await user("Bob");
    const conn = await connect(ada);
    const body = await gql(bob, LOG, { first: 100 });
    expect(body.data.viewer.auditLog.edges.filter((e: any) => e.node.grantId === conn.grantId)).toEqual([]);
    const filtered = await gql(bob, LOG, { clientId: conn.client.clientId });
    expect(filtered.data.viewer.auditLog.edges).toEqual([]);
  });

  it("refuses bad page arguments with BAD_USER_INPUT", async () => {
    const ada = await user("Ada");
    for (const vars of [
      { after: "%%%" },
      { after: Buffer.from('["x","y"]').toString("base64url") },
      { after: "a".repeat(10_000) },
      { first: 0 },
      { first: 101 },
      { first: -5 },
    ]) {
      const body = await gql(ada, LOG, vars);
      expect(body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    }
  });

  it("has no mutation that edits or deletes audit events", () => {
    const mutations = Object.keys(getSchema().getMutationType()!.getFields());
    expect(mutations.filter((m) => /audit|event|log/i.test(m))).toEqual([]);
  });
});

describe("OAuth tokens never reach these fields", () => {
  it("refuses connectedApps, auditLog and both mutations to a token with every scope", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada, { scope: "openid offline_access profile:read data:read data:write" });
    const token = conn.tokens.access_token;
    const probes: [string, Record<string, unknown>?][] = [
      ["{ viewer { connectedApps { id } } }"],
      ["{ viewer { auditLog { edges { node { id } } } } }"],
      [`mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id: conn.grantId }],
      [`mutation($id: ID!) { updateConnectedAppScopes(grantId: $id, scopes: ["profile:read"]) { id } }`, { id: conn.grantId }],
    ];
    for (const [query, variables] of probes) {
      const r = await bearer(token, query, variables);
      expect(r.status).toBe(200);
      expect(r.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(Object.values(r.body.data ?? {}).every((v) => v === null)).toBe(true);
    }
    const grant = await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } });
    expect(grant.revokedAt).toBeNull();
    expect(grant.scopes).toContain("data:read");
  });

  it("needs the CSRF header with the session cookie", async () => {
    const ada = await user("Ada");
    const r = await ada.web.graphql(APPS);
    expect(r.res.status).toBe(403);
  });
});

describe("/account/apps", () => {
  it("sends a signed-out visitor to sign in and back", async () => {
    const web = new WebClient(server.url);
    for (const path of ["/account/apps", "/account/activity", "/account", "/account/export", "/account/delete"]) {
      const res = await web.fetch(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/login?return_to=${encodeURIComponent(path)}`);
    }
    // A form post while signed out changes nothing and comes back to the form's page.
    const post = await web.postForm("/account/apps/00000000-0000-4000-8000-000000000000/revoke", {});
    expect(post.res.status).toBe(303);
    expect(post.res.headers.get("location")).toBe(`/login?return_to=${encodeURIComponent("/account/apps")}`);
    const delete_ = await web.postForm("/account/delete", { password: PASSWORD, confirm: "yes" });
    expect(delete_.res.headers.get("location")).toBe(`/login?return_to=${encodeURIComponent("/account")}`);
  });

  it("lists the app with its environment, what it may do in plain words, when connected and last used", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada, { name: "Beta <Coach>", environment: "DEVELOPMENT", scope: "profile:read data:read" });
    const { res, html } = await ada.web.page("/account/apps");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(html).toContain("Beta &lt;Coach&gt;"); // escaped
    expect(html).not.toContain("Beta <Coach>");
    expect(html).toContain("Development app");
    expect(html).toContain("See your name, email address and date of birth");
    expect(html).toContain("Read your health measurements");
    expect(html).toMatch(/Connected <time[^>]*>just now<\/time>/);
    expect(html).toMatch(/Last used <time[^>]*>just now<\/time>/);
    expect(html).toContain(`href="/account/apps/${conn.grantId}/revoke"`);
    const other = await user("Bob");
    expect((await other.web.page("/account/apps")).html).toContain("No apps are connected to your account.");
  });

  it("revokes behind a confirmation page, with the CSRF token; the app is locked out at once", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada, { name: "Pulse Tracker" });
    const confirm = await ada.web.page(`/account/apps/${conn.grantId}/revoke`);
    expect(confirm.res.status).toBe(200);
    expect(confirm.html).toContain("Revoke access for Pulse Tracker?");
    // GET only asks.
    expect((await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } })).revokedAt).toBeNull();

    const forged = await ada.web.postForm(`/account/apps/${conn.grantId}/revoke`, { csrf: "forged" });
    expect(forged.res.status).toBe(403);
    const crossSite = await ada.web.postForm(
      `/account/apps/${conn.grantId}/revoke`,
      { csrf: hiddenInput(confirm.html, "csrf")! },
      { origin: "https://evil.example" },
    );
    expect(crossSite.res.status).toBe(403);
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);

    const done = await ada.web.postForm(`/account/apps/${conn.grantId}/revoke`, { csrf: hiddenInput(confirm.html, "csrf")! });
    expect(done.res.status).toBe(303);
    expect(done.res.headers.get("location")).toBe(`/account/apps?revoked=${conn.grantId}`);
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(401);
    expect(await refreshError(conn)).toBe("invalid_grant");
    const list = await ada.web.page(`/account/apps?revoked=${conn.grantId}`);
    expect(list.html).toContain("Pulse Tracker no longer has access to your account.");
    expect(list.html).not.toContain(`/account/apps/${conn.grantId}/revoke`);
    // Again: it is gone.
    expect((await ada.web.postForm(`/account/apps/${conn.grantId}/revoke`, { csrf: ada.csrf })).res.status).toBe(404);
  });

  it("answers 404 for another user's grant and leaves it alone", async () => {
    const ada = await user("Ada");
    const eve = await user("Eve");
    const conn = await connect(ada);
    expect((await eve.web.page(`/account/apps/${conn.grantId}/revoke`)).res.status).toBe(404);
    expect((await eve.web.postForm(`/account/apps/${conn.grantId}/revoke`, { csrf: eve.csrf })).res.status).toBe(404);
    expect((await eve.web.postForm(`/account/apps/${conn.grantId}/scopes`, { csrf: eve.csrf, keep: "data:read" })).res.status).toBe(404);
    expect((await eve.web.page(`/account/apps?revoked=${conn.grantId}`)).html).not.toContain("Pulse Tracker");
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);
  });

  it("narrows an app's permissions from the page without revoking it", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada, { name: "Pulse Tracker", scope: "openid profile:read data:read" });
    const page = await ada.web.page("/account/apps");
    expect(page.html).toContain(`action="/account/apps/${conn.grantId}/scopes"`);
    const res = await ada.web.postForm(`/account/apps/${conn.grantId}/scopes`, { csrf: ada.csrf, keep: "profile:read" });
    expect(res.res.status).toBe(303);
    expect((await ada.web.page(res.res.headers.get("location")!)).html).toContain("Permissions for Pulse Tracker were updated.");
    const grant = await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } });
    expect(grant.scopes.sort()).toEqual(["openid", "profile:read"]);
    expect(grant.revokedAt).toBeNull();
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(401);

    // A scope that was never granted is refused, next to the app.
    const wider = await ada.web.postForm(`/account/apps/${conn.grantId}/scopes`, { csrf: ada.csrf, keep: "data:write" });
    expect(wider.res.status).toBe(400);
    expect(pageErrors(wider.html).join(" ")).toContain("Not granted to this app: data:write");
    // Unticking everything would leave openid only: allowed (the app can still say who you are).
    const none = await ada.web.fetch(`/account/apps/${conn.grantId}/scopes`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: ada.csrf }).toString(),
    });
    expect(none.status).toBe(303);
    expect((await server.db.prisma.grant.findUniqueOrThrow({ where: { id: conn.grantId } })).scopes).toEqual(["openid"]);
    // Without the CSRF token nothing changes.
    expect((await ada.web.postForm(`/account/apps/${conn.grantId}/scopes`, { keep: "" })).res.status).toBe(403);
  });

  it("never answers 5xx to odd requests", async () => {
    const ada = await user("Ada");
    const conn = await connect(ada);
    const probes: [string, RequestInit][] = [
      ["/account/apps/%00/revoke", {}],
      [`/account/apps/${"a".repeat(3000)}/revoke`, {}],
      [`/account/apps/${conn.grantId}/revoke`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" }],
      [
        `/account/apps/${conn.grantId}/revoke`,
        { method: "POST", headers: { "content-type": "multipart/form-data; boundary=x" }, body: "--x\r\nbroken" },
      ],
      [
        `/account/apps/${conn.grantId}/scopes`,
        { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "csrf=a&csrf=b&keep=%ZZ" },
      ],
      ["/account/activity?after=%FF%FE&app=" + "x".repeat(500), {}],
      ["/account/activity?after=eyJ4Ijp9", {}],
      ["/account/apps?revoked=../../etc&updated=" + conn.grantId.toUpperCase(), {}],
      ["/account?ended=NaN&password=changed", {}],
    ];
    for (const [path, init] of probes) {
      const res = await ada.web.fetch(path, init);
      expect({ path: path.slice(0, 60), status: res.status < 500 }).toEqual({ path: path.slice(0, 60), status: true });
    }
  });
});

describe("/account/activity", () => {
  it("shows what each app did: tokens, the fields it read, writes, grants created and revoked, with app, time and grant", async () => {
    const ada = await user("Ada");
    await seedMeasurements(ada.user.id);
    const conn = await connect(ada, { name: "Pulse Tracker", scope: "profile:read data:read data:write" });
    await bearer(conn.tokens.access_token, "{ me { email measurements(first: 1) { edges { node { value } } } } }");
    await bearer(
      conn.tokens.access_token,
      `mutation { recordMeasurement(input: { type: WEIGHT, value: 70, unit: "kg", recordedAt: "${new Date().toISOString()}" }) { id } }`,
    );
    await gql(ada, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id: conn.grantId });
    const html = await waitFor(async () => {
      const { html } = await ada.web.page("/account/activity");
      return html.includes("Data read") ? html : null;
    });
    for (const label of ["Access granted", "Token issued", "Data read", "Data written", "Access revoked"]) expect(html).toContain(label);
    expect(html).toContain('Fields read: <code class="fields">me{email,measurements}</code>');
    expect(html).toContain("recordMeasurement: WEIGHT");
    expect(html).toContain("Revoked by the user under Connected apps");
    expect(html).toContain(`<code title="${conn.grantId}">${conn.grantId.slice(0, 8)}</code>`);
    expect(html).toMatch(/<td class="when"><time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time><\/td>/);
    expect(html).toContain('<span class="app-cell">Pulse Tracker</span>');
  });

  it("filters by app and pages with Older links", async () => {
    const ada = await user("Ada");
    const a = await connect(ada, { name: "App Alpha", scope: "data:read" });
    const b = await connect(ada, { name: "App Beta", scope: "data:read" });
    // 30 refreshes of Alpha: more than a page.
    let rt = a.tokens.refresh_token!;
    for (let i = 0; i < 30; i++) rt = (await refresh(a, rt)).refresh_token!;
    await server.flushAudit(); // token.issued is written in batches

    const all = await ada.web.page("/account/activity");
    expect(all.html).toContain('<option value="' + a.client.clientId + '">App Alpha</option>');
    expect(all.html).toContain("App Beta");
    expect((all.html.match(/<tr>/g) ?? []).length).toBe(1 + 25); // header row + a page
    const older = all.html.match(/href="(\/account\/activity\?after=[^"]+)" rel="next"/)?.[1];
    expect(older).toBeTruthy();
    const page2 = await ada.web.page(older!.replace(/&amp;/g, "&"));
    expect(page2.res.status).toBe(200);
    expect(page2.html).toContain("← Newest");
    const rows1 = [...all.html.matchAll(/<time datetime="([^"]+)">/g)].map((m) => m[1]);
    const rows2 = [...page2.html.matchAll(/<time datetime="([^"]+)">/g)].map((m) => m[1]);
    expect(rows2.length).toBeGreaterThan(0);
    expect(Date.parse(rows2[0]!)).toBeLessThanOrEqual(Date.parse(rows1.at(-1)!));

    const beta = await ada.web.page(`/account/activity?app=${b.client.clientId}`);
    expect(beta.html).toContain("Showing App Beta only");
    expect(beta.html).not.toContain('<span class="app-cell">App Alpha</span>');
    expect(beta.html).toContain('<span class="app-cell">App Beta</span>');
    expect(beta.html).toContain(`<option value="${b.client.clientId}" selected>App Beta</option>`);
    const alpha = await ada.web.page(`/account/activity?app=${a.client.clientId}`);
    const next = alpha.html.match(/href="(\/account\/activity\?[^"]+)" rel="next"/)?.[1]?.replace(/&amp;/g, "&");
    expect(next).toContain(`app=${a.client.clientId}`); // the filter survives paging
    expect((await ada.web.page(next!)).html).not.toContain('<span class="app-cell">App Beta</span>');
  });
});

describe("/account: change password", () => {
  it("needs the current password, ends the user's other sessions and keeps this one", async () => {
    const ada = await user("Ada");
    const other = new WebClient(server.url);
    expect((await other.signIn({ email: ada.email, password: PASSWORD })).res.status).toBe(303);
    expect((await other.page("/account/apps")).res.status).toBe(200);
    const conn = await connect(ada);

    const post = (fields: Record<string, string>) => ada.web.postForm("/account/password", { csrf: ada.csrf, ...fields });
    const NEW = "a brand new passphrase";
    let r = await post({ current_password: "wrong password!", new_password: NEW, confirm_password: NEW });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html)).toContain("That is not your current password.");
    r = await post({ current_password: PASSWORD, new_password: NEW, confirm_password: NEW + "x" });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html)).toContain("The two new passwords differ.");
    r = await post({ current_password: PASSWORD, new_password: "short", confirm_password: "short" });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html).join(" ")).toMatch(/Use at least 15 characters for your password\./);
    r = await post({ current_password: PASSWORD, new_password: ada.email, confirm_password: ada.email });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html)).toContain("Don't use your email address as your password.");
    r = await ada.web.postForm("/account/password", { current_password: PASSWORD, new_password: NEW, confirm_password: NEW });
    expect(r.res.status).toBe(403);
    expect((await other.page("/account/apps")).res.status).toBe(200); // nothing changed so far

    r = await post({ current_password: PASSWORD, new_password: NEW, confirm_password: NEW });
    expect(r.res.status).toBe(303);
    expect(r.res.headers.get("location")).toBe("/account?password=changed&ended=1");
    expect((await ada.web.page("/account?password=changed&ended=1")).html).toContain(
      "Your password was changed. 1 other sign-in was ended.",
    );
    expect((await other.page("/account/apps")).res.status).toBe(303); // signed out
    expect((await ada.web.page("/account/apps")).res.status).toBe(200); // still signed in here
    // Connected apps are not affected by a password change.
    expect((await bearer(conn.tokens.access_token, "{ me { id } }")).status).toBe(200);

    const fresh = new WebClient(server.url);
    expect((await fresh.signIn({ email: ada.email, password: PASSWORD })).res.status).toBe(401);
    expect((await fresh.signIn({ email: ada.email, password: NEW })).res.status).toBe(303);
  });
});

describe("/account: export", () => {
  it("downloads everything about the user as one JSON file, without secrets", async () => {
    const ada = await user("Ada");
    await server.db.prisma.user.update({ where: { id: ada.user.id }, data: { birthDate: new Date("1990-04-05") } });
    await seedMeasurements(ada.user.id, 4);
    await seedDemoActivity(server.db.prisma, ada.user.id);
    const conn = await connect(ada, { name: "Pulse Tracker" });
    const own = await registerClient(server, ada.user.id, { name: "Ada's Own App", type: "CONFIDENTIAL", redirectUris: [REDIRECT] });
    await bearer(conn.tokens.access_token, "{ me { name } }");
    await server.flushAudit(); // token.issued and data.read are written in batches

    const confirm = await ada.web.page("/account/export");
    expect(confirm.html).toContain("Download all your data?");
    expect(confirm.res.headers.get("content-disposition")).toBeNull();
    expect((await ada.web.postForm("/account/export", {})).res.status).toBe(403);

    const { res, html: text } = await ada.web.postForm("/account/export", { csrf: ada.csrf });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="scopegate-export-\d{4}-\d\d-\d\d\.json"$/);
    const data = JSON.parse(text);
    expect(data.profile).toMatchObject({ id: ada.user.id, email: ada.email, name: "Ada", birthDate: "1990-04-05" });
    expect(data.measurements).toHaveLength(4);
    expect(data.sessions.length).toBeGreaterThan(0);
    expect(data.locations.length).toBeGreaterThan(0);
    expect(data.signIns.length).toBeGreaterThan(0);
    expect(data.oauthClients).toEqual([expect.objectContaining({ clientId: own.client.clientId, name: "Ada's Own App" })]);
    expect(data.grants).toEqual([
      expect.objectContaining({ grantId: conn.grantId, app: expect.objectContaining({ name: "Pulse Tracker" }) }),
    ]);
    expect(data.auditEvents.map((e: any) => e.action)).toEqual(expect.arrayContaining(["grant.created", "token.issued"]));
    // No secret, hash, token or CSRF value anywhere in the file.
    const session = await server.db.prisma.accountSession.findFirstOrThrow({ where: { userId: ada.user.id } });
    const client = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { id: own.client.id } });
    for (const secret of [
      own.clientSecret!,
      client.secretHash!,
      ada.user.passwordHash,
      session.tokenHash,
      session.csrfToken,
      conn.tokens.access_token,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/secretHash|passwordHash|tokenHash|csrfToken|secretHint/);
  });
});

describe("/account: delete", () => {
  it("asks for the password, then revokes every grant and client of the user and removes their data; others' trails stay", async () => {
    const cara = await user("Cara");
    const bob = await user("Bob");
    await seedMeasurements(cara.user.id, 5);
    await seedDemoActivity(server.db.prisma, cara.user.id);
    // Cara connected a partner app; Bob connected an app Cara develops.
    const caraConn = await connect(cara, { name: "Pulse Tracker" });
    const caraApp = await registerClient(server, cara.user.id, {
      name: "Cara's Coach",
      type: "CONFIDENTIAL",
      redirectUris: [REDIRECT],
      scopes: ["profile:read", "data:read"],
    });
    const bobConn = await connect(bob, { client: caraApp.client, secret: caraApp.clientSecret! });
    await bearer(bobConn.tokens.access_token, "{ me { name } }");
    const cc = await oauth.processClientCredentialsResponse(
      as,
      bobConn.oc,
      await oauth.clientCredentialsGrantRequest(as, bobConn.oc, bobConn.auth, new URLSearchParams({ scope: "data:read" }), insecure),
    );
    await waitFor(() => server.db.prisma.auditEvent.findFirst({ where: { userId: bob.user.id, action: "data.read" } }));
    const bobTrailBefore = await server.db.prisma.auditEvent.findMany({ where: { userId: bob.user.id }, orderBy: { id: "asc" } });
    const caraTrailBefore = await server.db.prisma.auditEvent.findMany({ where: { userId: cara.user.id }, orderBy: { id: "asc" } });

    const confirm = await cara.web.page("/account/delete");
    expect(confirm.html).toContain("Delete your scopegate account?");
    expect(confirm.html).toContain("Pulse Tracker");
    expect(confirm.html).toContain("Cara&#39;s Coach");

    let r = await cara.web.postForm("/account/delete", { csrf: cara.csrf, password: "not my password", confirm: "yes" });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html)).toContain("That is not your password.");
    r = await cara.web.postForm("/account/delete", { csrf: cara.csrf, password: PASSWORD });
    expect(r.res.status).toBe(400);
    expect(pageErrors(r.html)).toContain("Tick this box to confirm.");
    r = await cara.web.postForm("/account/delete", { password: PASSWORD, confirm: "yes" });
    expect(r.res.status).toBe(403);
    expect(await server.db.prisma.measurement.count({ where: { userId: cara.user.id } })).toBe(5);

    r = await cara.web.postForm("/account/delete", { csrf: cara.csrf, password: PASSWORD, confirm: "yes" });
    expect(r.res.status).toBe(200);
    expect(r.html).toContain("Your account was deleted");
    expect(cara.web.jar.get("sg_session")).toBeUndefined();

    // Every token of her grants and of her clients fails on its next use.
    expect((await bearer(caraConn.tokens.access_token, "{ me { id } }")).status).toBe(401);
    expect(await refreshError(caraConn)).toBe("invalid_grant");
    expect((await bearer(bobConn.tokens.access_token, "{ me { id } }")).status).toBe(401);
    // Bob's refresh token belongs to the revoked client, which can no longer even authenticate.
    const bobRefresh = await oauth.refreshTokenGrantRequest(as, bobConn.oc, bobConn.auth, bobConn.tokens.refresh_token!, insecure);
    expect(bobRefresh.status).toBe(401);
    expect((await bobRefresh.json()).error).toBe("invalid_client");
    expect(await server.db.prisma.refreshToken.count({ where: { grantId: bobConn.grantId, revokedAt: null } })).toBe(0);
    expect((await bearer(cc.access_token, "{ me { id } }")).status).toBe(401);
    const ccAgain = await oauth.clientCredentialsGrantRequest(as, bobConn.oc, bobConn.auth, new URLSearchParams(), insecure);
    expect(ccAgain.status).toBe(401);

    // Her data is gone; the email is free again and her password opens nothing.
    const prisma = server.db.prisma;
    for (const count of [
      prisma.measurement.count({ where: { userId: cara.user.id } }),
      prisma.session.count({ where: { userId: cara.user.id } }),
      prisma.location.count({ where: { userId: cara.user.id } }),
      prisma.accountSession.count({ where: { userId: cara.user.id } }),
      prisma.grant.count({ where: { userId: cara.user.id } }),
    ]) {
      expect(await count).toBe(0);
    }
    const tomb = await prisma.user.findUniqueOrThrow({ where: { id: cara.user.id } });
    expect(tomb.email).not.toContain(cara.email.split("@")[0]);
    expect(tomb.name).toBe("Deleted account");
    expect(tomb.birthDate).toBeNull();
    const client = await prisma.oAuthClient.findUniqueOrThrow({ where: { id: caraApp.client.id } });
    expect(client.revokedAt).not.toBeNull();
    expect(client.secretHash).toBeNull();
    // Her own trail is append-only too: every earlier event stays (now pointing at the anonymous tombstone), plus the revocations.
    const caraTrail = await prisma.auditEvent.findMany({ where: { userId: cara.user.id }, orderBy: { id: "asc" } });
    expect(caraTrail.filter((e) => caraTrailBefore.some((b) => b.id === e.id))).toEqual(caraTrailBefore);
    expect(caraTrail.map((e) => e.action)).toEqual(expect.arrayContaining(["client.revoked", "grant.revoked"]));
    expect(caraTrail.find((e) => e.action === "grant.revoked" && e.grantId === caraConn.grantId)?.detail).toBe(
      "the user deleted their account",
    );
    const web = new WebClient(server.url);
    expect((await web.signIn({ email: cara.email, password: PASSWORD })).res.status).toBe(401);
    expect((await web.signUp({ name: "Cara again", email: cara.email, password: PASSWORD })).res.status).toBe(303);

    // Bob's trail: every earlier event exactly as it was, plus the revocation of his grant with the reason.
    const bobTrailAfter = await prisma.auditEvent.findMany({ where: { userId: bob.user.id }, orderBy: { id: "asc" } });
    expect(bobTrailAfter.filter((e) => bobTrailBefore.some((b) => b.id === e.id))).toEqual(bobTrailBefore);
    const added = bobTrailAfter.filter((e) => !bobTrailBefore.some((b) => b.id === e.id));
    expect(added).toEqual([expect.objectContaining({ action: "grant.revoked", grantId: bobConn.grantId, clientId: caraApp.client.id })]);
    expect(added[0]!.detail).toContain("revoked the client");
    // ... and Bob still sees it under the app's name.
    const bobLog = await gql(bob, LOG, { first: 1 });
    expect(bobLog.data.viewer.auditLog.edges[0].node).toMatchObject({ action: "grant.revoked", client: { name: "Cara's Coach" } });
  });
});
