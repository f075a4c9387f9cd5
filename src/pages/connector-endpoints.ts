import { type Context, Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { SignInSession } from "../accounts/sessions.ts";
import { bearerChallenge, viewerFromBearer } from "../auth/bearer.ts";
import { completeConnection, type ConnectionTags, STATE_LIFETIME_MS, startConnection } from "../connectors/flow.ts";
import type { ProviderClient } from "../connectors/provider-client.ts";
import { CONNECTORS_PREFIX } from "../connectors/providers.ts";
import type { AppDeps } from "../context.ts";
import { asUnavailable } from "../db/unavailable.ts";
import { sha256 } from "../lib/crypto.ts";
import { DomainError, notFound } from "../lib/errors.ts";
import { safeLocalPath } from "../lib/local-path.ts";
import { hasLoneSurrogate } from "../lib/text.ts";
import { accountLayout } from "./account-ui.ts";
import { CONNECTIONS_PAGE } from "./connections.ts";
import { PAGE_STATUS } from "./errors.ts";
import { layout, type Html } from "./layout.ts";
import { pagePolicy } from "./security-headers.ts";
import { loadSession, requireSession, type SignedInEnv } from "./session.ts";

/**
 * GET /v1/connectors/oauth/{provider}/authorize and .../callback
 * (docs/connectors.md): the HTTP side of src/connectors/, a surface like the
 * pages beside it. Who is connecting comes from the shared checks (a
 * first-party app's bearer token through auth/bearer.ts, or the account session
 * through requireSession); every refusal, here or thrown by the services
 * (through app.ts onError), is answered by connectorErrorResponse, in the shape integrators of such
 * connector APIs expect: 422 {"detail": [{"loc", "msg", "type"}]} for
 * parameters, {"detail": "..."} for the rest; a browser navigation gets the
 * same status as a readable page.
 */

/**
 * The cookie that binds a flow to the browser that started it: one per flow,
 * named after its state, so that flows started side by side (two tabs, two
 * providers) each complete, and a visit to one callback clears only its own.
 */
export function browserCookieName(state: string): string {
  return `sg_connect_${sha256(state).slice(0, 16)}`;
}

const ENDPOINT = new RegExp(`^${CONNECTORS_PREFIX}/([^/]+)/(authorize|callback)$`);
const TAG_MAX = 200;
const TAGS = { collection_id: "collectionId", space_id: "spaceId", connector_id: "connectorId", tenant_id: "tenantId" } as const;

interface FieldProblem {
  loc: [string, string];
  msg: string;
  type: string;
}

const missing = (name: string): FieldProblem => ({ loc: ["query", name], msg: "field required", type: "value_error.missing" });
const invalid = (name: string, msg: string): FieldProblem => ({ loc: ["query", name], msg, type: "value_error" });

/** A browser navigation: it asks for HTML first (fetch and API clients ask for JSON or anything). */
function wantsHtml(c: Context): boolean {
  return /text\/html/i.test(c.req.header("accept") ?? "");
}

/** Reads one optional query parameter; a repeated one, or one that is not valid Unicode, is a problem. */
function readParam(url: URL, name: string, problems: FieldProblem[], maxLength: number): string | null {
  const values = url.searchParams.getAll(name);
  if (values.length === 0) return null;
  if (values.length > 1) {
    problems.push(invalid(name, "must be given once"));
    return null;
  }
  const v = values[0]!;
  if (v.length > maxLength) problems.push(invalid(name, `must be at most ${maxLength} characters`));
  else if (hasLoneSurrogate(v) || v.includes("\u0000")) problems.push(invalid(name, "must be valid text"));
  else return v;
  return null;
}

/** The page a browser gets for a refusal: what went wrong, and the way back. */
export function connectorErrorPage(p: { title: string; message: string; session: SignInSession | null }): Html {
  const body = html`<div class="card">
<h1>${p.title}</h1>
<p class="form-error" role="alert">${p.message}</p>
<p class="muted">Nothing was connected.</p>
<p><a href="${p.session ? CONNECTIONS_PAGE : "/"}">${p.session ? "Back to linked accounts" : "Back to scopegate"}</a></p>
</div>`;
  return p.session ? accountLayout({ title: p.title, session: p.session, tab: "connections", body }) : layout({ title: p.title, body });
}

type Status = 400 | 401 | 403 | 404 | 413 | 422 | 500 | 502 | 503;

/**
 * The one writer of the connector endpoints' error answers: {"detail"} JSON,
 * or for a browser navigation a page with the same status, never cached. A 401
 * is always JSON: a browser without a session is sent to sign in instead.
 */
async function answer(
  c: Context,
  deps: AppDeps,
  status: Status,
  detail: string | FieldProblem[],
  opts: { title?: string; headers?: Record<string, string>; readSession?: boolean } = {},
): Promise<Response> {
  c.header("Cache-Control", "no-store");
  for (const [name, value] of Object.entries(opts.headers ?? {})) c.header(name, value);
  if (status === 401 || !wantsHtml(c)) return c.json({ detail }, status);
  const message = typeof detail === "string" ? detail : detail.map((p) => `${p.loc[1]}: ${p.msg}`).join("; ");
  // Best effort: the page links back to the user's connections when it can tell who they are.
  const session = opts.readSession === false ? null : await loadSession(c, deps).catch(() => null);
  return c.html(connectorErrorPage({ title: opts.title ?? "Could not connect", message, session }), status);
}

/** The page title for a refusal at `path`: names the provider when it is the one that failed. */
function titleOf(deps: AppDeps, path: string, code: DomainError["code"]): string {
  const endpoint = ENDPOINT.exec(path);
  if (code === "not_found") return endpoint ? "Unknown provider" : "Not found";
  if (code === "unavailable") return "Busy right now";
  if (code === "upstream") {
    const name = endpoint ? deps.connectors.clients.get(endpoint[1]!)?.provider.name : undefined;
    return name ? `${name} is not available` : "Could not connect";
  }
  return "Could not connect";
}

/**
 * The one mapping of errors to the connector endpoints' answers (their
 * routes, and app.ts onError, not-found and body limit for every path under
 * /v1/connectors/): a DomainError's message with its code's status
 * (PAGE_STATUS: invalid_input 400, forbidden 403, not_found 404, too_large
 * 413, upstream 502 for a provider that failed); unavailable (a saturated
 * database counts) 503 with Retry-After; anything else 500 that says nothing.
 */
export function connectorErrorResponse(c: Context, deps: AppDeps, err: unknown): Promise<Response> {
  const unavailable = asUnavailable(err);
  if (unavailable) {
    return answer(c, deps, 503, unavailable.message, {
      title: titleOf(deps, c.req.path, "unavailable"),
      headers: { "Retry-After": String(unavailable.retryAfterSeconds) },
      readSession: false,
    });
  }
  if (err instanceof DomainError) {
    return answer(c, deps, PAGE_STATUS[err.code], err.message, { title: titleOf(deps, c.req.path, err.code) });
  }
  return answer(c, deps, 500, "Something went wrong on our side.", { title: "Something went wrong", readSession: false });
}

type ConnectEnv = SignedInEnv & {
  Variables: { provider: ProviderClient; connectingUser: string; returnTo: string | null; tags: ConnectionTags };
};

export function connectorEndpoints(deps: AppDeps): Hono<ConnectEnv> {
  const app = new Hono<ConnectEnv>();
  const secure = deps.config.secureCookies;
  const authorizePath = `${CONNECTORS_PREFIX}/:provider/authorize`;
  const callbackPath = `${CONNECTORS_PREFIX}/:provider/callback`;
  // The callback's URL carries the provider's authorization code: its pages send no Referer.
  app.use(callbackPath, pagePolicy("connectorCallback"));

  /** The provider the path names (404 before anything else). */
  const provider: MiddlewareHandler<ConnectEnv> = async (c, next) => {
    const client = deps.connectors.clients.get(c.req.param("provider") ?? "");
    if (!client) throw notFound("Provider");
    c.set("provider", client);
    await next();
  };

  /** The authorize endpoint's parameters, all problems at once (422). */
  const authorizeParams: MiddlewareHandler<ConnectEnv> = async (c, next) => {
    const url = new URL(c.req.url);
    const problems: FieldProblem[] = [];
    const tags: ConnectionTags = {};
    for (const [param, key] of Object.entries(TAGS)) tags[key] = readParam(url, param, problems, TAG_MAX);
    const rawReturn = readParam(url, "redirect_uri", problems, 2000);
    const returnTo = rawReturn === null ? null : safeLocalPath(rawReturn);
    if (rawReturn !== null && returnTo === null)
      problems.push(invalid("redirect_uri", "must be a path on this site, such as /account/connections"));
    if (problems.length) return answer(c, deps, 422, problems);
    c.set("tags", tags);
    c.set("returnTo", returnTo);
    await next();
  };

  /**
   * Who is connecting: a first-party app's bearer token (the shared bearer
   * check; an instance that cannot vouch for tokens answers 503, so that the
   * client keeps a token that may well be good), or the account session: a
   * browser without one signs in first (requireSession), an API caller gets 401.
   */
  const signedIn = requireSession<ConnectEnv>(deps);
  const connectingUser: MiddlewareHandler<ConnectEnv> = async (c, next) => {
    const authorization = c.req.header("authorization");
    if (authorization) {
      const bearer = await viewerFromBearer(deps, authorization);
      if (bearer.kind !== "ok") {
        const description = bearer.kind === "invalid" ? bearer.description : "Send a bearer token.";
        c.set("refusal", "invalid_token");
        return answer(c, deps, 401, description, {
          headers: { "WWW-Authenticate": bearerChallenge(deps.config.issuer, { code: "invalid_token", description }) },
        });
      }
      const owner = await deps.prisma.oAuthClient.findUnique({ where: { id: bearer.viewer.clientRowId }, select: { firstParty: true } });
      // A partner app may not link the user's other accounts: that is the user's own act, in our own apps.
      if (!owner?.firstParty) throw new DomainError("forbidden", "Only scopegate's own apps may connect providers for a user.");
      c.set("connectingUser", bearer.viewer.userId);
      return next();
    }
    if (!wantsHtml(c) && !(await loadSession(c, deps))) return answer(c, deps, 401, "Sign in first, or send a first-party bearer token.");
    return signedIn(c, async () => {
      c.set("connectingUser", c.var.accountSession.userId);
      await next();
    });
  };

  app.get(authorizePath, provider, authorizeParams, connectingUser, async (c) => {
    const started = await startConnection(deps.prisma, deps.connectors.keyEncryption, c.var.provider, {
      userId: c.var.connectingUser,
      returnTo: c.var.returnTo,
      tags: c.var.tags,
    });
    setCookie(c, browserCookieName(started.state), started.browserToken, {
      path: CONNECTORS_PREFIX,
      httpOnly: true,
      secure,
      // Lax: sent on the top-level GET back from the provider, never on a cross-site subrequest.
      sameSite: "Lax",
      maxAge: Math.floor(STATE_LIFETIME_MS / 1000),
    });
    c.header("Cache-Control", "no-store");
    if (!c.req.header("authorization") && wantsHtml(c)) return c.redirect(started.authorizationUrl.href, 302);
    return c.json({ authorization_url: started.authorizationUrl.href });
  });

  app.get(callbackPath, provider, async (c) => {
    const url = new URL(c.req.url);
    const problems: FieldProblem[] = [];
    const state = readParam(url, "state", problems, 2000);
    const code = readParam(url, "code", problems, 4000);
    const error = readParam(url, "error", problems, 200);
    if (state === null && !problems.some((p) => p.loc[1] === "state")) problems.push(missing("state"));
    if (code === null && error === null && !problems.some((p) => p.loc[1] === "code")) problems.push(missing("code"));
    if (problems.length) return answer(c, deps, 422, problems);

    const session = await loadSession(c, deps);
    const cookie = browserCookieName(state!);
    const browserToken = getCookie(c, cookie) ?? null;
    // This flow's cookie is done with, whatever happens next (a refusal's answer keeps this header).
    deleteCookie(c, cookie, { path: CONNECTORS_PREFIX, secure });
    const done = await completeConnection(deps.prisma, deps.connectors.keyEncryption, c.var.provider, {
      callback: url,
      state: state!,
      browserToken,
      sessionUserId: session?.userId ?? null,
    });
    c.header("Cache-Control", "no-store");
    const accept = c.req.header("accept") ?? "";
    if (/application\/json/i.test(accept) && !/text\/html/i.test(accept)) {
      return c.json({
        message: "OAuth connection established successfully",
        provider: done.provider,
        collection_id: done.tags.collectionId ?? null,
        space_id: done.tags.spaceId ?? null,
        connector_id: done.tags.connectorId ?? null,
        tenant_id: done.tags.tenantId ?? null,
      });
    }
    return c.redirect(done.returnTo ?? CONNECTIONS_PAGE, 303);
  });

  return app;
}
