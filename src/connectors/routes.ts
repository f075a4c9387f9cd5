import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { HtmlEscapedString } from "hono/utils/html";
import { loadSession } from "../accounts/request-session.ts";
import type { SignInSession } from "../accounts/sessions.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { safeLocalPath } from "../lib/local-path.ts";
import { hasLoneSurrogate } from "../lib/text.ts";
import { sha256 } from "../lib/crypto.ts";
import { bearerTokenOf, wwwAuthenticate } from "../lib/www-authenticate.ts";
import { completeConnection, ConnectFlowError, startConnection, STATE_LIFETIME_MS, type ConnectionTags } from "./flow.ts";
import { ProviderError } from "./provider-client.ts";

/**
 * GET /v1/connectors/oauth/{provider}/authorize and .../callback. Errors take
 * the shape integrators of such connector APIs expect: 422
 * {"detail": [{"loc", "msg", "type"}]} for parameters, {"detail": "..."} for
 * the rest; a browser navigation gets the same status as a readable page.
 */

export const CONNECTORS_PREFIX = "/v1/connectors/oauth";
export const CONNECTIONS_PAGE = "/account/connections";
/**
 * The cookie that binds a flow to the browser that started it: one per flow,
 * named after its state, so that flows started side by side (two tabs, two
 * providers) each complete, and a visit to one callback clears only its own.
 */
export function browserCookieName(state: string): string {
  return `sg_connect_${sha256(state).slice(0, 16)}`;
}
const TAG_MAX = 200;
const TAGS = { collection_id: "collectionId", space_id: "spaceId", connector_id: "connectorId", tenant_id: "tenantId" } as const;

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The error page, supplied by src/pages/ through app.ts (this layer does not import the pages). */
export interface ConnectorViews {
  errorPage(input: { title: string; message: string; session: SignInSession | null }): Html;
}

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

export function connectorRoutes(deps: AppDeps, views: ConnectorViews): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const secure = deps.config.secureCookies;

  async function fail(c: Context<AppEnv>, status: 400 | 401 | 403 | 404 | 422 | 502, detail: string | FieldProblem[], title?: string) {
    c.header("Cache-Control", "no-store");
    if (wantsHtml(c)) {
      const message = typeof detail === "string" ? detail : detail.map((p) => `${p.loc[1]}: ${p.msg}`).join("; ");
      const session = await loadSession(c, deps);
      return c.html(views.errorPage({ title: title ?? "Could not connect", message, session }), status);
    }
    return c.json({ detail }, status);
  }

  const providerOf = (c: Context<AppEnv>) => deps.connectors.clients.get(c.req.param("provider") ?? "");

  app.get(`${CONNECTORS_PREFIX}/:provider/authorize`, async (c) => {
    const client = providerOf(c);
    if (!client) return fail(c, 404, "Provider not found.", "Unknown provider");
    const url = new URL(c.req.url);
    const problems: FieldProblem[] = [];
    const tags: ConnectionTags = {};
    for (const [param, key] of Object.entries(TAGS)) tags[key] = readParam(url, param, problems, TAG_MAX);
    const rawReturn = readParam(url, "redirect_uri", problems, 2000);
    const returnTo = rawReturn === null ? null : safeLocalPath(rawReturn);
    if (rawReturn !== null && returnTo === null)
      problems.push(invalid("redirect_uri", "must be a path on this site, such as /account/connections"));
    if (problems.length) return fail(c, 422, problems);

    // Who: a first-party app's bearer token, or the account session.
    let userId: string;
    const authorization = c.req.header("authorization");
    if (authorization) {
      const token = bearerTokenOf(authorization);
      const challenge = (description: string) =>
        wwwAuthenticate("Bearer", { realm: "scopegate", error: "invalid_token", error_description: description });
      if (!token) return c.json({ detail: "Use the Bearer authorization scheme." }, 401, { "WWW-Authenticate": challenge("malformed") });
      let live: Awaited<ReturnType<AppDeps["accessTokens"]["check"]>>;
      try {
        live = await deps.accessTokens.check(token);
      } catch (err) {
        const description = (err as Error).message;
        return c.json({ detail: description }, 401, { "WWW-Authenticate": challenge(description), "Cache-Control": "no-store" });
      }
      const owner = await deps.prisma.oAuthClient.findUnique({ where: { id: live.clientRowId }, select: { firstParty: true } });
      // A partner app may not link the user's other accounts: that is the user's own act, in our own apps.
      if (!owner?.firstParty) return fail(c, 403, "Only scopegate's own apps may connect providers for a user.");
      userId = live.claims.sub;
    } else {
      const session = await loadSession(c, deps);
      if (!session) {
        if (wantsHtml(c)) return c.redirect(`/login?return_to=${encodeURIComponent(url.pathname + url.search)}`, 303);
        return fail(c, 401, "Sign in first, or send a first-party bearer token.");
      }
      userId = session.userId;
    }

    let started: Awaited<ReturnType<typeof startConnection>>;
    try {
      started = await startConnection(deps.prisma, deps.connectors.keyEncryption, client, { userId, returnTo, tags });
    } catch (err) {
      if (err instanceof ProviderError) return fail(c, 502, err.message, `${client.provider.name} is not available`);
      throw err;
    }
    setCookie(c, browserCookieName(started.state), started.browserToken, {
      path: CONNECTORS_PREFIX,
      httpOnly: true,
      secure,
      // Lax: sent on the top-level GET back from the provider, never on a cross-site subrequest.
      sameSite: "Lax",
      maxAge: Math.floor(STATE_LIFETIME_MS / 1000),
    });
    c.header("Cache-Control", "no-store");
    if (!authorization && wantsHtml(c)) return c.redirect(started.authorizationUrl.href, 302);
    return c.json({ authorization_url: started.authorizationUrl.href });
  });

  app.get(`${CONNECTORS_PREFIX}/:provider/callback`, async (c) => {
    const client = providerOf(c);
    if (!client) return fail(c, 404, "Provider not found.", "Unknown provider");
    const url = new URL(c.req.url);
    const problems: FieldProblem[] = [];
    const state = readParam(url, "state", problems, 2000);
    const code = readParam(url, "code", problems, 4000);
    const error = readParam(url, "error", problems, 200);
    if (state === null && !problems.some((p) => p.loc[1] === "state")) problems.push(missing("state"));
    if (code === null && error === null && !problems.some((p) => p.loc[1] === "code")) problems.push(missing("code"));
    if (problems.length) return fail(c, 422, problems);

    const session = await loadSession(c, deps);
    const cookie = browserCookieName(state!);
    const browserToken = getCookie(c, cookie) ?? null;
    // This flow's cookie is done with, whatever happens next.
    deleteCookie(c, cookie, { path: CONNECTORS_PREFIX, secure });
    let done: Awaited<ReturnType<typeof completeConnection>>;
    try {
      done = await completeConnection(deps.prisma, deps.connectors.keyEncryption, client, {
        callback: url,
        state: state!,
        browserToken,
        sessionUserId: session?.userId ?? null,
      });
    } catch (err) {
      if (err instanceof ConnectFlowError) return fail(c, err.status, err.message);
      if (err instanceof ProviderError) return fail(c, err.kind === "refused" ? 400 : 502, err.message);
      throw err;
    }
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
