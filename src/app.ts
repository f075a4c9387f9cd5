import { randomUUID } from "node:crypto";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppDeps, AppEnv } from "./context.ts";
import { databaseAnswers } from "./db/index.ts";
import { ANONYMOUS, type Viewer } from "./auth/viewer.ts";
import { describeUnavailable } from "./db/unavailable.ts";
import { graphqlErrorBody, graphqlRefusal } from "./graphql/errors.ts";
import { domainErrorOf, errorPage } from "./pages/errors.ts";
import { OAuthError, oauthErrorFrom, oauthErrorResponse } from "./oauth/errors.ts";
import { mcpErrorResponse } from "./mcp/errors.ts";
import { safeEqual } from "./lib/crypto.ts";
import { DomainError, invalidInput } from "./lib/errors.ts";
import { bearerChallenge, viewerFromBearer, type BearerResult } from "./auth/bearer.ts";
import { createGraphQLServer } from "./graphql/yoga.ts";
import { graphiqlAssets } from "./graphql/graphiql.ts";
import { accountPages } from "./pages/account.ts";
import { developerPages } from "./pages/developers.ts";
import { homePage } from "./pages/home.ts";
import { connectedAppsPages } from "./pages/connected-apps.ts";
import { activityPages } from "./pages/activity.ts";
import { accountSettingsPages } from "./pages/account-settings.ts";
import { connectionsPages } from "./pages/connections.ts";
import { connectorEndpoints, connectorErrorResponse } from "./pages/connector-endpoints.ts";
import { pageAssets } from "./pages/assets.ts";
import { brandAssets } from "./pages/brand.ts";
import { pagePolicy, pageSecurityHeaders } from "./pages/security-headers.ts";
import { loadSession } from "./accounts/request-session.ts";
import { authorizeErrorPage, consentPage } from "./pages/consent.ts";
import { oauthRoutes } from "./oauth/routes.ts";
import { AUTHORIZE_PATH } from "./oauth/authorize/routes.ts";
import { AllowedOrigins, corsForPublicClients } from "./oauth/cors.ts";
import { requestMetrics } from "./metrics/middleware.ts";
import { metricsRoute } from "./metrics/route.ts";
import { type GraphQLExecutor, MCP_PATH, mcpRoutes } from "./mcp/routes.ts";
import { CONNECTORS_PREFIX } from "./connectors/providers.ts";

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/**
 * Programmatic seams for code that starts the server itself (never set from
 * environment or configuration). The benchmark uses resolveBearer to measure
 * /graphql with the credential check replaced by a fixed viewer.
 */
export interface AppHooks {
  /** replaces viewerFromBearer on /graphql */
  resolveBearer?: (authorization: string | undefined) => Promise<BearerResult> | BearerResult;
}

export function createApp(deps: AppDeps, hooks: AppHooks = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const yoga = createGraphQLServer(deps.logger, deps.metrics, deps.rateLimits);
  /** What a GraphQL operation made with an access token runs with (on /graphql and as an MCP tool): reads are audited. */
  const tokenContext = (viewer: Extract<Viewer, { kind: "token" }>) => ({
    viewer,
    prisma: deps.prisma,
    sql: deps.sql,
    webhooks: deps.webhooks,
    connectors: deps.connectors,
    issuer: deps.config.issuer,
    audit: deps.audit,
  });

  app.use(requestMetrics(deps.metrics));
  app.use(async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = deps.logger.child({ reqId: requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    const started = performance.now();
    await next();
    c.header("X-Request-Id", requestId);
    // The path only: query strings can carry codes and tokens.
    log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, "request");
  });

  // Every HTML answer gets the pages' security headers (pages/security-headers.ts);
  // routes that need more name their addition with pagePolicy() below or in pages/.
  app.use(pageSecurityHeaders());

  // The rest of an oversized body is never read, so the connection cannot be reused.
  app.use(bodyLimit({ maxSize: 1024 * 1024, onError: (c) => tooLarge(c, deps) }));
  // Likewise a body refused unread (for its content type, say): past a few hundred KB the
  // connection was dropped under the client's next request; this way the client knows.
  app.use(async (c, next) => {
    await next();
    // GET and HEAD carry no body; not touching raw.body keeps @hono/node-server from building a full Request for them.
    if (c.req.method === "GET" || c.req.method === "HEAD") return;
    const raw = c.req.raw;
    if (raw.body && !raw.bodyUsed && c.req.header("content-length") !== "0") c.header("Connection", "close");
  });

  // PostgreSQL cannot store a NUL character in text: refuse it at the door rather
  // than fail deep inside a query. (/graphql's body is checked by its own plugin.)
  // Thrown, so that onError answers in the surface's own form: a page gets a page.
  app.use(async (c, next) => {
    const nul = "NUL characters are not allowed in requests.";
    if (/%00|\u0000/i.test(c.req.url)) throw invalidInput(undefined, nul);
    const type = (c.req.header("content-type") ?? "").toLowerCase();
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.path !== "/graphql" && /form|json|text/.test(type)) {
      const body = await c.req.text().catch(() => "");
      if (/\u0000|%00|\\u0000/i.test(body)) throw invalidInput(undefined, nul);
    }
    return next();
  });

  app.get("/healthz", async (c) => {
    const ok = await databaseAnswers(deps.prisma);
    c.header("Cache-Control", "no-store");
    return ok ? c.json({ status: "ok" }) : c.json({ status: "unavailable" }, 503, { "Retry-After": "1" });
  });

  app.route("/", metricsRoute(deps));

  app.route("/", graphiqlAssets());
  app.route("/", pageAssets());
  // The "Connect with scopegate" buttons partners embed (docs/branding.md).
  app.route("/", brandAssets());
  app.route("/", homePage(deps));
  app.route("/", accountPages(deps));
  app.route("/", connectedAppsPages(deps));
  app.route("/", activityPages(deps));
  app.route("/", accountSettingsPages(deps));
  app.route("/", connectionsPages(deps));
  app.route("/", developerPages(deps));
  const origins = new AllowedOrigins(deps);
  // The consent page and the authorization endpoint's error pages.
  app.use(AUTHORIZE_PATH, pagePolicy("authorization"));
  app.route("/", oauthRoutes(deps, { consentPage, errorPage: authorizeErrorPage }, origins));
  // scopegate as OAuth client of the providers in CONNECTORS_FILE.
  app.route("/", connectorEndpoints(deps));

  // GraphiQL, when a browser asks /graphql for HTML.
  app.use("/graphql", pagePolicy("graphiql"));
  // Single-page partner apps call /graphql with a bearer token from their own origin.
  app.use("/graphql", corsForPublicClients(origins, "GET, POST"));
  app.on(["GET", "POST", "OPTIONS"], "/graphql", async (c) => {
    const authorization = c.req.header("authorization");
    const bearer = await (hooks.resolveBearer ? hooks.resolveBearer(authorization) : viewerFromBearer(deps, authorization));
    if (bearer.kind === "invalid") {
      c.set("refusal", "invalid_token");
      return graphqlRefusal(c.req.header("accept"), 401, "INVALID_TOKEN", bearer.description, {
        "WWW-Authenticate": bearerChallenge(deps.config.issuer, { code: "invalid_token", description: bearer.description }),
        "Cache-Control": "no-store",
      });
    }
    if (bearer.kind === "ok") {
      // Per grant, so that refreshing for a new token does not reset the count; a
      // client_credentials token has no grant and counts for its client.
      const v = bearer.viewer;
      const wait = deps.rateLimits.graphqlPerToken.take(v.grantId ?? `client:${v.clientRowId}`);
      if (wait) return graphqlRateLimited(c, wait, "this token", { "X-OAuth-Scopes": [...v.scopes].join(" ") });
      // Reads are audited through the buffer: refuse (503) rather than read unaudited when it is full.
      deps.audit.assertRoom();
      // A bearer token is not ambient like a cookie: no CSRF check, and the cookie is ignored.
      const res = await yoga.fetch(c.req.raw, tokenContext(bearer.viewer));
      const headers = new Headers(res.headers);
      headers.set("X-OAuth-Scopes", [...bearer.viewer.scopes].join(" "));
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    }
    const session = await loadSession(c, deps);
    let viewer: Viewer = ANONYMOUS;
    if (session) {
      // A cookie rides along on cross-site requests too, so a cookie-authenticated
      // operation must also prove it came from our own pages: the session's CSRF
      // token in a header, which another site cannot read or set. Only the GraphiQL
      // page itself (an HTML GET with no operation) is served without it.
      // (Yoga renders GraphiQL, and executes nothing, for a GET that accepts HTML,
      // even with ?query= pre-filled: the editor runs it later with the header.)
      const isGraphiQLPage = c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html");
      const token = c.req.header("x-csrf-token");
      if (!isGraphiQLPage && !(token && safeEqual(token, session.csrfToken))) {
        return graphqlRefusal(
          c.req.header("accept"),
          403,
          "CSRF_TOKEN_INVALID",
          "Requests made with the account session cookie need the X-CSRF-Token header from the page.",
        );
      }
      if (!isGraphiQLPage) {
        const wait = deps.rateLimits.graphqlPerSession.take(session.id);
        if (wait) return graphqlRateLimited(c, wait, "this session");
      }
      viewer = { kind: "account", userId: session.userId, session };
    }
    return yoga.fetch(c.req.raw, {
      viewer,
      prisma: deps.prisma,
      sql: deps.sql,
      webhooks: deps.webhooks,
      connectors: deps.connectors,
      csrfToken: session?.csrfToken,
      issuer: deps.config.issuer,
    });
  });

  // MCP tools are stored GraphQL operations, run through this same Yoga server as the token's viewer.
  const executeAsToken: GraphQLExecutor = async (viewer, operation, variables) => {
    const request = new Request(`${deps.config.issuer}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: operation, variables }),
    });
    const res = await yoga.fetch(request, tokenContext(viewer));
    return (await res.json()) as Awaited<ReturnType<GraphQLExecutor>>;
  };
  app.route("/", mcpRoutes(deps, executeAsToken));

  // A page path gets a page; the API keeps its JSON; /mcp and the connector endpoints their own forms.
  app.notFound((c) => {
    const surface = surfaceOf(c.req.path);
    if (surface === "api" || surface === "graphql")
      return c.json({ error: "not_found", error_description: `No route for ${c.req.method} ${c.req.path}` }, 404);
    const message = surface === "page" ? "There is no page at this address." : `No route for ${c.req.method} ${c.req.path}.`;
    return errorAnswer(c, deps, new DomainError("not_found", message));
  });

  // One place where an error that no route answered becomes an answer, in the
  // error form of the surface it reached (issue 11 item 3): GraphQL's on
  // /graphql, RFC 6749's on the API, a page elsewhere. Saturation is 503 with
  // Retry-After, never 500; an unexpected error is logged and says nothing.
  app.onError((err, c) => {
    const log = c.get("log") ?? deps.logger;
    const domain = domainErrorOf(err);
    if (domain?.code === "unavailable") log.warn({ reason: describeUnavailable(err) }, "unavailable");
    else if (!domain) log.error({ err }, "unhandled error");
    return errorAnswer(c, deps, err);
  });

  return app;
}

/** 429 in GraphQL's error form (RATE_LIMITED), with Retry-After. */
function graphqlRateLimited(c: Context<AppEnv>, retryAfterSeconds: number, who: string, headers: Record<string, string> = {}): Response {
  c.set("refusal", "rate_limited");
  return graphqlRefusal(
    c.req.header("accept"),
    429,
    "RATE_LIMITED",
    `Too many requests with ${who}; retry in ${retryAfterSeconds} seconds.`,
    {
      ...headers,
      "Retry-After": String(retryAfterSeconds),
      "Cache-Control": "no-store",
    },
  );
}

/** An error as the answer of the surface its path belongs to, through that surface's one mapping. */
function errorAnswer(c: Context<AppEnv>, deps: AppDeps, err: unknown): Response | Promise<Response> {
  switch (surfaceOf(c.req.path)) {
    case "graphql": {
      const answer = graphqlErrorBody(err);
      return c.json(answer.body, answer.status as 500, answer.headers);
    }
    case "api":
      return oauthErrorResponse(c, oauthErrorFrom(err) ?? new OAuthError("server_error", "Something went wrong on our side.", 500));
    case "mcp":
      return mcpErrorResponse(c, err);
    case "connector":
      return connectorErrorResponse(c, deps, err);
    case "page":
      return errorPage(c, err);
  }
}

/** 413 for a body over the limit, in the error form of the surface it was sent to; the connection closes. */
function tooLarge(c: Context<AppEnv>, deps: AppDeps): Response | Promise<Response> {
  c.header("Connection", "close");
  const message = "The request body is over 1 MiB.";
  // GraphQL's in the media type the client accepts (GraphQL over HTTP), as its other refusals before execution.
  if (surfaceOf(c.req.path) === "graphql")
    return graphqlRefusal(c.req.header("accept"), 413, "REQUEST_TOO_LARGE", message, { Connection: "close" });
  return errorAnswer(c, deps, new DomainError("too_large", message));
}

/**
 * Which error form a path answers in: GraphQL's, the API's (RFC 6749 JSON),
 * the MCP endpoint's (JSON-RPC), the connector endpoints' ({"detail"}, or a
 * page for a browser), or a page's (HTML; the authorization endpoint is a page).
 */
function surfaceOf(path: string): "graphql" | "api" | "mcp" | "connector" | "page" {
  if (path === "/graphql") return "graphql";
  if (path === MCP_PATH) return "mcp";
  if (path === AUTHORIZE_PATH) return "page";
  if (path.startsWith(`${CONNECTORS_PREFIX}/`)) return "connector";
  if (path.startsWith("/v1/") || path.startsWith("/.well-known/") || path === "/metrics" || path === "/healthz") return "api";
  return "page";
}
