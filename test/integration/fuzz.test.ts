// Issue 12 item 5: fast-check throws malformed, huge, duplicated, wrongly
// encoded and wrongly typed values at every REST endpoint, every page, the MCP
// endpoint (and each MCP tool's arguments) and every GraphQL argument. Every
// answer must be the protocol's own refusal (a 4xx with an error body, an
// `error` redirect to a registered redirect URI, an HTML page for page routes,
// a GraphQL `errors` entry, a JSON-RPC error on /mcp), never a 5xx, a hang or a
// stack trace; and /healthz is still ok at the end. The one 5xx allowed is the
// documented 502 of the connector routes for a provider that does not answer
// ("dead" below, deliberately unreachable): it says the upstream failed, which
// it did, not that this server did.
//
// Coverage is checked, not promised: ROUTES names the test that fuzzes each
// route of the app's own route table (createApp(...).routes), and a route
// without a line there fails "every route of the app has a fuzz entry" with its
// name; at the end each route must also have been reached by a request. Every
// GraphQL field that takes arguments is found in the schema (compared exactly
// with the schema's list), with the required arguments on the way to it filled
// from the fixtures, and each is executed at least once with valid values.
//
// The seed is fixed so that a run is repeatable; FUZZ_SEED=<n> changes it (a
// failure prints the seed and path to replay it with FUZZ_SEED and FUZZ_PATH),
// FUZZ_RUNS=<n> runs every property n times instead of its default count, and
// FUZZ_LOG=1 prints every request with its status, time and the start of the answer.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from "graphql";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import type { Config } from "../../src/config.ts";
import type { AppDeps } from "../../src/context.ts";
import { openDatabase } from "../../src/db/index.ts";
import { GRAPHIQL_ASSETS } from "../../src/graphql/graphiql.ts";
import { getSchema } from "../../src/graphql/schema.ts";
import { encodeCursor } from "../../src/lib/cursor.ts";
import { createLogger } from "../../src/lib/log.ts";
import { MeasurementType } from "../../src/generated/prisma/enums.ts";
import { MCP_TOOLS, type McpTool } from "../../src/mcp/tools.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { OAUTH_PATHS, WELL_KNOWN_PATHS } from "../../src/oauth/paths.ts";
import { STYLESHEET_URL } from "../../src/pages/assets.ts";
import { CONNECT_BUTTONS, connectButtonPath } from "../../src/pages/brand.ts";
import { DEVELOPERS_SCRIPT_PATH } from "../../src/pages/developers.ts";
import { startServer } from "../../src/server.ts";
import { createTestDatabase } from "../helpers/db.ts";
import {
  type Answer,
  anyJson,
  apiProblem,
  CONTENT_TYPES,
  connectorProblem,
  deepJson,
  EnumName,
  type Entries,
  Fx,
  type Fixtures,
  fixtureOr,
  formBody,
  graphqlProblem,
  HUGE,
  headerSafe,
  JsonEntries,
  jsonRpcProblem,
  jsonText,
  multipartBody,
  nastyString,
  pageProblem,
  percentEncode,
  problem,
  queryString,
  RAW_BODIES,
  RawJson,
  resolve,
  resolveString,
  wtf8,
} from "../helpers/fuzz.ts";
import { WebClient, setCookies } from "../helpers/http.ts";
import { DocumentServer, makeTestCertificates, type TestCertificates } from "../helpers/metadata-documents.ts";
import { authorizationUrl, discover, exchangeCode, location, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { freePort, testConfig, type TestServer } from "../helpers/server.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201);
const PATH = process.env.FUZZ_PATH;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
/** "answered within a few seconds" */
const TIMEOUT_MS = 5_000;
/** a longer URL and headers are refused by Node's HTTP parser itself (431, no body): not what this test is about */
const MAX_HEAD = 12_000;

const REDIRECT = "https://partner.example/callback";
const PUBLIC_REDIRECT = "http://localhost:3000/callback";
/** the redirect URI of the self-registered clients and of the client metadata document */
const LOOPBACK_REDIRECT = "http://127.0.0.1/callback";
const SCOPES = ["openid", "offline_access", "profile:read", "data:read", "data:write"];
const EVENT_TYPES = [
  "measurement.created",
  "measurement.updated",
  "measurement.deleted",
  "profile.updated",
  "grant.revoked",
  "grant.narrowed",
];
const CONNECTORS = "/v1/connectors/oauth";
/** The connector providers: this server itself (a real provider, so flows go all the way), and one nobody answers for. */
const SELF_PROVIDER = "self";
const DEAD_PROVIDER = "dead";
const SELF_CONNECTOR_CLIENT_ID = "fuzz-self-connector";
const HTML_ACCEPT = "text/html,application/xhtml+xml";
const MCP_ACCEPT = "application/json, text/event-stream";

/** Date-times and dates, valid, impossible and out of range. */
const DATE_TIMES = [
  "2026-01-01T08:00:00Z",
  "2024-02-29T08:00:00Z",
  "2025-02-30T08:00:00Z",
  "2025-06-01T24:00:00Z",
  "2025-01-01",
  "0000-01-01T00:00:00Z",
  "+275760-09-13T00:00:00.000Z",
  "2025-01-01T00:00:00+99:00",
];
const DATES = ["2000-02-29", "2001-02-29", "1990-02-30", "0000-00-00", "99999-01-01", "2000-1-1", "2000-01-01T00:00:00Z"];

/**
 * The server's settings beyond a test server's defaults: every surface on
 * (registration, metadata documents, /metrics, loopback webhooks and metadata
 * documents), and per-address limits out of the way (every request comes from
 * 127.0.0.1; the limits have tests of their own).
 */
const ENV = {
  SIGN_IN_MAX_PER_ADDRESS: "100000",
  SIGN_UP_MAX_PER_ADDRESS: "100000",
  CLIENT_REGISTRATION_MAX_PER_ADDRESS: "100000",
  CLIENT_REGISTRATION: "open",
  CLIENT_ID_METADATA_DOCUMENTS: "on",
  CIMD_ALLOW_LOOPBACK: "true",
  WEBHOOKS_ALLOW_LOOPBACK: "true",
  METRICS_TOKEN: "fuzz-metrics-token-0123456789",
};

let server: TestServer;
let config: Config;
let certs: TestCertificates;
let docs: DocumentServer;
let receiver: http.Server;
let scratch: string;
const F: Fixtures = {};

/**
 * A server as startTestServer starts one, except that its configuration is
 * built here: the metadata documents' resolver must trust the test CA (its
 * `ca` option, which no environment variable sets), and the connectors file
 * names this server's own port.
 */
async function startFuzzServer(port: number, env: Record<string, string>): Promise<TestServer> {
  const testDb = await createTestDatabase();
  const base = testConfig(port, env);
  config = {
    ...base,
    database: testDb.target,
    clientMetadataDocuments: { ...base.clientMetadataDocuments, ca: certs.ca } as Config["clientMetadataDocuments"],
  };
  const db = await openDatabase(testDb.target, { pool: config.databasePool });
  const running = await startServer(config, createLogger(process.env.TEST_LOG_LEVEL ?? "silent", false), { db });
  return Object.assign(running, {
    issuer: `http://127.0.0.1:${port}`,
    async stop() {
      await running.close(1_000);
      await db.close();
      await testDb.drop();
    },
  });
}

/** A GraphQL request with the fuzz user's session; throws unless it answers data without errors. */
async function accountGraphql(web: WebClient, csrf: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const r = await web.graphql(query, { csrf, variables });
  if (!r.body?.data || r.body.errors) throw new Error(`${query}: ${r.res.status} ${r.text.slice(0, 500)}`);
  return r.body.data;
}

/** A registration through POST /v1/oauth/register: its client_id and registration access token. */
async function selfRegistered(name: string): Promise<{ id: string; token: string }> {
  const res = await fetch(`${server.url}${OAUTH_PATHS.register}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [LOOPBACK_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "profile:read data:read",
    }),
  });
  const body = (await res.json()) as { client_id?: string; registration_access_token?: string };
  if (res.status !== 201 || !body.client_id || !body.registration_access_token)
    throw new Error(`registration: ${res.status} ${JSON.stringify(body)}`);
  return { id: body.client_id, token: body.registration_access_token };
}

/** A client_credentials access token of a confidential client. */
async function clientToken(clientId: string, secret: string, scope: string, resource?: string): Promise<string> {
  const res = await fetch(`${server.url}${OAUTH_PATHS.token}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope, ...(resource ? { resource } : {}) }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`client_credentials: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

beforeAll(async () => {
  certs = makeTestCertificates();
  docs = await DocumentServer.start(certs);
  // Webhook deliveries go here (WEBHOOKS_ALLOW_LOOPBACK).
  receiver = http.createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const port = await freePort();
  scratch = mkdtempSync(join(tmpdir(), "scopegate-fuzz-"));
  const connectorsFile = join(scratch, "connectors.json");
  writeFileSync(
    connectorsFile,
    JSON.stringify({
      providers: [
        {
          slug: SELF_PROVIDER,
          name: "Scopegate itself",
          issuer: `http://127.0.0.1:${port}`,
          clientId: SELF_CONNECTOR_CLIENT_ID,
          scopes: ["openid", "offline_access", "data:read"],
          allowInsecureLoopback: true,
        },
        // Nobody listens there: every flow that reaches it answers 502.
        { slug: DEAD_PROVIDER, issuer: `http://127.0.0.1:${await freePort()}`, clientId: "dead", allowInsecureLoopback: true },
      ],
    }),
  );
  server = await startFuzzServer(port, { ...ENV, CONNECTORS_FILE: connectorsFile });
  const as = await discover(server);
  const signed = await signedInUser(server, "Fuzz");
  const web = signed.web;
  const userId = signed.user.id;
  const csrf = await web.csrfFrom("/logout");
  const conf = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read", "data:write"],
  });
  const pub = await registerClient(server, userId, { redirectUris: [PUBLIC_REDIRECT] });
  // What the GraphQL mutations may revoke, rotate and delete, so that the REST fixtures stay usable.
  const victim = await registerClient(server, userId, { type: "CONFIDENTIAL", name: "Victim", redirectUris: [REDIRECT] });
  const victimGrant = await server.db.prisma.grant.create({ data: { userId, clientId: victim.client.id, scopes: ["profile:read"] } });
  const measurement = await server.db.prisma.measurement.create({
    data: { userId, type: "HEART_RATE", value: 70, unit: "bpm", recordedAt: new Date("2026-01-01T08:00:00Z") },
  });
  const victimMeasurement = await server.db.prisma.measurement.create({
    data: { userId, type: "STEPS", value: 1000, unit: "count", recordedAt: new Date("2026-01-01T09:00:00Z") },
  });
  // A first-party app (its token may start connector flows) and an assistant with tokens for the MCP resource.
  const firstParty = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    name: "First party",
    firstParty: true,
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read"],
  });
  const assistant = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    name: "Assistant",
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read", "data:write"],
  });
  // The client this server's own connector ("self") uses at this server: public, PKCE, its callback registered.
  const selfConnector = await registerClient(server, userId, {
    name: "Self connector",
    redirectUris: [`${server.url}${CONNECTORS}/${SELF_PROVIDER}/callback`],
    scopes: ["data:read"],
  });
  await server.db.prisma.oAuthClient.update({ where: { id: selfConnector.client.id }, data: { clientId: SELF_CONNECTOR_CLIENT_ID } });

  // A user's tokens through the real code flow (openid, so that userinfo answers), then one more code, unused.
  const client = { client_id: conf.client.clientId };
  const auth = oauth.ClientSecretBasic(conf.clientSecret!);
  const first = await authorizationUrl(as, client.client_id, REDIRECT, "openid offline_access profile:read data:read");
  let res = await web.fetch(first.url.pathname + first.url.search);
  if (res.status === 200) res = (await submitConsent(web, await res.text(), { decision: "allow" })).res;
  const callback = oauth.validateAuthResponse(as, client, location(res, server.url), first.state);
  const tokens = await exchangeCode(as, client, auth, callback, REDIRECT, first.verifier, first.nonce);
  const second = await authorizationUrl(as, client.client_id, REDIRECT, "openid profile:read");
  res = await web.fetch(second.url.pathname + second.url.search);
  const code = location(res, server.url).searchParams.get("code");
  if (!code) throw new Error(`no second code: ${res.status} ${res.headers.get("location")}`);

  const ccToken = await clientToken(conf.client.clientId, conf.clientSecret!, "profile:read data:read data:write");
  const mcpResource = `${server.issuer}/mcp`;

  // A connection to "self" made through the whole flow, and three flows started and left open (their state and cookie).
  res = await web.fetch(`${CONNECTORS}/${SELF_PROVIDER}/authorize`, { headers: { accept: HTML_ACCEPT } });
  res = await web.fetch(pathOf(location(res, server.url)));
  if (res.status === 200) res = (await submitConsent(web, await res.text(), { decision: "allow" })).res;
  res = await web.fetch(pathOf(location(res, server.url)), { headers: { accept: HTML_ACCEPT } });
  if (res.status !== 303) throw new Error(`connecting to ${SELF_PROVIDER}: ${res.status} ${await res.text()}`);
  const flows: Record<string, string> = {};
  for (let i = 0; i < 3; i++) {
    const started = await web.fetch(`${CONNECTORS}/${SELF_PROVIDER}/authorize`, { headers: { accept: "application/json" } });
    const url = new URL(((await started.json()) as { authorization_url: string }).authorization_url);
    const cookie = setCookies(started).find((c) => c.name.startsWith("sg_connect_"));
    if (!cookie) throw new Error("no flow cookie");
    flows[`connectState${i}`] = url.searchParams.get("state")!;
    flows[`connectCookie${i}`] = `${cookie.name}=${cookie.value}`;
  }

  // Webhook endpoints of the confidential client, and a delivery: a measurement recorded while its grant is live.
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const create = `mutation($c: ID!, $u: String!) { createWebhookEndpoint(clientId: $c, input: { url: $u, eventTypes: ["measurement.created"] }) { endpoint { id } } }`;
  const endpointId = (await accountGraphql(web, csrf, create, { c: conf.client.clientId, u: hookUrl })).createWebhookEndpoint.endpoint.id;
  const victimEndpointId = (await accountGraphql(web, csrf, create, { c: conf.client.clientId, u: hookUrl })).createWebhookEndpoint.endpoint
    .id;
  const recorded = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ccToken}` },
    body: JSON.stringify({
      query: `mutation { recordMeasurement(input: { type: HEART_RATE, value: 71, unit: "bpm", recordedAt: "2026-01-02T08:00:00Z" }) { id } }`,
    }),
  });
  if (recorded.status !== 200) throw new Error(`recordMeasurement: ${recorded.status} ${await recorded.text()}`);
  const deliveriesQuery = `query($c: ID!) { viewer { oauthClient(clientId: $c) { webhookEndpoints { id deliveries(first: 1) { edges { node { id } } pageInfo { endCursor } } } } } }`;
  let delivery: { id: string; cursor: string } | undefined;
  for (let i = 0; i < 100 && !delivery; i++) {
    const data = await accountGraphql(web, csrf, deliveriesQuery, { c: conf.client.clientId });
    const endpoint = data.viewer.oauthClient.webhookEndpoints.find((e: { id: string }) => e.id === endpointId);
    const edge = endpoint?.deliveries.edges[0];
    if (edge) delivery = { id: edge.node.id, cursor: endpoint.deliveries.pageInfo.endCursor };
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (!delivery) throw new Error("no webhook delivery");
  const audit = await accountGraphql(web, csrf, "{ viewer { auditLog(first: 1) { pageInfo { endCursor } } } }");

  const registration = await selfRegistered("Fuzz assistant");
  const victimRegistration = await selfRegistered("Fuzz victim assistant");
  const docClientId = docs.document("/client.json", {
    client_name: "Fuzz document client",
    redirect_uris: [LOOPBACK_REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    token_endpoint_auth_method: "none",
    scope: "openid offline_access profile:read data:read",
  });

  // The metadata document resolves (the resolver trusts the test CA): its client gets the consent page.
  const viaDocument = await authorizationUrl(as, docClientId, LOOPBACK_REDIRECT, "openid profile:read");
  res = await web.fetch(pathOf(viaDocument.url));
  if (res.status !== 200 || !/name="decision"/.test(await res.text())) throw new Error(`metadata document client: ${res.status}`);

  // A signed-out browser's double-submit CSRF cookie and token (sign-in, sign-up).
  const anonymous = new WebClient(server.url);
  const preCsrf = await anonymous.csrfFrom("/login");

  Object.assign(F, {
    confId: conf.client.clientId,
    confSecret: conf.clientSecret!,
    pubId: pub.client.clientId,
    victimClientId: victim.client.clientId,
    redirect: REDIRECT,
    pubRedirect: PUBLIC_REDIRECT,
    loopbackRedirect: LOOPBACK_REDIRECT,
    graphqlResource: `${server.issuer}/graphql`,
    mcpResource,
    issuer: server.issuer,
    origin: server.url,
    code,
    verifier: second.verifier,
    challenge: second.challenge,
    refresh: tokens.refresh_token!,
    userToken: tokens.access_token,
    idToken: tokens.id_token ?? "",
    ccToken,
    firstPartyToken: await clientToken(firstParty.client.clientId, firstParty.clientSecret!, "profile:read"),
    mcpToken: await clientToken(assistant.client.clientId, assistant.clientSecret!, "profile:read data:read data:write", mcpResource),
    mcpNarrowToken: await clientToken(assistant.client.clientId, assistant.clientSecret!, "profile:read", mcpResource),
    metricsToken: ENV.METRICS_TOKEN,
    userId,
    email: signed.email,
    grantId: victimGrant.id,
    measurementId: measurement.id,
    victimMeasurementId: victimMeasurement.id,
    cursor: encodeCursor({ at: measurement.recordedAt, id: measurement.id }),
    auditCursor: audit.viewer.auditLog.pageInfo.endCursor ?? "",
    endpointId,
    victimEndpointId,
    deliveryId: delivery.id,
    deliveryCursor: delivery.cursor ?? "",
    hookUrl,
    provider: SELF_PROVIDER,
    deadProvider: DEAD_PROVIDER,
    ...flows,
    regClientId: registration.id,
    regToken: registration.token,
    regVictimId: victimRegistration.id,
    regVictimToken: victimRegistration.token,
    docClientId,
    docNotJson: docs.set("/not-json.json", { body: "<html>not json</html>", headers: { "content-type": "text/html" } }),
    docWithSecret: docs.document("/secret.json", {
      redirect_uris: [LOOPBACK_REDIRECT],
      token_endpoint_auth_method: "client_secret_basic",
      client_secret: "s3cret",
    }),
    docOtherId: docs.document("/other-id.json", { client_id: "https://other.example/client.json", redirect_uris: [LOOPBACK_REDIRECT] }),
    docTooLarge: docs.set("/large.json", { body: { client_id: docs.url("/large.json"), padding: "x".repeat(10_000) } }),
    docMissing: docs.url("/missing.json"),
    docDead: `https://127.0.0.1:${await freePort()}/client.json`,
    sessionCookie: `sg_session=${web.jar.get("sg_session")}`,
    csrf,
    preCookie: anonymous.jar.header()!,
    preCsrf,
  });
  ROUTE_TABLE.push(...routeTable());
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await docs?.close();
  certs?.remove();
  await new Promise((r) => receiver?.close(r));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A URL's path and query, as a request on this server. */
function pathOf(url: URL): string {
  return url.pathname + url.search;
}

// ---------------------------------------------------------------- the routes and who fuzzes them

/** The tests, by title (ROUTES names them). */
const T = {
  token: "token endpoint, every grant type",
  introspection: "introspection and revocation",
  userinfo: "userinfo, GET and POST",
  discovery: "discovery, JWKS, health and metrics",
  assets: "static assets: the pages' stylesheet and script, GraphiQL's files, the brand buttons",
  authorizeGet: "authorization endpoint, GET",
  authorizePost: "authorization endpoint, POST (the consent form)",
  register: "dynamic client registration (RFC 7591) and its management (RFC 7592)",
  connectors: "connector routes: authorize and callback",
  mcp: "MCP endpoint: JSON-RPC messages and each tool's arguments",
  pages: "pages, GET",
  forms: "page forms, POST",
  graphqlArguments: "each argument of each field and mutation, in variables and inline",
  graphqlRequests: "requests that no GraphQL client would send: wrong shapes, encodings, content types, nesting",
} as const;

/**
 * Each route of the app ("METHOD path" as in its route table) and the test
 * that sends it hostile requests. A new route fails "every route of the app
 * has a fuzz entry" until it has its line here and requests in that test.
 */
const ROUTES: Record<string, string> = {
  "GET /healthz": T.discovery,
  "GET /metrics": T.discovery,
  "GET /.well-known/oauth-authorization-server": T.discovery,
  "GET /.well-known/openid-configuration": T.discovery,
  "GET /.well-known/oauth-protected-resource": T.discovery,
  "GET /.well-known/oauth-protected-resource/graphql": T.discovery,
  "GET /.well-known/oauth-protected-resource/mcp": T.discovery,
  "GET /v1/oauth/jwks": T.discovery,
  [`GET ${GRAPHIQL_ASSETS}/favicon.ico`]: T.assets,
  [`GET ${GRAPHIQL_ASSETS}/:file`]: T.assets,
  [`GET ${STYLESHEET_URL}`]: T.assets,
  [`GET ${DEVELOPERS_SCRIPT_PATH}`]: T.assets,
  ...Object.fromEntries(CONNECT_BUTTONS.map((b) => [`GET ${connectButtonPath(b.name)}`, T.assets])),
  "GET /v1/oauth/authorize": T.authorizeGet,
  "POST /v1/oauth/authorize": T.authorizePost,
  "POST /v1/oauth/token": T.token,
  "POST /v1/oauth/revoke": T.introspection,
  "POST /v1/oauth/introspect": T.introspection,
  "GET /v1/oauth/userinfo": T.userinfo,
  "POST /v1/oauth/userinfo": T.userinfo,
  "POST /v1/oauth/register": T.register,
  "GET /v1/oauth/register/:clientId": T.register,
  "PUT /v1/oauth/register/:clientId": T.register,
  "DELETE /v1/oauth/register/:clientId": T.register,
  [`GET ${CONNECTORS}/:provider/authorize`]: T.connectors,
  [`GET ${CONNECTORS}/:provider/callback`]: T.connectors,
  "POST /mcp": T.mcp,
  "GET /mcp": T.mcp,
  "DELETE /mcp": T.mcp,
  "GET /": T.pages,
  "GET /signup": T.pages,
  "GET /login": T.pages,
  "GET /logout": T.pages,
  "GET /account": T.pages,
  "GET /account/apps": T.pages,
  "GET /account/apps/:grantId/revoke": T.pages,
  "GET /account/activity": T.pages,
  "GET /account/password": T.pages,
  "GET /account/export": T.pages,
  "GET /account/delete": T.pages,
  "GET /account/connections": T.pages,
  "GET /developers": T.pages,
  "POST /signup": T.forms,
  "POST /login": T.forms,
  "POST /logout": T.forms,
  "POST /account/apps/:grantId/revoke": T.forms,
  "POST /account/apps/:grantId/scopes": T.forms,
  "POST /account/password": T.forms,
  "POST /account/export": T.forms,
  "POST /account/delete": T.forms,
  "POST /account/connections/:provider/disconnect": T.forms,
  "GET /graphql": T.graphqlRequests,
  "POST /graphql": T.graphqlArguments,
  "OPTIONS /graphql": T.graphqlRequests,
};

interface Route {
  key: string;
  method: string;
  pattern: RegExp;
}

/** The app's route table as this test's server has it (same configuration); filled in beforeAll. */
const ROUTE_TABLE: Route[] = [];

/**
 * The routes of createApp(...) with the server's configuration. Only the table
 * is read: no request reaches the stand-in dependencies. Entries with method
 * ALL are middleware (app.use), not routes.
 */
function routeTable(): Route[] {
  const deps = { config, logger: createLogger("silent", false), metrics: new Metrics() };
  const routes = new Map<string, Route>();
  for (const r of createApp(deps as unknown as AppDeps).routes) {
    if (r.method === "ALL") continue;
    const key = `${r.method} ${r.path}`;
    const pattern = r.path
      .split(/(\/:[A-Za-z_]\w*(?:\{[^}]*\})?\??|\*)/)
      .map((part, i) => (i % 2 ? (part === "*" ? ".*" : "/[^/]+") : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
      .join("");
    routes.set(key, { key, method: r.method, pattern: new RegExp(`^${pattern}$`) });
  }
  return [...routes.values()];
}

/** Requests per route that reached it (not the not-found answer), and the tests that ran to the end. */
const reached = new Map<string, number>();
const finished = new Set<string>();

function countReached(req: Req, a: Answer): void {
  if (a.status === 404 && /"No route for /.test(a.text)) return;
  const pathname = new URL(req.path, server.url).pathname;
  const method = req.method === "HEAD" ? "GET" : req.method;
  for (const r of ROUTE_TABLE) {
    if (r.method === method && r.pattern.test(pathname)) reached.set(r.key, (reached.get(r.key) ?? 0) + 1);
  }
}

// ---------------------------------------------------------------- sending and judging

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

async function send(req: Req, retried = false): Promise<Answer | string> {
  const started = performance.now();
  try {
    const res = await fetch(`${server.url}${req.path}`, {
      method: req.method,
      headers: req.headers,
      body: req.body ? new Uint8Array(req.body) : undefined,
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    const answer = { status: res.status, headers: res.headers, text, ms: performance.now() - started };
    countReached(req, answer);
    return answer;
  } catch (err) {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    // A kept-alive connection the server closed (idle) as the request went out on it: seen only on a loaded
    // machine, and not the request's doing. Sent once more; a request that itself breaks the connection
    // breaks it again and fails.
    if (!retried && (cause?.code === "UND_ERR_SOCKET" || cause?.code === "ECONNRESET")) {
      if (process.env.FUZZ_LOG) console.log(`retried after ${cause.code} ${cause.message}`);
      return send(req, true);
    }
    return `no answer: ${(err as Error).message}${cause ? ` (${cause.code ?? ""} ${cause.message ?? ""})` : ""}`;
  }
}

function summary(req: Req): string {
  const body = req.body ? ` body ${JSON.stringify(req.body.toString("latin1").slice(0, 300))}` : "";
  return `${req.method} ${req.path.slice(0, 300)} ${JSON.stringify(req.headers ?? {}).slice(0, 300)}${body}`;
}

/**
 * Sends the request and throws, saying what was sent and what came back, unless
 * the answer passes. `documented`: an answer of 500 or more that the
 * documentation gives for this request (it must still pass the surface's check).
 */
async function judge(req: Req, surface: (a: Answer) => string | null, documented?: (a: Answer) => boolean): Promise<void> {
  const headerBytes = Object.entries(req.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
  fc.pre(new URL(req.path, server.url).href.length + headerBytes <= MAX_HEAD);
  const a = await send(req);
  if (process.env.FUZZ_LOG) {
    const answer = typeof a === "string" ? a : `${a.status} ${Math.round(a.ms)} ms <- ${JSON.stringify(a.text.slice(0, 160))}`;
    console.log(answer, summary(req).slice(0, 400));
  }
  // A HEAD answer has no body to judge.
  const wrong = typeof a === "string" ? a : problem(a, req.method === "HEAD" ? null : surface(a), TIMEOUT_MS, documented?.(a) ?? false);
  if (wrong) {
    const shown = typeof a === "string" ? "" : `\n<- ${a.status} ${a.headers.get("content-type")} ${a.text.slice(0, 500)}`;
    throw new Error(`${wrong}\n-> ${summary(req)}${shown}`);
  }
}

/** The test's time limit for a property of `runs` runs by default: ample on a loaded 2-core machine. */
function timeoutFor(runs: number): number {
  return Math.max(60_000, (RUNS ?? runs) * 300);
}

/** Runs the property; a failure says how to replay it (the same seed and path find the same case first). */
async function assertProperty<T>(arb: fc.Arbitrary<T>, runs: number, predicate: (plan: T) => Promise<void>) {
  const details = await fc.check(fc.asyncProperty(arb, predicate), {
    seed: SEED,
    ...(PATH ? { path: PATH } : {}),
    numRuns: RUNS ?? runs,
    // Stopped short of the test's time limit, so that a failure found is reported even when shrinking it takes long.
    interruptAfterTimeLimit: timeoutFor(runs) - 15_000,
    markInterruptAsFailure: true,
  });
  if (details.failed) {
    const title = expect.getState().currentTestName?.split(" > ").at(-1) ?? "";
    const replay = `Replay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ""} TEST_DATABASES=${process.env.TEST_DATABASE} npx vitest run test/integration/fuzz.test.ts -t ${JSON.stringify(title)}`;
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${await fc.asyncDefaultReportMessage(details)}\n${cause}\n${replay}`);
  }
  finished.add(expect.getState().currentTestName?.split(" > ").at(-1) ?? "");
}

const registered = () => [F.redirect!, F.pubRedirect!, F.loopbackRedirect!];

// ---------------------------------------------------------------- arbitraries shared by the REST endpoints

const scope = fc.oneof(
  { weight: 2, arbitrary: fc.subarray(SCOPES).map((s) => s.join(" ")) },
  { weight: 1, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.tuple(fc.subarray(SCOPES), nastyString).map(([s, n]) => [...s, n].join(" ")) },
);

/** A value for a parameter: mostly a string (a fixture or hostile), sometimes another JSON type or something huge. */
function param(arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 12, arbitrary: arb }, { weight: 2, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constantFrom(...HUGE) });
}

/** Known parameters, each present or not, and then a few more (unknown names, or known ones again). */
function params(known: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<[string, unknown][]> {
  const names = Object.keys(known);
  const present = names.map((k) =>
    fc.option(
      param(known[k]!).map((v): [string, unknown] => [k, v]),
      { freq: 2, nil: null },
    ),
  );
  const extraName = names.length ? fc.oneof(fc.constantFrom(...names), nastyString) : nastyString;
  const extra = fc.array(fc.tuple(extraName, param(nastyString)), { maxLength: 2 });
  return fc.tuple(fc.tuple(...present), extra).map(([p, e]) => [...p.filter((x): x is [string, unknown] => x !== null), ...e]);
}

/**
 * A complete, valid request with one or two of its parameters replaced by
 * something hostile, removed, repeated, or one added: the hostile value reaches
 * the checks that come after the ones a random request already fails.
 */
function nearlyValid(base: [string, unknown][]): fc.Arbitrary<[string, unknown][]> {
  const edit = fc.record({
    kind: fc.constantFrom("replace", "remove", "repeat", "add"),
    at: fc.nat(),
    name: nastyString,
    value: param(nastyString),
  });
  return fc.array(edit, { minLength: 1, maxLength: 2 }).map((edits) => {
    const out = [...base];
    for (const e of edits) {
      const i = e.at % Math.max(out.length, 1);
      const [name] = out[i] ?? [e.name];
      if (e.kind === "replace") out[i] = [name, e.value];
      else if (e.kind === "remove") out.splice(i, 1);
      else if (e.kind === "repeat") out.push([name, e.value]);
      else out.push([e.name, e.value]);
    }
    return out;
  });
}

type Encoding = { enc: "form" | "form-raw" | "json" | "multipart" | "raw"; contentType: string | null; raw: Buffer };
const encoding: fc.Arbitrary<Encoding> = fc.record({
  enc: fc.oneof(
    { weight: 4, arbitrary: fc.constant("form" as const) },
    { weight: 2, arbitrary: fc.constantFrom("form-raw" as const, "json" as const) },
    { weight: 1, arbitrary: fc.constantFrom("multipart" as const, "raw" as const) },
  ),
  contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 6, nil: null }),
  raw: RAW_BODIES,
});

const asText = (v: unknown) => (typeof v === "string" ? v : jsonText(v));

function resolvedEntries(entries: [string, unknown][]): Entries {
  return entries.map(([k, v]) => [k, asText(resolve(v, F))]);
}

/** The body and its content type, encoded as planned (the content type may be a wrong one). */
function body(entries: [string, unknown][], e: Encoding): { body: Buffer; type: string } {
  let out: { body: Buffer; type: string };
  switch (e.enc) {
    case "form":
    case "form-raw":
      out = { body: formBody(resolvedEntries(entries), e.enc === "form-raw"), type: "application/x-www-form-urlencoded" };
      break;
    case "json":
      out = { body: wtf8(jsonText(new JsonEntries(entries.map(([k, v]) => [k, resolve(v, F)])))), type: "application/json" };
      break;
    case "multipart":
      out = { body: multipartBody(resolvedEntries(entries), "fuzzboundary"), type: "multipart/form-data; boundary=fuzzboundary" };
      break;
    case "raw":
      out = { body: e.raw, type: "application/octet-stream" };
  }
  return e.contentType === null ? out : { ...out, type: e.contentType };
}

type Auth =
  | { kind: "none" }
  | { kind: "basic"; id: string | Fx; secret: string | Fx; encode: boolean }
  | { kind: "header"; value: string }
  | { kind: "bearer"; token: string | Fx };

const clientAuth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: "none" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("basic" as const),
      id: fixtureOr("confId", "pubId"),
      secret: fixtureOr("confSecret"),
      encode: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("header" as const),
      value: fc.tuple(fc.constantFrom("Basic ", "Bearer ", "basic  ", "Digest ", ""), nastyString).map(([a, b]) => a + b),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr("userToken", "ccToken", "refresh", "idToken") }),
  },
);

function authorization(a: Auth): Record<string, string> {
  switch (a.kind) {
    case "none":
      return {};
    case "basic": {
      const id = resolveString(a.id, F);
      const secret = resolveString(a.secret, F);
      const pair = a.encode ? `${percentEncode(id)}:${percentEncode(secret)}` : `${id}:${secret}`;
      return { authorization: `Basic ${wtf8(pair).toString("base64")}` };
    }
    case "header":
      return headerSafe(a.value) ? { authorization: headerSafe(a.value) } : {};
    case "bearer":
      return { authorization: `Bearer ${headerSafe(resolveString(a.token, F))}` };
  }
}

type CookieChoice = "none" | "session" | "pre" | "both" | "garbage";
const cookieChoice = fc.constantFrom<CookieChoice>("none", "session", "session", "pre", "both", "garbage");

function cookies(choice: CookieChoice, garbage: string): Record<string, string> {
  switch (choice) {
    case "none":
      return {};
    case "session":
      return { cookie: F.sessionCookie! };
    case "pre":
      return { cookie: F.preCookie! };
    case "both":
      return { cookie: `${F.sessionCookie}; ${F.preCookie}` };
    case "garbage":
      return { cookie: headerSafe(`sg_session=${garbage}; sg_csrf=${garbage}`) || "sg_session=" };
  }
}

function withQuery(path: string, entries: [string, unknown][], raw: boolean): string {
  const q = queryString(resolvedEntries(entries), raw);
  return q ? `${path}?${q}` : path;
}

// ---------------------------------------------------------------- MCP: JSON-RPC messages and tool arguments

const MEASUREMENT_TYPES = Object.values(MeasurementType);

/** A valid value for each argument name the tools take (an unknown name gets something hostile). */
const TOOL_ARGUMENTS: Record<string, { valid: unknown; arb: fc.Arbitrary<unknown> }> = {
  type: { valid: "HEART_RATE", arb: fc.oneof(fc.constantFrom(...MEASUREMENT_TYPES), nastyString) },
  value: {
    valid: 72,
    arb: fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, 5e-324, Number.NaN, "70"), fc.integer()),
  },
  unit: { valid: "bpm", arb: fc.oneof(fc.constantFrom("bpm", "count", "kg"), nastyString) },
  recordedAt: { valid: "2026-01-03T08:00:00Z", arb: fc.oneof(fc.constantFrom(...DATE_TIMES), nastyString) },
  from: { valid: "2025-01-01T00:00:00Z", arb: fc.oneof(fc.constantFrom(...DATE_TIMES), nastyString) },
  to: { valid: "2027-01-01T00:00:00Z", arb: fc.oneof(fc.constantFrom(...DATE_TIMES), nastyString) },
  first: { valid: 5, arb: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constantFrom(2 ** 31, 1.5, 1e21, "5")) },
  after: { valid: new Fx("cursor"), arb: fixtureOr("cursor") },
  id: { valid: new Fx("measurementId"), arb: fixtureOr("measurementId", "victimMeasurementId") },
};

/** Valid arguments for a tool (the one that deletes, deletes the measurement it updates: still a valid call). */
function validToolArguments(tool: McpTool): Record<string, unknown> {
  return Object.fromEntries(Object.keys(tool.input).map((k) => [k, TOOL_ARGUMENTS[k]?.valid ?? "x"]));
}

/** A tool's arguments: each known one present or not, of its type or hostile; sometimes extra ones or another JSON value. */
function toolArguments(tool: McpTool): fc.Arbitrary<unknown> {
  const known = Object.fromEntries(Object.keys(tool.input).map((k) => [k, TOOL_ARGUMENTS[k]?.arb ?? nastyString]));
  return fc.oneof(
    { weight: 4, arbitrary: params(known).map((entries) => new JsonEntries(entries)) },
    { weight: 3, arbitrary: nearlyValid(Object.entries(validToolArguments(tool))).map((entries) => new JsonEntries(entries)) },
    { weight: 1, arbitrary: anyJson },
  );
}

const jsonRpcId = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 1000 }) },
  { weight: 1, arbitrary: fc.constantFrom("id-1", null, -1, 1.5, 2 ** 53 + 1, true, [], {}) },
  { weight: 1, arbitrary: nastyString },
);

/** One JSON-RPC message to the server: mostly tool calls, also the other methods, notifications and replies. */
const mcpMessage: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...MCP_TOOLS).chain((tool) =>
      fc.record({
        jsonrpc: fc.constant("2.0"),
        id: jsonRpcId,
        method: fc.constant("tools/call"),
        params: fc.oneof(
          {
            weight: 8,
            arbitrary: fc.record({
              name: fc.oneof({ weight: 8, arbitrary: fc.constant(tool.name) }, { weight: 1, arbitrary: nastyString }),
              arguments: toolArguments(tool),
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record(
              { name: fc.constant(tool.name), arguments: toolArguments(tool), _meta: anyJson },
              { requiredKeys: ["name"] },
            ),
          },
        ),
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      jsonrpc: fc.constant("2.0"),
      id: jsonRpcId,
      method: fc.constant("initialize"),
      params: fc.oneof(
        fc.record({
          protocolVersion: fc.oneof(fc.constantFrom("2025-06-18", "2025-03-26"), nastyString),
          capabilities: fc.oneof(fc.constant({}), anyJson),
          clientInfo: fc.oneof(fc.record({ name: nastyString, version: nastyString }), anyJson),
        }),
        anyJson,
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        jsonrpc: fc.oneof({ weight: 6, arbitrary: fc.constant("2.0") }, { weight: 1, arbitrary: anyJson }),
        id: jsonRpcId,
        method: fc.oneof(
          fc.constantFrom(
            "tools/list",
            "ping",
            "notifications/initialized",
            "resources/list",
            "prompts/list",
            "logging/setLevel",
            "completion/complete",
          ),
          nastyString,
          anyJson,
        ),
        params: anyJson,
      },
      { requiredKeys: ["method"] },
    ),
  },
  // A reply to a request the server never sent.
  {
    weight: 1,
    arbitrary: fc.record({ jsonrpc: fc.constant("2.0"), id: jsonRpcId, result: anyJson, error: anyJson }, { requiredKeys: ["id"] }),
  },
);

/** A POST body (symbolic until sent): one message (sometimes with one top-level member spoiled), a batch, or not JSON-RPC at all. */
const mcpBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: mcpMessage },
  {
    weight: 2,
    arbitrary: mcpMessage
      .filter((m): m is Record<string, unknown> => !!m && typeof m === "object" && !Array.isArray(m))
      .chain((m) => nearlyValid(Object.entries(m)))
      .map((entries) => new JsonEntries(entries)),
  },
  { weight: 1, arbitrary: fc.array(mcpMessage, { maxLength: 3 }) },
  { weight: 1, arbitrary: anyJson },
  { weight: 2, arbitrary: RAW_BODIES },
);

// ---------------------------------------------------------------- the REST endpoints

describe("the routes", () => {
  it("every route of the app has a fuzz entry", () => {
    const table = ROUTE_TABLE.map((r) => r.key);
    expect(table.length).toBeGreaterThan(40);
    const missing = table.filter((key) => !(key in ROUTES));
    expect(missing, "routes of the app with no line in ROUTES (and no hostile requests in a test)").toEqual([]);
    const stale = Object.keys(ROUTES).filter((key) => !table.includes(key));
    expect(stale, "lines of ROUTES for routes the app does not have (any more)").toEqual([]);
  });
});

describe("every REST endpoint refuses hostile input with its own error", () => {
  it(
    T.token,
    async () => {
      const random = fc.record({
        grantType: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom("authorization_code", "refresh_token", "client_credentials") },
          { weight: 1, arbitrary: nastyString },
        ),
        params: params({
          code: fixtureOr("code"),
          redirect_uri: fixtureOr("redirect", "pubRedirect"),
          code_verifier: fixtureOr("verifier"),
          refresh_token: fixtureOr("refresh"),
          scope,
          resource: fixtureOr("graphqlResource", "mcpResource"),
          client_id: fixtureOr("confId", "pubId"),
          client_secret: fixtureOr("confSecret"),
        }),
        auth: clientAuth,
        encoding,
        cookie: cookieChoice,
      });
      const confidential: Auth = { kind: "basic", id: new Fx("confId"), secret: new Fx("confSecret"), encode: false };
      const nearly = fc.record({
        entries: fc
          .constantFrom<[string, unknown][]>(
            [
              ["grant_type", "client_credentials"],
              ["scope", "profile:read data:read"],
            ],
            [
              ["grant_type", "authorization_code"],
              ["code", new Fx("code")],
              ["redirect_uri", new Fx("redirect")],
              ["code_verifier", new Fx("verifier")],
            ],
            [
              ["grant_type", "refresh_token"],
              ["refresh_token", new Fx("refresh")],
            ],
          )
          .chain(nearlyValid),
        auth: fc.oneof({ weight: 3, arbitrary: fc.constant(confidential) }, { weight: 1, arbitrary: clientAuth }),
        encoding,
        cookie: cookieChoice,
      });
      const plan = fc.oneof(
        random.map((p) => ({ ...p, entries: [["grant_type", p.grantType], ...p.params] as [string, unknown][] })),
        nearly,
      );
      await assertProperty(plan, 120, async (p) => {
        const b = body(p.entries, p.encoding);
        await judge(
          {
            method: "POST",
            path: OAUTH_PATHS.token,
            headers: { "content-type": b.type, ...authorization(p.auth), ...cookies(p.cookie, "") },
            body: b.body,
          },
          apiProblem,
        );
      });
    },
    timeoutFor(120),
  );

  it(
    T.introspection,
    async () => {
      const plan = fc.record({
        path: fc.constantFrom(OAUTH_PATHS.introspect, OAUTH_PATHS.revoke),
        params: params({
          token: fixtureOr("userToken", "ccToken", "refresh", "idToken", "code"),
          token_type_hint: fc.oneof(fc.constantFrom("access_token", "refresh_token"), nastyString),
          client_id: fixtureOr("confId", "pubId"),
          client_secret: fixtureOr("confSecret"),
        }),
        auth: clientAuth,
        encoding,
      });
      await assertProperty(plan, 80, async (p) => {
        const b = body(p.params, p.encoding);
        await judge(
          { method: "POST", path: p.path, headers: { "content-type": b.type, ...authorization(p.auth) }, body: b.body },
          apiProblem,
        );
      });
    },
    timeoutFor(80),
  );

  it(
    T.userinfo,
    async () => {
      const plan = fc.record({
        method: fc.constantFrom("GET", "POST"),
        auth: fc.oneof(
          {
            weight: 3,
            arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr("userToken", "ccToken", "refresh", "idToken") }),
          },
          { weight: 1, arbitrary: clientAuth },
        ),
        params: params({ access_token: fixtureOr("userToken"), schema: nastyString }),
        raw: fc.boolean(),
        encoding,
      });
      await assertProperty(plan, 40, async (p) => {
        if (p.method === "GET") {
          await judge(
            { method: "GET", path: withQuery(OAUTH_PATHS.userinfo, p.params, p.raw), headers: authorization(p.auth) },
            apiProblem,
          );
        } else {
          const b = body(p.params, p.encoding);
          await judge(
            { method: "POST", path: OAUTH_PATHS.userinfo, headers: { "content-type": b.type, ...authorization(p.auth) }, body: b.body },
            apiProblem,
          );
        }
      });
    },
    timeoutFor(40),
  );

  it(
    T.discovery,
    async () => {
      const paths = [
        ...Object.values(WELL_KNOWN_PATHS),
        `${WELL_KNOWN_PATHS.protectedResource}/graphql`,
        `${WELL_KNOWN_PATHS.protectedResource}/mcp`,
        OAUTH_PATHS.jwks,
        "/healthz",
        "/metrics",
      ];
      const surface = (path: string) => (a: Answer) =>
        // The metrics are Prometheus text for the holder of METRICS_TOKEN.
        path === "/metrics" && a.status === 200 && /^text\/plain/.test(a.headers.get("content-type") ?? "") ? null : apiProblem(a);
      // Each path once as it is (whatever the seed, every route gets requests), then the property.
      for (const path of paths) await judge({ method: "GET", path, headers: { authorization: `Bearer ${F.metricsToken}` } }, surface(path));
      const plan = fc.record({
        path: fc.constantFrom(...paths, "/metrics"),
        method: fc.constantFrom("GET", "GET", "HEAD", "POST", "OPTIONS"),
        params: params({ resource: fixtureOr("graphqlResource", "mcpResource"), kid: nastyString }),
        raw: fc.boolean(),
        auth: fc.oneof(
          { weight: 3, arbitrary: clientAuth },
          { weight: 1, arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr("metricsToken") }) },
        ),
      });
      await assertProperty(plan, 40, async (p) => {
        await judge({ method: p.method, path: withQuery(p.path, p.params, p.raw), headers: authorization(p.auth) }, surface(p.path));
      });
    },
    timeoutFor(40),
  );

  it(
    T.assets,
    async () => {
      const paths = [
        STYLESHEET_URL,
        DEVELOPERS_SCRIPT_PATH,
        `${GRAPHIQL_ASSETS}/:file`,
        `${GRAPHIQL_ASSETS}/favicon.ico`,
        ...CONNECT_BUTTONS.map((b) => connectButtonPath(b.name)),
      ];
      // An asset, the one not-found answer (JSON), or a refusal: assets are under the pages' paths.
      const surface = (a: Answer) => (a.status >= 400 ? apiProblem(a) && pageProblem(a) : null);
      for (const path of paths) await judge({ method: "GET", path: path.replace(":file", "x") }, surface);
      const plan = fc.record({
        path: fc.constantFrom(...paths),
        file: nastyString,
        method: fc.constantFrom("GET", "HEAD", "POST"),
        params: params({ v: nastyString }),
        raw: fc.boolean(),
      });
      await assertProperty(plan, 30, async (p) => {
        const path = p.path.replace(":file", percentEncode(p.file) || "x");
        await judge({ method: p.method, path: withQuery(path, p.params, p.raw) }, surface);
      });
    },
    timeoutFor(30),
  );

  const AUTHORIZE: [string, unknown][] = [
    ["response_type", "code"],
    ["client_id", new Fx("confId")],
    ["redirect_uri", new Fx("redirect")],
    ["scope", "openid profile:read"],
    ["code_challenge", new Fx("challenge")],
    ["code_challenge_method", "S256"],
    ["state", "xyz"],
    ["nonce", "n"],
  ];
  /** The same, for a client whose client_id is the https URL of its metadata document. */
  const AUTHORIZE_DOCUMENT: [string, unknown][] = [
    ["response_type", "code"],
    ["client_id", new Fx("docClientId")],
    ["redirect_uri", new Fx("loopbackRedirect")],
    ["scope", "openid profile:read"],
    ["code_challenge", new Fx("challenge")],
    ["code_challenge_method", "S256"],
    ["state", "xyz"],
  ];
  /** Client ids: registered ones, self-registered ones, and metadata documents good, bad and unreachable. */
  const clientId = fc.oneof(
    { weight: 3, arbitrary: fixtureOr("confId", "pubId") },
    {
      weight: 2,
      arbitrary: fixtureOr(
        "docClientId",
        "docNotJson",
        "docWithSecret",
        "docOtherId",
        "docTooLarge",
        "docMissing",
        "docDead",
        "regClientId",
      ),
    },
  );
  const randomAuthorizeParams = params({
    response_type: fc.oneof(fc.constant("code"), nastyString),
    client_id: clientId,
    redirect_uri: fixtureOr("redirect", "pubRedirect", "loopbackRedirect"),
    scope,
    state: nastyString,
    code_challenge: fixtureOr("challenge"),
    code_challenge_method: fc.oneof(fc.constant("S256"), nastyString),
    nonce: nastyString,
    prompt: fc.oneof(fc.constantFrom("none", "login", "consent", "login consent"), nastyString),
    max_age: fc.oneof(fc.constantFrom("0", "60", "-1"), nastyString),
    response_mode: fc.oneof(fc.constantFrom("query", "fragment", "form_post"), nastyString),
    resource: fixtureOr("graphqlResource", "mcpResource"),
    request: nastyString,
    login_hint: fixtureOr("email"),
  });
  const authorizeParams = fc.oneof(randomAuthorizeParams, nearlyValid(AUTHORIZE), nearlyValid(AUTHORIZE_DOCUMENT));

  it(
    T.authorizeGet,
    async () => {
      const plan = fc.record({ params: authorizeParams, raw: fc.boolean(), cookie: cookieChoice, garbage: nastyString });
      await assertProperty(plan, 100, async (p) => {
        await judge(
          { method: "GET", path: withQuery(OAUTH_PATHS.authorize, p.params, p.raw), headers: cookies(p.cookie, p.garbage) },
          (a) => pageProblem(a, registered()),
        );
      });
    },
    timeoutFor(100),
  );

  it(
    T.authorizePost,
    async () => {
      const plan = fc.record({
        params: authorizeParams,
        form: fc.oneof(
          params({
            csrf: fixtureOr("csrf", "preCsrf"),
            decision: fc.oneof(fc.constantFrom("allow", "deny"), nastyString),
            grant_scope: fc.oneof(fc.constantFrom(...SCOPES), nastyString),
          }),
          nearlyValid([
            ["csrf", new Fx("csrf")],
            ["decision", "allow"],
            ["grant_scope", "profile:read"],
          ]),
        ),
        encoding,
        cookie: cookieChoice,
        garbage: nastyString,
      });
      await assertProperty(plan, 80, async (p) => {
        const b = body([...p.params, ...p.form], p.encoding);
        await judge(
          {
            method: "POST",
            path: OAUTH_PATHS.authorize,
            headers: { "content-type": b.type, ...cookies(p.cookie, p.garbage) },
            body: b.body,
          },
          (a) => pageProblem(a, registered()),
        );
      });
    },
    timeoutFor(80),
  );

  /** Client metadata (RFC 7591 §2), each field present or not, of the right type or not. */
  const metadataFields = {
    redirect_uris: fc.oneof(fc.array(fixtureOr("loopbackRedirect", "redirect"), { maxLength: 3 }), nastyString),
    client_name: nastyString,
    client_uri: fc.oneof(fc.constant("https://assistant.example"), nastyString),
    logo_uri: nastyString,
    grant_types: fc.oneof(fc.subarray(["authorization_code", "refresh_token", "client_credentials", "implicit"]), nastyString),
    response_types: fc.oneof(fc.subarray(["code", "token"]), nastyString),
    token_endpoint_auth_method: fc.oneof(fc.constantFrom("none", "client_secret_basic", "private_key_jwt"), nastyString),
    scope,
    contacts: fc.array(nastyString, { maxLength: 2 }),
    software_id: nastyString,
    jwks_uri: nastyString,
    client_id: fixtureOr("regClientId", "confId"),
    client_secret: nastyString,
  };
  const GOOD_METADATA: [string, unknown][] = [
    ["client_name", "Fuzz assistant"],
    ["redirect_uris", [new Fx("loopbackRedirect")]],
    ["grant_types", ["authorization_code", "refresh_token"]],
    ["response_types", ["code"]],
    ["token_endpoint_auth_method", "none"],
    ["scope", "profile:read data:read"],
  ];
  const metadata = fc.oneof(params(metadataFields), nearlyValid(GOOD_METADATA));
  /** Mostly JSON, as RFC 7591 has it; sometimes any other encoding. */
  const metadataEncoding = fc.oneof(
    { weight: 4, arbitrary: encoding.map((e) => ({ ...e, enc: "json" as const })) },
    { weight: 1, arbitrary: encoding },
  );

  it(
    T.register,
    async () => {
      const bearer = (...names: string[]) =>
        fc.oneof(
          { weight: 4, arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr(...names) }) },
          { weight: 1, arbitrary: clientAuth },
        );
      const registration = fc.record({
        method: fc.constant("POST"),
        metadata,
        encoding: metadataEncoding,
        auth: fc.oneof({ weight: 4, arbitrary: fc.constant<Auth>({ kind: "none" }) }, { weight: 1, arbitrary: clientAuth }),
      });
      // The management endpoint, with the registration's own token or another; DELETE only ever finds the victim.
      const management = fc.oneof(
        fc.record({
          method: fc.constantFrom("GET", "PUT"),
          clientId: fixtureOr("regClientId", "regVictimId", "confId", "pubId"),
          auth: bearer("regToken", "regVictimToken", "userToken"),
          metadata: fc.oneof(metadata, nearlyValid([["client_id", new Fx("regClientId")], ...GOOD_METADATA])),
          encoding: metadataEncoding,
          raw: fc.boolean(),
        }),
        fc.record({
          method: fc.constant("DELETE"),
          clientId: fixtureOr("regVictimId", "confId"),
          auth: bearer("regVictimToken", "regToken"),
          metadata: fc.constant([] as [string, unknown][]),
          encoding: metadataEncoding,
          raw: fc.boolean(),
        }),
      );
      const plan = fc.oneof(registration, management);
      await assertProperty(plan, 80, async (p) => {
        const b = body(p.metadata, p.encoding);
        let path: string = OAUTH_PATHS.register;
        if ("clientId" in p) {
          const id = resolveString(p.clientId, F);
          path = `${OAUTH_PATHS.register}/${p.raw ? id.replace(/[/?#]/g, "") || "x" : percentEncode(id) || "x"}`;
        }
        const withBody = p.method === "POST" || p.method === "PUT";
        await judge(
          {
            method: p.method,
            path,
            headers: { ...(withBody ? { "content-type": b.type } : {}), ...authorization(p.auth) },
            body: withBody ? b.body : undefined,
          },
          apiProblem,
        );
      });
    },
    timeoutFor(80),
  );

  it(
    T.connectors,
    async () => {
      const provider = fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(SELF_PROVIDER, DEAD_PROVIDER) },
        { weight: 1, arbitrary: fc.constantFrom("SELF", "self.", "selF", "self%2Fcallback", "%2e%2e", "self%00") },
        { weight: 1, arbitrary: nastyString },
      );
      const returnTo = fc.oneof(
        fc.constantFrom("/account/connections", "/account/connections?tab=1", "//evil.example", "https://evil.example"),
        nastyString,
      );
      const viewer = fc.constantFrom("session", "session", "first-party", "partner", "garbage-bearer", "none", "garbage-cookie");
      const authorize = fc.record({
        route: fc.constant("authorize" as const),
        provider,
        params: params({
          collection_id: nastyString,
          space_id: nastyString,
          connector_id: nastyString,
          tenant_id: nastyString,
          redirect_uri: returnTo,
        }),
        viewer,
        flow: fc.constant(null),
        accept: fc.constantFrom(HTML_ACCEPT, "application/json", "*/*", ""),
        raw: fc.boolean(),
        garbage: nastyString,
      });
      const callback = fc.integer({ min: 0, max: 2 }).chain((i) =>
        fc.record({
          route: fc.constant("callback" as const),
          provider,
          params: fc.oneof(
            params({
              state: fixtureOr(`connectState${i}`),
              code: nastyString,
              iss: fixtureOr("issuer"),
              error: fc.oneof(fc.constantFrom("access_denied", "server_error"), nastyString),
              error_description: nastyString,
            }),
            nearlyValid([
              ["state", new Fx(`connectState${i}`)],
              ["code", "not-a-code"],
              ["iss", new Fx("issuer")],
            ]),
          ),
          viewer,
          // The browser that started the flow shows its cookie (or another flow's, or none).
          flow: fc.option(fc.constantFrom(`connectCookie${i}`, `connectCookie${(i + 1) % 3}`), { freq: 2, nil: null }),
          accept: fc.constantFrom(HTML_ACCEPT, "application/json", "*/*", ""),
          raw: fc.boolean(),
          garbage: nastyString,
        }),
      );
      await assertProperty(fc.oneof(authorize, callback), 80, async (p) => {
        const cookie: string[] = [];
        const headers: Record<string, string> = p.accept ? { accept: p.accept } : {};
        if (p.viewer === "session") cookie.push(F.sessionCookie!);
        if (p.viewer === "garbage-cookie") cookie.push(headerSafe(`sg_session=${p.garbage}`) || "sg_session=");
        if (p.flow) cookie.push(F[p.flow]!);
        if (cookie.length) headers.cookie = cookie.join("; ");
        if (p.viewer === "first-party") headers.authorization = `Bearer ${F.firstPartyToken}`;
        if (p.viewer === "partner") headers.authorization = `Bearer ${F.userToken}`;
        if (p.viewer === "garbage-bearer") headers.authorization = headerSafe(`Bearer ${p.garbage}`) || "Bearer";
        const segment = p.provider.includes("%") ? p.provider : percentEncode(p.provider) || "x";
        const path = withQuery(`${CONNECTORS}/${segment}/${p.route}`, p.params, p.raw);
        // 502 is the documented answer (docs/connectors.md, "502") when the provider does not answer (the dead one
        // here), or when its answer at the callback fails the RFC 9207 check: this server declares that it sends `iss`,
        // so a callback without exactly one `iss` naming it is, from the provider, an invalid answer. Both say that
        // the upstream failed, not this server.
        const iss = p.params.filter(([k]) => k === "iss").map(([, v]) => resolve(v, F));
        const badIss = p.route === "callback" && !(iss.length === 1 && iss[0] === F.issuer);
        await judge(
          { method: "GET", path, headers },
          (a) => connectorProblem(a, [`${server.url}${OAUTH_PATHS.authorize}?`]),
          (a) => a.status === 502 && (p.provider === DEAD_PROVIDER || badIss),
        );
      });
    },
    timeoutFor(80),
  );

  it(
    T.mcp,
    async () => {
      // Each tool with valid arguments first: the fixtures and tokens reach the tools (so the fuzz below does too).
      for (const tool of MCP_TOOLS) {
        const res = await fetch(`${server.url}/mcp`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${F.mcpToken}` },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 1,
            method: "tools/call",
            params: { name: tool.name, arguments: resolve(validToolArguments(tool), F) },
          }),
        });
        const body = (await res.json()) as { result?: { isError?: boolean } };
        expect({ tool: tool.name, status: res.status, result: !!body.result }).toEqual({ tool: tool.name, status: 200, result: true });
      }
      const plan = fc.oneof(
        {
          weight: 8,
          arbitrary: fc.record({
            method: fc.constant("POST"),
            body: mcpBody,
            auth: fc.oneof(
              { weight: 8, arbitrary: fc.constant<Auth>({ kind: "bearer", token: new Fx("mcpToken") }) },
              { weight: 2, arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr("mcpToken") }) },
              { weight: 2, arbitrary: fc.constant<Auth>({ kind: "bearer", token: new Fx("mcpNarrowToken") }) },
              {
                weight: 1,
                arbitrary: fc.record({ kind: fc.constant("bearer" as const), token: fixtureOr("ccToken", "userToken", "regToken") }),
              },
              { weight: 1, arbitrary: clientAuth },
            ),
            accept: fc.oneof(
              { weight: 6, arbitrary: fc.constant(MCP_ACCEPT) },
              { weight: 1, arbitrary: fc.constantFrom("application/json", "text/event-stream", "*/*", "", "text/html") },
            ),
            contentType: fc.oneof(
              { weight: 6, arbitrary: fc.constant("application/json") },
              { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
            ),
            // Each header mostly absent (fc.option's freq is 1 in freq for the nil value).
            origin: fc.oneof(
              { weight: 6, arbitrary: fc.constant(null) },
              { weight: 1, arbitrary: fc.oneof(fixtureOr("origin"), fc.constantFrom("https://evil.example", "null")) },
            ),
            version: fc.oneof(
              { weight: 3, arbitrary: fc.constant(null) },
              { weight: 1, arbitrary: fc.oneof(fc.constantFrom("2025-06-18", "2025-03-26", "2024-11-05"), nastyString) },
            ),
            session: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: nastyString }),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            method: fc.constantFrom("GET", "DELETE"),
            body: fc.constant<unknown>(Buffer.alloc(0)),
            auth: fc.oneof(fc.constant<Auth>({ kind: "bearer", token: new Fx("mcpToken") }), clientAuth),
            accept: fc.constantFrom(MCP_ACCEPT, "text/event-stream", "*/*"),
            contentType: fc.constant(""),
            origin: fc.constant(null),
            version: fc.constant(null),
            session: fc.option(nastyString, { nil: null }),
          }),
        },
      );
      await assertProperty(plan, 120, async (p) => {
        const headers: Record<string, string> = { ...authorization(p.auth) };
        if (p.accept) headers.accept = p.accept;
        if (p.contentType) headers["content-type"] = p.contentType;
        if (p.origin !== null) headers.origin = headerSafe(resolveString(p.origin, F)) || "null";
        if (p.version !== null) headers["mcp-protocol-version"] = headerSafe(p.version) || "x";
        if (p.session !== null) headers["mcp-session-id"] = headerSafe(p.session) || "x";
        const body = Buffer.isBuffer(p.body) ? p.body : wtf8(jsonText(resolve(p.body, F)));
        await judge({ method: p.method, path: "/mcp", headers, body: p.method === "POST" ? body : undefined }, jsonRpcProblem);
      });
    },
    timeoutFor(120),
  );
});

// ---------------------------------------------------------------- the pages

/**
 * False when a generated path segment ("", "..", "%2e") made the URL another
 * path than the route's: no route answers it, and the one not-found answer is JSON.
 */
function routed(template: string, path: string): boolean {
  const pathname = new URL(path, server.url).pathname;
  return new RegExp(`^${template.replace(/:\w+/g, "[^/]+")}$`).test(pathname);
}

/** The template with its :grant and :provider segments filled (percent-encoded, or raw without what ends a segment). */
function fillSegments(template: string, grant: string | Fx, provider: string | Fx, raw: boolean): string {
  const fill = (v: string | Fx) => {
    const text = resolveString(v, F);
    return raw ? text.replace(/[/?#]/g, "") : percentEncode(text);
  };
  return template.replace(":grant", fill(grant)).replace(":provider", fill(provider));
}

describe("every page and its forms refuse hostile input with a page", () => {
  const returnTo = fc.oneof(fc.constantFrom("/", "/account", "/v1/oauth/authorize?client_id=x"), nastyString);

  it(
    T.pages,
    async () => {
      const paths = [
        "/",
        "/login",
        "/signup",
        "/logout",
        "/account",
        "/account/apps",
        "/account/activity",
        "/account/export",
        "/account/delete",
        "/account/password",
        "/developers",
        "/account/connections",
        "/account/apps/:grant/revoke",
      ];
      for (const path of paths) {
        await judge({ method: "GET", path: fillSegments(path, new Fx("grantId"), "", false), headers: cookies("session", "") }, (a) =>
          pageProblem(a),
        );
      }
      const plan = fc.record({
        path: fc.constantFrom(...paths),
        segment: fixtureOr("grantId"),
        rawSegment: fc.boolean(),
        params: params({
          return_to: returnTo,
          prompt: fc.oneof(fc.constant("login"), nastyString),
          app: fixtureOr("victimClientId", "confId"),
          after: fixtureOr("cursor"),
          revoked: fixtureOr("grantId"),
          updated: fixtureOr("grantId"),
          ended: nastyString,
          password: fc.oneof(fc.constant("changed"), nastyString),
          connected: fixtureOr("provider"),
          disconnected: fixtureOr("provider"),
          error: nastyString,
        }),
        raw: fc.boolean(),
        cookie: cookieChoice,
        garbage: nastyString,
      });
      await assertProperty(plan, 80, async (p) => {
        const path = fillSegments(p.path, p.segment, "", p.rawSegment);
        await judge({ method: "GET", path: withQuery(path, p.params, p.raw), headers: cookies(p.cookie, p.garbage) }, (a) =>
          pageProblem(a, [], (x) => !routed(p.path, path) && x.status === 404 && apiProblem(x) === null),
        );
      });
    },
    timeoutFor(80),
  );

  // (Never the session's CSRF token on /logout: the session would end for the tests after this one.)
  const FORMS: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
    "/login": { csrf: fixtureOr("preCsrf"), email: fixtureOr("email"), password: nastyString, return_to: returnTo },
    "/signup": { csrf: fixtureOr("preCsrf"), name: nastyString, email: nastyString, password: nastyString, return_to: returnTo },
    "/logout": { csrf: nastyString },
    "/account/password": {
      csrf: fixtureOr("csrf"),
      current_password: nastyString,
      new_password: nastyString,
      confirm_password: nastyString,
    },
    "/account/export": { csrf: fixtureOr("csrf") },
    "/account/delete": { csrf: fixtureOr("csrf"), confirm: fc.oneof(fc.constant("yes"), nastyString), password: nastyString },
    "/account/apps/:grant/revoke": { csrf: fixtureOr("csrf") },
    "/account/apps/:grant/scopes": { csrf: fixtureOr("csrf"), keep: fc.oneof(fc.constantFrom(...SCOPES), nastyString) },
    "/account/connections/:provider/disconnect": { csrf: fixtureOr("csrf"), return_to: returnTo },
  };

  it(
    T.forms,
    async () => {
      // Each form once, empty (refused for its missing CSRF token: the session stays).
      for (const form of Object.keys(FORMS)) {
        const path = fillSegments(form, new Fx("grantId"), new Fx("provider"), false);
        await judge(
          {
            method: "POST",
            path,
            headers: { "content-type": "application/x-www-form-urlencoded", ...cookies("session", "") },
            body: Buffer.alloc(0),
          },
          (a) => pageProblem(a),
        );
      }
      const plan = fc.constantFrom(...Object.keys(FORMS)).chain((path) =>
        fc.record({
          path: fc.constant(path),
          fields: params(FORMS[path]!),
          segment: fixtureOr("grantId"),
          provider: fixtureOr("provider", "deadProvider"),
          encoding,
          cookie: cookieChoice,
          garbage: nastyString,
        }),
      );
      await assertProperty(plan, 70, async (p) => {
        const b = body(p.fields, p.encoding);
        const path = fillSegments(p.path, p.segment, p.provider, false);
        await judge({ method: "POST", path, headers: { "content-type": b.type, ...cookies(p.cookie, p.garbage) }, body: b.body }, (a) =>
          pageProblem(
            a,
            [],
            (x) =>
              // The export is a JSON download, when the form was right.
              (path === "/account/export" && x.status === 200 && /json/.test(x.headers.get("content-type") ?? "")) ||
              (!routed(p.path, path) && x.status === 404 && apiProblem(x) === null),
          ),
        );
      });
    },
    timeoutFor(70),
  );
});

// ---------------------------------------------------------------- GraphQL

/** A field on the way from the root to a site, on its type. */
interface Step {
  type: string;
  field: GraphQLField<unknown, unknown>;
}

/** A field that takes arguments, on its type, and the fields that lead to it from the root. */
interface Site {
  operation: "query" | "mutation";
  type: string;
  path: Step[];
  field: GraphQLField<unknown, unknown>;
}

/** "Type.field" of every field of the schema that takes arguments (introspection's own excepted). */
function schemaFieldsWithArguments(): string[] {
  const out: string[] = [];
  for (const type of Object.values(getSchema().getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) if (field.args.length) out.push(`${type.name}.${field.name}`);
  }
  return out.sort();
}

/**
 * Every field with arguments, reached by the shortest path from Query or
 * Mutation (each Type.field once). Required arguments of the fields on the way
 * are filled with fixtures (pathArguments), so that the site itself executes.
 */
function argumentSites(): Site[] {
  const schema = getSchema();
  const sites: Site[] = [];
  const seen = new Set<string>();
  const queue: { type: GraphQLObjectType; path: Step[]; operation: "query" | "mutation" }[] = [
    { type: schema.getQueryType()!, path: [], operation: "query" },
    { type: schema.getMutationType()!, path: [], operation: "mutation" },
  ];
  const visited = new Set<string>();
  while (queue.length) {
    const { type, path, operation } = queue.shift()!;
    for (const field of Object.values(type.getFields())) {
      const key = `${type.name}.${field.name}`;
      if (field.args.length && !seen.has(key)) {
        seen.add(key);
        sites.push({ operation, type: type.name, path, field });
      }
      const named = getNamedType(field.type);
      // Mutations run once per request: what they return is reached through Query instead.
      if (operation === "query" && isObjectType(named) && !visited.has(named.name)) {
        visited.add(named.name);
        queue.push({ type: named, path: [...path, { type: type.name, field }], operation });
      }
    }
  }
  return sites;
}

const siteName = (s: Site) => [...s.path.map((p) => p.field.name), s.field.name].join(".");

/**
 * Fixtures for a String or ID argument or input field, by "Type.field.argument"
 * (or "InputType.field"), else by its name; the first is the valid value.
 * Mutations that destroy or change a client, an endpoint or a measurement get
 * a victim, so that the fixtures the other requests need stay usable.
 */
const STRING_FIXTURES: Record<string, string[]> = {
  after: ["cursor"],
  "Account.auditLog.after": ["auditCursor"],
  "WebhookEndpoint.deliveries.after": ["deliveryCursor"],
  clientId: ["confId", "victimClientId"],
  "Mutation.revokeOAuthClient.clientId": ["victimClientId"],
  "Mutation.rotateOAuthClientSecret.clientId": ["victimClientId"],
  "Mutation.updateOAuthClient.clientId": ["victimClientId"],
  grantId: ["grantId"],
  id: ["measurementId"],
  "Mutation.deleteMeasurement.id": ["victimMeasurementId", "measurementId"],
  "Mutation.deleteWebhookEndpoint.id": ["victimEndpointId"],
  "Mutation.updateWebhookEndpoint.id": ["endpointId", "victimEndpointId"],
  "Mutation.rotateWebhookSecret.id": ["endpointId", "victimEndpointId"],
  "Mutation.resendWebhookDelivery.id": ["deliveryId"],
  provider: ["provider", "deadProvider"],
  redirectUris: ["redirect"],
  url: ["hookUrl"],
};

function stringFixtures(key: string, name: string): string[] {
  return STRING_FIXTURES[key] ?? STRING_FIXTURES[name] ?? [];
}

/** Words some String arguments and input fields take. */
const STRING_WORDS: Record<string, string[]> = { scopes: SCOPES, eventTypes: EVENT_TYPES, birthDate: DATES };

function scalarValue(name: string, key: string, field: string): fc.Arbitrary<unknown> {
  switch (name) {
    case "Int":
      return fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: -5, max: 200 }) },
        { weight: 1, arbitrary: fc.integer() },
        { weight: 1, arbitrary: fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1e21, 1.5, 1e308, "1") },
      );
    case "Float":
      return fc.oneof(
        { weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
        { weight: 1, arbitrary: fc.constantFrom(1e308, -1e308, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, "70") },
      );
    case "Boolean":
      return fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom("true", 1, 0) });
    case "DateTime":
      return fc.oneof(
        fc.constantFrom(...DATE_TIMES),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        nastyString,
      );
    default:
      if (STRING_WORDS[field]) return fc.oneof(fc.constantFrom(...STRING_WORDS[field]), nastyString);
      return fixtureOr(...stringFixtures(key, field));
  }
}

/** Small numbers that are in range where a range applies. */
const VALID_INTS: Record<string, number> = { first: 5, gracePeriodSeconds: 0, accessTokenTtl: 600 };

/**
 * A valid value of an input type (symbolic: fixtures are Fx): what passes
 * validation and coercion, so that the resolver runs. `key` is
 * "Type.field.argument" or "InputType.field".
 */
function validValue(type: GraphQLInputType, key: string, name: string): unknown {
  if (isNonNullType(type)) return validValue(type.ofType, key, name);
  if (isListType(type)) return [validValue(type.ofType, key, name)];
  if (isEnumType(type)) return new EnumName(type.getValues()[0]!.name);
  if (isInputObjectType(type)) {
    return Object.fromEntries(Object.values(type.getFields()).map((f) => [f.name, validValue(f.type, `${type.name}.${f.name}`, f.name)]));
  }
  if (!isScalarType(type)) throw new Error(`no valid value for ${key}`);
  switch (type.name) {
    case "Int":
      return VALID_INTS[name] ?? 1;
    case "Float":
      return 70;
    case "Boolean":
      // firstParty is for administrators only
      return name !== "firstParty";
    case "DateTime":
      return "2026-01-01T08:00:00Z";
    default: {
      if (STRING_WORDS[name]) return name === "scopes" ? "profile:read" : STRING_WORDS[name]![0];
      const fixture = stringFixtures(key, name)[0];
      return fixture ? new Fx(fixture) : "Fuzz";
    }
  }
}

/** The required arguments of a field on the way to a site, as literals ("(clientId: \"...\")"), valid ones. */
function pathArguments(step: Step): string {
  const required = step.field.args.filter((a) => isNonNullType(a.type));
  if (!required.length) return "";
  const args = required.map(
    (a) => `${a.name}: ${literal(resolve(validValue(a.type, `${step.type}.${step.field.name}.${a.name}`, a.name), F))}`,
  );
  return `(${args.join(", ")})`;
}

/**
 * Whether the site's field ran: its key is in the data at the end of the path
 * (in some element of a list on the way), or an error's path points at it.
 */
function executed(site: Site, body: { data?: unknown; errors?: { path?: (string | number)[] }[] } | undefined): boolean {
  const names = [...site.path.map((p) => p.field.name), site.field.name];
  if (body?.errors?.some((e) => e.path?.filter((x) => typeof x === "string").join(".") === names.join("."))) return true;
  let level: unknown[] = [body?.data];
  for (const name of names.slice(0, -1)) {
    level = level.flatMap((v) => {
      const next = v && typeof v === "object" ? (v as Record<string, unknown>)[name] : undefined;
      return Array.isArray(next) ? next : [next];
    });
  }
  return level.some((v) => !!v && typeof v === "object" && site.field.name in v);
}

/** Values of an input type: mostly of the right shape (with hostile leaves), sometimes null, a wrong shape or huge. */
function typedValue(type: GraphQLInputType, key: string, field: string, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type))
    return fc.oneof({ weight: 8, arbitrary: typedValue(type.ofType, key, field, depth) }, { weight: 1, arbitrary: fc.constant(null) });
  const nullable = (a: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });
  if (isListType(type)) {
    return nullable(
      fc.oneof(
        { weight: 4, arbitrary: fc.array(typedValue(type.ofType, key, field, depth + 1), { maxLength: 3 }) },
        // GraphQL coerces one value to a list of one
        { weight: 1, arbitrary: typedValue(type.ofType, key, field, depth + 1) },
        { weight: 1, arbitrary: fc.constant(Array.from({ length: 2_000 }, () => "openid")) },
      ),
    );
  }
  if (isEnumType(type)) {
    return nullable(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...type.getValues().map((v) => new EnumName(v.name))) },
        { weight: 1, arbitrary: nastyString.map((s) => new EnumName(s)) },
        { weight: 1, arbitrary: nastyString },
      ),
    );
  }
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const shape = fc.record(
      Object.fromEntries(fields.map((f) => [f.name, typedValue(f.type, `${type.name}.${f.name}`, f.name, depth + 1)])),
      {
        requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name),
      },
    );
    return nullable(
      fc.oneof(
        { weight: 5, arbitrary: shape },
        { weight: 1, arbitrary: fc.tuple(shape, nastyString, anyJson).map(([o, k, v]) => ({ ...(o as object), [k || "extra"]: v })) },
      ),
    );
  }
  return nullable(scalarValue(getNamedType(type).name, key, field));
}

function argumentValue(site: Site, arg: GraphQLArgument): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: typedValue(arg.type, `${site.type}.${site.field.name}.${arg.name}`, arg.name) },
    { weight: 2, arbitrary: anyJson },
  );
}

/** A value as a GraphQL literal in the query text (JSON escapes are GraphQL escapes; lone surrogates included). */
function literal(v: unknown): string {
  if (v instanceof EnumName) return /^[_A-Za-z][_0-9A-Za-z]*$/.test(v.name) ? v.name : JSON.stringify(v.name);
  if (v instanceof RawJson) return v.text;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "NaN";
  if (v === null || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(literal).join(", ")}]`;
  if (typeof v === "object") {
    return `{${Object.entries(v as object)
      .map(([k, x]) => `${k}: ${literal(x)}`)
      .join(", ")}}`;
  }
  return "null";
}

type Viewer = "bearer" | "session" | "session-no-csrf" | "anonymous";
const viewer = fc.constantFrom<Viewer>("bearer", "bearer", "session", "session", "session-no-csrf", "anonymous");

function viewerHeaders(v: Viewer): Record<string, string> {
  switch (v) {
    case "bearer":
      return { authorization: `Bearer ${F.ccToken}` };
    case "session":
      return { cookie: F.sessionCookie!, "x-csrf-token": F.csrf! };
    case "session-no-csrf":
      return { cookie: F.sessionCookie! };
    case "anonymous":
      return {};
  }
}

type ArgMode = "variable" | "inline" | "omit" | "wrong-declared" | "duplicate";

/** The operation that passes each argument of the site as planned, and its variables (symbolic). */
function operation(site: Site, args: { mode: ArgMode; value: unknown }[], extraVariable: unknown) {
  const defs: string[] = [];
  const passed: string[] = [];
  const variables: Record<string, unknown> = {};
  site.field.args.forEach((arg, i) => {
    const { mode, value } = args[i]!;
    const name = `a${i}`;
    switch (mode) {
      case "omit":
        return;
      case "inline":
        passed.push(`${arg.name}: ${literal(resolve(value, F))}`);
        return;
      case "duplicate":
        passed.push(`${arg.name}: $${name}`);
        break;
      case "wrong-declared":
        defs.push(`$${name}: ${isListType(getNullable(arg.type)) ? "String" : "[String]"}`);
        passed.push(`${arg.name}: $${name}`);
        variables[name] = value;
        return;
    }
    defs.push(`$${name}: ${String(arg.type)}`);
    passed.push(`${arg.name}: $${name}`);
    variables[name] = value;
  });
  if (extraVariable !== undefined) variables.undeclared = extraVariable;
  const selection = isCompositeType(getNamedType(site.field.type)) ? " { __typename }" : "";
  const call = `${site.field.name}${passed.length ? `(${passed.join(", ")})` : ""}${selection}`;
  const body = site.path.reduceRight((inner, step) => `${step.field.name}${pathArguments(step)} { ${inner} }`, call);
  const query = `${site.operation} Fuzz${defs.length ? `(${defs.join(", ")})` : ""} { ${body} }`;
  return { query, variables };
}

function getNullable(type: GraphQLInputType): GraphQLInputType {
  return isNonNullType(type) ? type.ofType : type;
}

describe("every GraphQL argument refuses hostile values with a GraphQL error", () => {
  const sites = argumentSites();

  it("finds every field that takes arguments", () => {
    expect(sites.map((s) => `${s.type}.${s.field.name}`).sort()).toEqual(schemaFieldsWithArguments());
  });

  it("executes every field that takes arguments with valid values (as the signed-in account)", async () => {
    const notExecuted: string[] = [];
    for (const site of sites) {
      const args = site.field.args.map((arg) => ({
        mode: "variable" as ArgMode,
        value: validValue(arg.type, `${site.type}.${site.field.name}.${arg.name}`, arg.name),
      }));
      const { query, variables } = operation(site, args, undefined);
      const res = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...viewerHeaders("session") },
        body: jsonText({ query, variables: resolve(variables, F), operationName: "Fuzz" }),
      });
      const text = await res.text();
      const body = JSON.parse(text) as Parameters<typeof executed>[1];
      if (!executed(site, body)) notExecuted.push(`${siteName(site)}: ${query} -> ${res.status} ${text.slice(0, 300)}`);
    }
    expect(notExecuted).toEqual([]);
  });

  it(
    T.graphqlArguments,
    async () => {
      // Sites by name, so that a counterexample prints the field, not its definition.
      const byName = new Map(sites.map((s) => [siteName(s), s]));
      const plan = fc.constantFrom(...byName.keys()).chain((name) =>
        fc.record({
          site: fc.constant(name),
          args: fc.tuple(
            ...byName.get(name)!.field.args.map((arg) =>
              fc.record({
                mode: fc.constantFrom<ArgMode>(
                  "variable",
                  "variable",
                  "variable",
                  "inline",
                  "inline",
                  "omit",
                  "wrong-declared",
                  "duplicate",
                ),
                value: argumentValue(byName.get(name)!, arg),
              }),
            ),
          ),
          extraVariable: fc.option(anyJson, { freq: 6, nil: undefined }),
          viewer,
          transport: fc.constantFrom("post", "post", "post", "get", "post-graphql-response"),
        }),
      );
      await assertProperty(plan, 300, async (p) => {
        const { query, variables } = operation(byName.get(p.site)!, p.args, p.extraVariable);
        const resolved = resolve(variables, F);
        const headers = viewerHeaders(p.viewer);
        if (p.transport === "get") {
          const q = queryString(
            [
              ["query", query],
              ["variables", jsonText(resolved)],
            ],
            false,
          );
          await judge({ method: "GET", path: `/graphql?${q}`, headers: { accept: "application/json", ...headers } }, (a) =>
            graphqlProblem(a, false),
          );
          return;
        }
        const accept = p.transport === "post" ? "application/json" : "application/graphql-response+json";
        await judge(
          {
            method: "POST",
            path: "/graphql",
            headers: { "content-type": "application/json", accept, ...headers },
            body: wtf8(jsonText({ query, variables: resolved, operationName: "Fuzz" })),
          },
          (a) => graphqlProblem(a, false),
        );
      });
    },
    timeoutFor(300),
  );

  it(
    T.graphqlRequests,
    async () => {
      const DEEP_VARIABLES = "query($a: String) { me { measurements(after: $a) { __typename } } }";
      const requestBody = fc.oneof(
        { weight: 2, arbitrary: RAW_BODIES },
        { weight: 2, arbitrary: anyJson.map((v) => wtf8(jsonText(v))) },
        {
          weight: 4,
          arbitrary: fc
            .record({
              query: fc.oneof(
                fc.constantFrom("{ me { id } }", DEEP_VARIABLES, "mutation { deleteMeasurement(id: 1) { id } }"),
                nastyString,
                anyJson,
              ),
              variables: anyJson,
              operationName: fc.option(fc.oneof(nastyString, anyJson), { nil: undefined }),
              extensions: fc.option(anyJson, { nil: undefined }),
            })
            .map((o) => wtf8(jsonText(o))),
        },
        {
          weight: 2,
          arbitrary: fc
            .tuple(fc.constantFrom(100, 1_000, 5_000, 50_000), fc.constantFrom<"array" | "object">("array", "object"))
            .map(([d, k]) => wtf8(`{"query":${JSON.stringify(DEEP_VARIABLES)},"variables":{"a":${deepJson(d, k).text}}}`)),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom(
              '{"query":"{ me { id } }","query":"mutation { deleteMeasurement(id: \\"x\\") { id } }"}',
              '[{"query":"{ me { id } }"},{"query":"{ me { id } }"}]',
              `{"query":${JSON.stringify(DEEP_VARIABLES)},"variables":{"a":"\\ud800"}}`,
              `{"query":${JSON.stringify(DEEP_VARIABLES)},"variables":{"a":"\\udfff\\ud800"}}`,
              `{"query":${JSON.stringify(DEEP_VARIABLES)},"variables":{"a":"${"\\ud800".repeat(1000)}"}}`,
              '{"query":"query($n: String) { __typename }","variables":{"n":"\\ud800"}}',
              '{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"\\ud800"}}}',
              '{"query":"{ __typename }","variables":{"__proto__":{"x":1}}}',
            )
            .map((s) => Buffer.from(s)),
        },
      );
      const plan = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            method: fc.constant("POST" as const),
            body: requestBody,
            contentType: fc.oneof(
              { weight: 4, arbitrary: fc.constant("application/json") },
              { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
            ),
            viewer,
            accept: fc.constantFrom("application/json", "application/graphql-response+json", "*/*", "text/html", ""),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            method: fc.constant("GET" as const),
            params: params({
              query: fc.oneof(fc.constantFrom("{ me { id } }", DEEP_VARIABLES), nastyString),
              variables: fc.oneof(anyJson.map(jsonText), nastyString),
              operationName: nastyString,
              extensions: anyJson.map(jsonText),
            }),
            raw: fc.boolean(),
            viewer,
            accept: fc.constantFrom("application/json", "application/graphql-response+json", "*/*", "text/html", ""),
          }),
        },
        {
          // CORS preflights, from partner origins and others.
          weight: 1,
          arbitrary: fc.record({
            method: fc.constant("OPTIONS" as const),
            origin: fc.option(fc.oneof(fc.constantFrom("http://localhost:3000", "https://partner.example", "null"), nastyString), {
              nil: null,
            }),
            requestMethod: fc.option(fc.oneof(fc.constantFrom("POST", "GET", "DELETE"), nastyString), { nil: null }),
            requestHeaders: fc.option(fc.oneof(fc.constantFrom("authorization, content-type", "x-csrf-token"), nastyString), {
              nil: null,
            }),
            viewer,
          }),
        },
      );
      await assertProperty(plan, 130, async (p) => {
        if (p.method === "OPTIONS") {
          const headers: Record<string, string> = viewerHeaders(p.viewer);
          if (p.origin !== null) headers.origin = headerSafe(p.origin) || "null";
          if (p.requestMethod !== null) headers["access-control-request-method"] = headerSafe(p.requestMethod) || "x";
          if (p.requestHeaders !== null) headers["access-control-request-headers"] = headerSafe(p.requestHeaders) || "x";
          // A preflight's answer is its headers (CORS): 204, or 403 for an origin that may not, with no body; else a GraphQL error.
          await judge({ method: "OPTIONS", path: "/graphql", headers }, (a) =>
            (a.status === 204 || a.status === 403) && !a.text ? null : graphqlProblem(a, false),
          );
          return;
        }
        const accept: Record<string, string> = p.accept ? { accept: p.accept } : {};
        // GraphiQL: a browser's GET for HTML is answered with the page.
        const html = p.method === "GET" && /text\/html/.test(p.accept);
        if (p.method === "GET") {
          await judge(
            { method: "GET", path: withQuery("/graphql", p.params, p.raw), headers: { ...accept, ...viewerHeaders(p.viewer) } },
            (a) => graphqlProblem(a, html),
          );
        } else {
          await judge(
            {
              method: "POST",
              path: "/graphql",
              headers: { "content-type": p.contentType, ...accept, ...viewerHeaders(p.viewer) },
              body: p.body,
            },
            (a) => graphqlProblem(a, html),
          );
        }
      });
    },
    timeoutFor(130),
  );
});

describe("afterwards", () => {
  it("every route was reached by the tests that fuzz it", () => {
    // Only the routes whose test ran to the end in this run (all of them, unless -t picked some).
    const unreached = Object.entries(ROUTES)
      .filter(([key, test]) => finished.has(test) && !reached.get(key))
      .map(([key, test]) => `${key} (${test})`);
    expect(unreached).toEqual([]);
  });

  it("/healthz is ok", async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { status: "ok" } });
  });
});
