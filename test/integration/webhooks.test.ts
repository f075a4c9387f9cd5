// Issue 13 over real HTTP: a real receiver on 127.0.0.1 checks every delivery's
// signature with the `standardwebhooks` package; users connect partner apps
// through the real code flow (oauth4webapi); events reach a client only while
// the user's live grant holds the scope they need.
import * as oauth from "oauth4webapi";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { connectApp, discover, PASSWORD, registerClient, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";

let server: TestServer;
let as: oauth.AuthorizationServer;
const receivers: WebhookReceiver[] = [];

const RETRIES = ["100ms", "200ms", "300ms"];

beforeAll(async () => {
  server = await startTestServer({
    WEBHOOKS_ALLOW_LOOPBACK: "true",
    WEBHOOKS_POLL_INTERVAL: "50ms",
    WEBHOOKS_RETRY_SCHEDULE: RETRIES.join(","),
    WEBHOOKS_TIMEOUT: "2s",
    // settled() polls the owner's endpoints and deliveries (cost ~7,000) every 100 ms: the session's cost budget is not under test here.
    GRAPHQL_RATE_LIMIT_PER_SESSION: "0",
  });
  as = await discover(server);
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

type Account = Awaited<ReturnType<typeof signedInUser>> & { csrf: string };

async function account(name: string): Promise<Account> {
  const u = await signedInUser(server, name);
  return { ...u, csrf: await u.web.csrfFrom("/logout") };
}

/** A GraphQL request with the account session; fails the test on a transport error. */
async function gql(u: Account, query: string, variables?: Record<string, unknown>): Promise<any> {
  const r = await u.web.graphql(query, { csrf: u.csrf, variables });
  expect(r.res.status).toBeLessThan(500);
  return r.body;
}

async function asPartner(token: string, query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

const CREATE = `mutation($clientId: ID!, $input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(clientId: $clientId, input: $input) { secret endpoint { id url eventTypes enabled secretHint } } }`;
const RECORD = `mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id } }`;
const ENDPOINTS = `query($clientId: ID!) { viewer { oauthClient(clientId: $clientId) { clientId webhookEndpoints { id url enabled failingSince
  failingReason deliveries(first: 20) { edges { node { id eventType status attempts responseStatus lastError nextAttemptAt deliveredAt } } } } } } }`;

const ALL_EVENTS = [
  "measurement.created",
  "measurement.updated",
  "measurement.deleted",
  "profile.updated",
  "grant.revoked",
  "grant.narrowed",
];

interface Partner {
  developer: Account;
  client: OAuthClient;
  auth: oauth.ClientAuth;
  receiver: WebhookReceiver;
  endpointId: string;
  secret: string;
}

/** A developer, their confidential client (profile:read data:read data:write) and an endpoint at a new receiver. */
async function partner(eventTypes = ALL_EVENTS, scopes = ["profile:read", "data:read", "data:write"]): Promise<Partner> {
  const developer = await account("Developer");
  const { client, clientSecret } = await registerClient(server, developer.user.id, {
    type: "CONFIDENTIAL",
    redirectUris: ["https://partner.example/callback"],
    scopes,
  });
  const receiver = await WebhookReceiver.start();
  receivers.push(receiver);
  const body = await gql(developer, CREATE, { clientId: client.clientId, input: { url: receiver.url, eventTypes } });
  expect(body.errors).toBeUndefined();
  const { secret, endpoint } = body.data.createWebhookEndpoint;
  receiver.trust(secret);
  return { developer, client, auth: oauth.ClientSecretPost(clientSecret!), receiver, endpointId: endpoint.id, secret };
}

async function record(u: Account | { token: string }, value = 72): Promise<string> {
  const variables = { input: { type: "HEART_RATE", value, unit: "bpm", recordedAt: new Date(Date.now() - 60_000).toISOString() } };
  const body = "token" in u ? await asPartner(u.token, RECORD, variables) : await gql(u, RECORD, variables);
  expect(body.errors).toBeUndefined();
  return body.data.recordMeasurement.id;
}

/** The deliveries the owner sees for their endpoint, newest first. */
async function deliveries(p: Partner): Promise<any[]> {
  return (await endpointState(p)).deliveries.edges.map((e: any) => e.node);
}

async function endpointState(p: Partner): Promise<any> {
  const body = await gql(p.developer, ENDPOINTS, { clientId: p.client.clientId });
  expect(body.errors).toBeUndefined();
  return body.data.viewer.oauthClient.webhookEndpoints[0];
}

/** Waits until nothing is pending for the endpoint (every delivery delivered, failed or cancelled). */
async function settled(p: Partner, timeoutMs = 10_000): Promise<any[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const list = await deliveries(p);
    if (list.every((d) => d.status !== "PENDING")) return list;
    if (Date.now() > end) throw new Error(`deliveries still pending: ${JSON.stringify(list)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("deliveries", () => {
  it("are signed the Standard Webhooks way, verify with the standardwebhooks package, and carry what data:read reads", async () => {
    const p = await partner();
    const ada = await account("Ada");
    await connectApp(server, as, ada, p.client, p.auth, "data:read");
    const id = await record(ada, 64);
    const [got] = await p.receiver.waitFor((r) => r.length >= 1);
    expect(got!.verifiedWith).toEqual([p.secret]);
    expect(got!.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Math.abs(Number(got!.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(got!.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(got!.payload).toEqual({
      type: "measurement.created",
      timestamp: expect.any(String),
      data: {
        userId: ada.user.id,
        measurement: { id, type: "HEART_RATE", value: 64, unit: "bpm", recordedAt: expect.any(String) },
      },
    });
    // Nothing about the user beyond the measurement: no profile without profile:read.
    expect(got!.body).not.toContain(ada.email);
    const [row] = await settled(p);
    expect(row).toMatchObject({ id: got!.id, eventType: "measurement.created", status: "DELIVERED", attempts: 1, responseStatus: 204 });
  });

  it("go to a client only for the scopes the user granted it, and are in the user's audit trail", async () => {
    const p = await partner();
    const readsData = await account("Reads data");
    const readsProfile = await account("Reads profile");
    await connectApp(server, as, readsData, p.client, p.auth, "data:read");
    await connectApp(server, as, readsProfile, p.client, p.auth, "profile:read");
    const stranger = await account("Not connected");

    await record(readsData);
    await record(readsProfile);
    await record(stranger);
    for (const u of [readsData, readsProfile, stranger]) {
      const body = await gql(u, `mutation { updateProfile(input: { name: "Renamed ${u.user.id.slice(0, 4)}" }) { id } }`);
      expect(body.errors).toBeUndefined();
    }
    await settled(p);
    const got = p.receiver.received.map((r) => `${r.payload.type} ${r.payload.data.userId}`).sort();
    expect(got).toEqual([`measurement.created ${readsData.user.id}`, `profile.updated ${readsProfile.user.id}`].sort());
    const profile = p.receiver.of("profile.updated")[0]!;
    expect(profile.payload.data).toEqual({
      userId: readsProfile.user.id,
      profile: { name: `Renamed ${readsProfile.user.id.slice(0, 4)}`, email: readsProfile.email, birthDate: null },
    });

    const log = await gql(readsData, `{ viewer { auditLog(first: 20) { edges { node { action detail client { clientId } } } } } }`);
    const sent = log.data.viewer.auditLog.edges.map((e: any) => e.node).filter((n: any) => n.action === "webhook.sent");
    expect(sent).toHaveLength(1);
    expect(sent[0].client.clientId).toBe(p.client.clientId);
    expect(sent[0].detail).toContain("measurement.created");
    expect(sent[0].detail).toContain("127.0.0.1");
    expect(sent[0].detail).not.toContain("do-not-log"); // the host only, never the path or query
    // ...and on the user's activity page, in words.
    const page = await (await readsData.web.fetch("/account/activity")).text();
    expect(page).toContain("Data sent by webhook");
    expect(page).toMatch(
      /<code class="fields">measurement\.created<\/code> sent to <code>127\.0\.0\.1:\d+<\/code> · delivered \(HTTP 204\)/,
    );
  });

  it("include writes made by the partner's own token and by the user's session", async () => {
    const p = await partner(["measurement.created", "measurement.updated", "measurement.deleted"]);
    const ada = await account("Ada");
    const { tokens } = await connectApp(server, as, ada, p.client, p.auth, "data:read data:write");
    const id = await record({ token: tokens.access_token });
    const update = await asPartner(
      tokens.access_token,
      `mutation($id: ID!, $input: RecordMeasurementInput!) { updateMeasurement(id: $id, input: $input) { id } }`,
      { id, input: { type: "HEART_RATE", value: 90, unit: "bpm", recordedAt: new Date(Date.now() - 60_000).toISOString() } },
    );
    expect(update.errors).toBeUndefined();
    const del = await gql(ada, `mutation($id: ID!) { deleteMeasurement(id: $id) { id } }`, { id });
    expect(del.errors).toBeUndefined();
    await p.receiver.waitFor((r) => r.length >= 3);
    await settled(p);
    const byType = Object.fromEntries(p.receiver.received.map((r) => [r.payload.type, r.payload.data]));
    expect(Object.keys(byType).sort()).toEqual(["measurement.created", "measurement.deleted", "measurement.updated"]);
    expect(byType["measurement.updated"]?.measurement).toMatchObject({ id, value: 90 });
    expect(byType["measurement.deleted"]).toEqual({ userId: ada.user.id, measurement: { id } });
  });

  it("reach the client's owner about their own data within the client's registered scopes", async () => {
    const p = await partner(["measurement.created", "profile.updated"], ["profile:read", "data:read", "data:write"]);
    await record(p.developer, 80);
    await gql(p.developer, `mutation { updateProfile(input: { name: "Dev" }) { id } }`);
    await p.receiver.waitFor((r) => r.length >= 2);
    // The developer drops profile:read from the client: their own profile changes no longer go out.
    const narrowed = await gql(
      p.developer,
      `mutation($id: ID!) { updateOAuthClient(clientId: $id, input: { scopes: ["data:read", "data:write"] }) { scopes } }`,
      {
        id: p.client.clientId,
      },
    );
    expect(narrowed.errors).toBeUndefined();
    await gql(p.developer, `mutation { updateProfile(input: { name: "Dev 2" }) { id } }`);
    await record(p.developer, 81);
    await settled(p);
    // Deliveries run in parallel: the order they arrive in is not the order of the events.
    expect(p.receiver.received.map((r) => r.payload.type).sort()).toEqual([
      "measurement.created",
      "measurement.created",
      "profile.updated",
    ]);
    expect(p.receiver.received.every((r) => r.payload.data.userId === p.developer.user.id)).toBe(true);
  });
});

describe("grant changes", () => {
  it("narrowing sends grant.narrowed and stops the events that needed the removed scope", async () => {
    const p = await partner();
    const ada = await account("Ada");
    const { grantId } = await connectApp(server, as, ada, p.client, p.auth, "profile:read data:read");
    await record(ada);
    await p.receiver.waitFor((r) => r.length >= 1);
    const narrowed = await gql(
      ada,
      `mutation($id: ID!) { updateConnectedAppScopes(grantId: $id, scopes: ["profile:read"]) { id scopes } }`,
      {
        id: grantId,
      },
    );
    expect(narrowed.errors).toBeUndefined();
    await record(ada);
    await gql(ada, `mutation { updateProfile(input: { name: "Ada L." }) { id } }`);
    await settled(p);
    const [first, ...later] = p.receiver.received.map((r) => r.payload.type);
    expect(first).toBe("measurement.created");
    expect(later.sort()).toEqual(["grant.narrowed", "profile.updated"]);
    expect(p.receiver.of("grant.narrowed")[0]!.payload.data).toEqual({
      userId: ada.user.id,
      scopes: ["profile:read"],
      removedScopes: ["data:read"],
    });
  });

  it("after a revocation nothing is sent but grant.revoked, and a delivery waiting for a retry is cancelled", async () => {
    const p = await partner();
    const ada = await account("Ada");
    const { grantId } = await connectApp(server, as, ada, p.client, p.auth, "profile:read data:read");
    p.receiver.status = 503;
    await record(ada);
    await p.receiver.waitFor((r) => r.length >= 1);
    const revoked = await gql(ada, `mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }`, { id: grantId });
    expect(revoked.errors).toBeUndefined();
    p.receiver.status = 204;
    await record(ada);
    await gql(ada, `mutation { updateProfile(input: { name: "Gone" }) { id } }`);
    const list = await settled(p);
    const types = p.receiver.received.map((r) => r.payload.type);
    // The first attempt got 503 (maybe a retry too, before the revocation landed); after it only grant.revoked.
    expect(types.filter((t) => t !== "measurement.created")).toEqual(["grant.revoked"]);
    expect(p.receiver.of("grant.revoked")[0]!.payload.data).toEqual({ userId: ada.user.id });
    const first = list.find((d) => d.eventType === "measurement.created");
    expect(first).toMatchObject({ status: "CANCELLED", lastError: "the user's grant was revoked" });
    expect(list.filter((d) => d.eventType === "measurement.created")).toHaveLength(1);
  });
});

describe("account deletion", () => {
  it("deletes the deliveries that carry the user's data, and still tells the partner with grant.revoked", async () => {
    const p = await partner();
    const ada = await account("Ada");
    await connectApp(server, as, ada, p.client, p.auth, "data:read");
    await record(ada);
    await p.receiver.waitFor((r) => r.length >= 1);
    const r = await ada.web.postForm("/account/delete", { csrf: ada.csrf, password: PASSWORD, confirm: "yes" });
    expect(r.res.status).toBe(200);
    await p.receiver.waitFor((got) => got.some((x) => x.payload.type === "grant.revoked"));
    const rows = await server.db.prisma.webhookDelivery.findMany({ where: { userId: ada.user.id } });
    expect(rows.map((d) => d.eventType)).toEqual(["grant.revoked"]);
  });
});

describe("retries", () => {
  it("retry with the same webhook-id until the receiver recovers", async () => {
    const p = await partner(["measurement.created"]);
    p.receiver.status = 500;
    await record(p.developer);
    await p.receiver.waitFor((r) => r.length >= 2);
    p.receiver.status = 204;
    const [d] = await settled(p);
    expect(d).toMatchObject({ status: "DELIVERED", responseStatus: 204 });
    expect(d.attempts).toBeGreaterThanOrEqual(3);
    expect(new Set(p.receiver.received.map((r) => r.id))).toEqual(new Set([d.id]));
    expect(p.receiver.received).toHaveLength(d.attempts);
    expect(p.receiver.received.every((r) => r.verifiedWith.length === 1)).toBe(true);
  });

  it("that use up the schedule fail the delivery and mark the endpoint failing; a resend that works clears it", async () => {
    const p = await partner(["measurement.created"]);
    p.receiver.status = 500;
    await record(p.developer);
    const [d] = await settled(p);
    expect(d).toMatchObject({ status: "FAILED", attempts: RETRIES.length + 1, responseStatus: 500, nextAttemptAt: null });
    expect(d.lastError).toBe("The receiver answered HTTP 500.");
    const failing = await endpointState(p);
    expect(failing.failingSince).not.toBeNull();
    expect(failing.failingReason).toContain("HTTP 500");
    expect(failing.failingReason).toContain(d.id);

    p.receiver.status = 200;
    const resent = await gql(p.developer, `mutation($id: ID!) { resendWebhookDelivery(id: $id) { id status } }`, { id: d.id });
    expect(resent.errors).toBeUndefined();
    expect(resent.data.resendWebhookDelivery.status).toBe("PENDING");
    const [after] = await settled(p);
    expect(after).toMatchObject({ id: d.id, status: "DELIVERED", responseStatus: 200 });
    expect(p.receiver.received.at(-1)!.id).toBe(d.id);
    expect(await endpointState(p)).toMatchObject({ failingSince: null, failingReason: null });
  });

  it("an address that turns private after registration is refused at delivery, without a connection", async () => {
    const p = await partner(["measurement.created"]);
    await server.db.prisma.webhookEndpoint.update({ where: { id: p.endpointId }, data: { url: "https://10.1.2.3/hook" } });
    await record(p.developer);
    const [d] = await settled(p);
    expect(d.status).toBe("FAILED");
    expect(d.lastError).toBe("The address 10.1.2.3 is not a public address.");
    expect(p.receiver.received).toHaveLength(0);
  });
});

describe("the request path", () => {
  it("does not wait for a receiver that hangs", async () => {
    const p = await partner(["measurement.created"]);
    p.receiver.hold();
    await record(p.developer);
    await p.receiver.waitFor((r) => r.length >= 1);
    // More writes answer while the receiver still holds its first answer.
    await record(p.developer);
    await record(p.developer);
    expect(p.receiver.held).toBeGreaterThanOrEqual(1);
    p.receiver.release();
    await settled(p);
  });
});

describe("managing endpoints", () => {
  it("refuses URLs that are not https to a public address, even with loopback allowed for tests", async () => {
    const p = await partner(["measurement.created"]);
    const cases: [string, string][] = [
      ["http://partner.example/hook", "A webhook URL must be https (or http to a loopback address)."],
      ["https://10.0.0.8/hook", "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address."],
      [
        "https://169.254.169.254/latest/meta-data",
        "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address.",
      ],
      ["https://100.64.1.1/hook", "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address."],
      [
        "https://[::ffff:127.0.0.1]/hook",
        "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address.",
      ],
      ["https://0.1.2.3/hook", "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address."],
      ["https://224.0.0.1/hook", "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address."],
      [
        "https://metadata.google.internal/hook",
        "A webhook URL must name a public host, not localhost, a metadata service or an internal name.",
      ],
    ];
    for (const [url, message] of cases) {
      const body = await gql(p.developer, CREATE, { clientId: p.client.clientId, input: { url, eventTypes: ["measurement.created"] } });
      expect(body.errors?.[0]?.message, url).toBe(message);
      expect(body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.url" });
    }
  });

  it("checks event types against the client's scopes, and owners only", async () => {
    const p = await partner(["measurement.created"], ["data:read"]);
    const noProfile = await gql(p.developer, CREATE, {
      clientId: p.client.clientId,
      input: { url: p.receiver.url, eventTypes: ["profile.updated"] },
    });
    expect(noProfile.errors[0].message).toBe("This client is not registered with profile:read, so it can never receive profile.updated.");
    const unknown = await gql(p.developer, CREATE, {
      clientId: p.client.clientId,
      input: { url: p.receiver.url, eventTypes: ["user.deleted"] },
    });
    expect(unknown.errors[0].message).toMatch(/^Unknown event type: "user.deleted"/);

    const other = await account("Someone else");
    const steal = await gql(other, CREATE, { clientId: p.client.clientId, input: { url: p.receiver.url, eventTypes: ["grant.revoked"] } });
    expect(steal.errors[0]).toMatchObject({ message: "OAuth client not found.", extensions: { code: "NOT_FOUND" } });
    for (const [mutation, vars] of [
      [`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }`, { id: p.endpointId }],
      [`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: p.endpointId }],
      [`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { id } }`, { id: p.endpointId }],
    ] as const) {
      const body = await gql(other, mutation, vars);
      expect(body.errors[0]).toMatchObject({ message: "Webhook endpoint not found.", extensions: { code: "NOT_FOUND" } });
    }
    // The other account sees the client through nothing, and the endpoint is untouched.
    expect(await endpointState(p)).toMatchObject({ id: p.endpointId, enabled: true });

    // A partner token never reaches these mutations, whatever its scopes.
    const { tokens } = await connectApp(server, as, other, p.client, p.auth, "data:read");
    const viaToken = await asPartner(tokens.access_token, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }`, {
      id: p.endpointId,
    });
    expect(viaToken.errors[0].extensions.code).toBe("FORBIDDEN");
  });

  it("stores the secret sealed, shows it once, and signs with both secrets during a rotation's grace period", async () => {
    const p = await partner(["measurement.created"]);
    const row = await server.db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: p.endpointId } });
    expect(row.secret).not.toContain(p.secret.slice(6));
    expect(row.secret.startsWith("ke1.")).toBe(true);
    expect(row.secretHint).toBe(p.secret.slice(-4));
    const listed = JSON.stringify(await gql(p.developer, ENDPOINTS, { clientId: p.client.clientId }));
    expect(listed).not.toContain(p.secret.slice(6, 20));

    const rotated = await gql(
      p.developer,
      `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { secretHint previousSecretExpiresAt } } }`,
      {
        id: p.endpointId,
      },
    );
    expect(rotated.errors).toBeUndefined();
    const next = rotated.data.rotateWebhookSecret.secret as string;
    expect(next).toMatch(/^whsec_/);
    expect(Date.parse(rotated.data.rotateWebhookSecret.endpoint.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    p.receiver.trust(next);
    await record(p.developer);
    const [got] = await p.receiver.waitFor((r) => r.length >= 1);
    expect(got!.signature.split(" ")).toHaveLength(2);
    expect(got!.verifiedWith.sort()).toEqual([p.secret, next].sort());

    // Without a grace period the old secret stops at once.
    const again = await gql(p.developer, `mutation($id: ID!) { rotateWebhookSecret(id: $id, gracePeriodSeconds: 0) { secret } }`, {
      id: p.endpointId,
    });
    const third = again.data.rotateWebhookSecret.secret as string;
    p.receiver.trust(third);
    await record(p.developer);
    const [, last] = await p.receiver.waitFor((r) => r.length >= 2);
    expect(last!.verifiedWith).toEqual([third]);
  });

  it("a disabled endpoint gets nothing, and deleting one drops its deliveries", async () => {
    const p = await partner(["measurement.created"]);
    const off = await gql(p.developer, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { enabled } }`, {
      id: p.endpointId,
    });
    expect(off.data.updateWebhookEndpoint.enabled).toBe(false);
    await record(p.developer);
    expect(await deliveries(p)).toEqual([]);
    await gql(p.developer, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: true }) { enabled } }`, {
      id: p.endpointId,
    });
    await record(p.developer);
    await p.receiver.waitFor((r) => r.length >= 1);
    const gone = await gql(p.developer, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }`, { id: p.endpointId });
    expect(gone.data.deleteWebhookEndpoint.id).toBe(p.endpointId);
    expect(await server.db.prisma.webhookDelivery.count({ where: { endpointId: p.endpointId } })).toBe(0);
  });
});
