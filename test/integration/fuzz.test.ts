// Issue 12 item 5: fast-check throws malformed, huge, duplicated, wrongly
// encoded and wrongly typed values at every REST endpoint and every GraphQL
// argument. Every answer must be the protocol's own refusal (a 4xx with an
// error body, an `error` redirect to a registered redirect URI, a GraphQL
// `errors` entry, an HTML page), never a 5xx, a hang or a stack trace; and
// /healthz is still ok at the end.
//
// The seed is fixed so that a run is repeatable; FUZZ_SEED=<n> changes it (a
// failure prints the seed and path to replay it with FUZZ_SEED and FUZZ_PATH),
// FUZZ_RUNS=<n> runs every property n times instead of its default count, and
// FUZZ_LOG=1 prints every request with its status and time. A new endpoint or
// page needs its line here; a new GraphQL argument is found in the schema.
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
} from "graphql";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPHIQL_ASSETS } from "../../src/graphql/graphiql.ts";
import { getSchema } from "../../src/graphql/schema.ts";
import { encodeCursor } from "../../src/lib/cursor.ts";
import { OAUTH_PATHS, WELL_KNOWN_PATHS } from "../../src/oauth/paths.ts";
import { STYLESHEET_URL } from "../../src/pages/assets.ts";
import { DEVELOPERS_SCRIPT_PATH } from "../../src/pages/developers.ts";
import {
  type Answer,
  anyJson,
  apiProblem,
  CONTENT_TYPES,
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
import { authorizationUrl, discover, exchangeCode, location, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201);
const PATH = process.env.FUZZ_PATH;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
/** "answered within a few seconds" */
const TIMEOUT_MS = 5_000;
/** a longer URL and headers are refused by Node's HTTP parser itself (431, no body): not what this test is about */
const MAX_HEAD = 12_000;

const REDIRECT = "https://partner.example/callback";
const PUBLIC_REDIRECT = "http://localhost:3000/callback";
const SCOPES = ["openid", "offline_access", "profile:read", "data:read", "data:write"];

let server: TestServer;
const F: Fixtures = {};

beforeAll(async () => {
  server = await startTestServer();
  const as = await discover(server);
  const signed = await signedInUser(server, "Fuzz");
  const web = signed.web;
  const userId = signed.user.id;
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

  const cc = await fetch(`${server.url}${OAUTH_PATHS.token}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${conf.client.clientId}:${conf.clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "profile:read data:read data:write" }),
  });
  const ccToken = ((await cc.json()) as { access_token: string }).access_token;

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
    graphqlResource: `${server.issuer}/graphql`,
    mcpResource: `${server.issuer}/mcp`,
    code,
    verifier: second.verifier,
    challenge: second.challenge,
    refresh: tokens.refresh_token!,
    userToken: tokens.access_token,
    idToken: tokens.id_token ?? "",
    ccToken,
    userId,
    email: signed.email,
    grantId: victimGrant.id,
    measurementId: measurement.id,
    cursor: encodeCursor({ at: measurement.recordedAt, id: measurement.id }),
    sessionCookie: `sg_session=${web.jar.get("sg_session")}`,
    csrf: await web.csrfFrom("/logout"),
    preCookie: anonymous.jar.header()!,
    preCsrf,
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------- sending and judging

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

async function send(req: Req): Promise<Answer | string> {
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
    return { status: res.status, headers: res.headers, text, ms: performance.now() - started };
  } catch (err) {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    return `no answer: ${(err as Error).message}${cause ? ` (${cause.code ?? ""} ${cause.message ?? ""})` : ""}`;
  }
}

function summary(req: Req): string {
  const body = req.body ? ` body ${JSON.stringify(req.body.toString("latin1").slice(0, 300))}` : "";
  return `${req.method} ${req.path.slice(0, 300)} ${JSON.stringify(req.headers ?? {}).slice(0, 300)}${body}`;
}

/** Sends the request and throws, saying what was sent and what came back, unless the answer passes. */
async function judge(req: Req, surface: (a: Answer) => string | null): Promise<void> {
  const headerBytes = Object.entries(req.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
  fc.pre(new URL(req.path, server.url).href.length + headerBytes <= MAX_HEAD);
  const a = await send(req);
  if (process.env.FUZZ_LOG) console.log(typeof a === "string" ? a : `${a.status} ${Math.round(a.ms)} ms`, summary(req).slice(0, 400));
  // A HEAD answer has no body to judge.
  const wrong = typeof a === "string" ? a : problem(a, req.method === "HEAD" ? null : surface(a), TIMEOUT_MS);
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
    const replay = `Replay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ""} TEST_DATABASES=${process.env.TEST_DATABASE}`;
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${await fc.asyncDefaultReportMessage(details)}\n${cause}\n${replay}`);
  }
}

const registered = () => [F.redirect!, F.pubRedirect!];

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
  const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), nastyString), param(nastyString)), { maxLength: 2 });
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

// ---------------------------------------------------------------- the REST endpoints

describe("every REST endpoint refuses hostile input with its own error", () => {
  it(
    "token endpoint, every grant type",
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
    "introspection and revocation",
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
    "userinfo, GET and POST",
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
    "discovery, JWKS and health",
    async () => {
      const plan = fc.record({
        path: fc.constantFrom(
          ...Object.values(WELL_KNOWN_PATHS),
          `${WELL_KNOWN_PATHS.protectedResource}/graphql`,
          OAUTH_PATHS.jwks,
          "/healthz",
          "/metrics",
        ),
        method: fc.constantFrom("GET", "GET", "HEAD", "POST", "OPTIONS"),
        params: params({ resource: fixtureOr("graphqlResource"), kid: nastyString }),
        raw: fc.boolean(),
        auth: clientAuth,
      });
      await assertProperty(plan, 30, async (p) => {
        await judge({ method: p.method, path: withQuery(p.path, p.params, p.raw), headers: authorization(p.auth) }, apiProblem);
      });
    },
    timeoutFor(30),
  );

  it(
    "static assets: the pages' stylesheet and script, GraphiQL's files",
    async () => {
      const plan = fc.record({
        path: fc.constantFrom(STYLESHEET_URL, DEVELOPERS_SCRIPT_PATH, `${GRAPHIQL_ASSETS}/:file`, `${GRAPHIQL_ASSETS}/favicon.ico`),
        file: nastyString,
        method: fc.constantFrom("GET", "HEAD", "POST"),
        params: params({ v: nastyString }),
        raw: fc.boolean(),
      });
      await assertProperty(plan, 20, async (p) => {
        const path = p.path.replace(":file", percentEncode(p.file) || "x");
        // An asset, the one not-found answer (JSON), or a refusal: assets are under the pages' paths.
        await judge({ method: p.method, path: withQuery(path, p.params, p.raw) }, (a) =>
          a.status >= 400 ? apiProblem(a) && pageProblem(a) : null,
        );
      });
    },
    timeoutFor(20),
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
  const randomAuthorizeParams = params({
    response_type: fc.oneof(fc.constant("code"), nastyString),
    client_id: fixtureOr("confId", "pubId"),
    redirect_uri: fixtureOr("redirect", "pubRedirect"),
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
  const authorizeParams = fc.oneof(randomAuthorizeParams, nearlyValid(AUTHORIZE));

  it(
    "authorization endpoint, GET",
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
    "authorization endpoint, POST (the consent form)",
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
});

// ---------------------------------------------------------------- the pages

/**
 * False when a generated path segment ("", "..", "%2e") made the URL another
 * path than the route's: no route answers it, and the one not-found answer is JSON.
 */
function routed(template: string, path: string): boolean {
  const pathname = new URL(path, server.url).pathname;
  return new RegExp(`^${template.replace(":grant", "[^/]+")}$`).test(pathname);
}

describe("every page and its forms refuse hostile input with a page", () => {
  const returnTo = fc.oneof(fc.constantFrom("/", "/account", "/v1/oauth/authorize?client_id=x"), nastyString);

  it(
    "pages, GET",
    async () => {
      const plan = fc.record({
        path: fc.constantFrom(
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
          "/account/apps/:grant/revoke",
        ),
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
        }),
        raw: fc.boolean(),
        cookie: cookieChoice,
        garbage: nastyString,
      });
      await assertProperty(plan, 80, async (p) => {
        const segment = resolveString(p.segment, F);
        const path = p.path.replace(":grant", p.rawSegment ? segment.replace(/[/?#]/g, "") : percentEncode(segment));
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
  };

  it(
    "page forms, POST",
    async () => {
      const plan = fc.constantFrom(...Object.keys(FORMS)).chain((path) =>
        fc.record({
          path: fc.constant(path),
          fields: params(FORMS[path]!),
          segment: fixtureOr("grantId"),
          encoding,
          cookie: cookieChoice,
          garbage: nastyString,
        }),
      );
      await assertProperty(plan, 60, async (p) => {
        const b = body(p.fields, p.encoding);
        const path = p.path.replace(":grant", percentEncode(resolveString(p.segment, F)));
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
    timeoutFor(60),
  );
});

// ---------------------------------------------------------------- GraphQL

/** A field that takes arguments, and the fields that lead to it from the root. */
interface Site {
  operation: "query" | "mutation";
  path: string[];
  field: GraphQLField<unknown, unknown>;
}

/** Every field with arguments, reached by the shortest path from Query or Mutation (each Type.field once). */
function argumentSites(): Site[] {
  const schema = getSchema();
  const sites: Site[] = [];
  const seen = new Set<string>();
  const queue: { type: GraphQLObjectType; path: string[]; operation: "query" | "mutation" }[] = [
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
        sites.push({ operation, path, field });
      }
      const named = getNamedType(field.type);
      // Mutations run once per request: what they return is reached through Query instead.
      if (operation === "query" && isObjectType(named) && !visited.has(named.name)) {
        visited.add(named.name);
        queue.push({ type: named, path: [...path, field.name], operation });
      }
    }
  }
  return sites;
}

/** Fixtures that make a String or ID argument (or input field) reach the database, by its name. */
const STRING_FIXTURES: Record<string, string[]> = {
  after: ["cursor"],
  clientId: ["victimClientId", "confId"],
  grantId: ["grantId"],
  id: ["measurementId"],
  redirectUris: ["redirect"],
};

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

function scalarValue(name: string, field: string): fc.Arbitrary<unknown> {
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
      if (field === "birthDate") return fc.oneof(fc.constantFrom(...DATES), nastyString);
      if (field === "scopes") return fc.oneof(fc.constantFrom(...SCOPES), nastyString);
      return fixtureOr(...(STRING_FIXTURES[field] ?? []));
  }
}

/** Values of an input type: mostly of the right shape (with hostile leaves), sometimes null, a wrong shape or huge. */
function typedValue(type: GraphQLInputType, field: string, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type))
    return fc.oneof({ weight: 8, arbitrary: typedValue(type.ofType, field, depth) }, { weight: 1, arbitrary: fc.constant(null) });
  const nullable = (a: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });
  if (isListType(type)) {
    return nullable(
      fc.oneof(
        { weight: 4, arbitrary: fc.array(typedValue(type.ofType, field, depth + 1), { maxLength: 3 }) },
        // GraphQL coerces one value to a list of one
        { weight: 1, arbitrary: typedValue(type.ofType, field, depth + 1) },
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
    const shape = fc.record(Object.fromEntries(fields.map((f) => [f.name, typedValue(f.type, f.name, depth + 1)])), {
      requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name),
    });
    return nullable(
      fc.oneof(
        { weight: 5, arbitrary: shape },
        { weight: 1, arbitrary: fc.tuple(shape, nastyString, anyJson).map(([o, k, v]) => ({ ...(o as object), [k || "extra"]: v })) },
      ),
    );
  }
  return nullable(scalarValue(getNamedType(type).name, field));
}

function argumentValue(arg: GraphQLArgument): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 6, arbitrary: typedValue(arg.type, arg.name) }, { weight: 2, arbitrary: anyJson });
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
  const body = site.path.reduceRight((inner, f) => `${f} { ${inner} }`, call);
  const query = `${site.operation} Fuzz${defs.length ? `(${defs.join(", ")})` : ""} { ${body} }`;
  return { query, variables };
}

function getNullable(type: GraphQLInputType): GraphQLInputType {
  return isNonNullType(type) ? type.ofType : type;
}

describe("every GraphQL argument refuses hostile values with a GraphQL error", () => {
  const sites = argumentSites();

  it("finds every field that takes arguments", () => {
    const names = sites.map((s) => [...s.path, s.field.name].join("."));
    expect(names).toContain("me.measurements");
    expect(names).toContain("viewer.auditLog");
    expect(names).toContain("recordMeasurement");
    expect(names).toContain("updateOAuthClient");
    expect(sites.length).toBeGreaterThanOrEqual(12);
  });

  it(
    "each argument of each field and mutation, in variables and inline",
    async () => {
      // Sites by name, so that a counterexample prints the field, not its definition.
      const byName = new Map(sites.map((s) => [[...s.path, s.field.name].join("."), s]));
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
                value: argumentValue(arg),
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
    "requests that no GraphQL client would send: wrong shapes, encodings, content types, nesting",
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
      );
      await assertProperty(plan, 120, async (p) => {
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
    timeoutFor(120),
  );
});

describe("afterwards", () => {
  it("/healthz is ok", async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { status: "ok" } });
  });
});
