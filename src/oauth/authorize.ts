import { Hono, type Context } from "hono";
import type { AppDeps, AppEnv } from "../context.ts";
import type { Grant, OAuthClient } from "../generated/prisma/client.ts";
import type { LiveSession } from "../auth/sessions.ts";
import { checkFormCsrf } from "../auth/csrf.ts";
import { loadSession } from "../auth/request-session.ts";
import type { ClientEnvironment } from "../generated/prisma/client.ts";
import type { HtmlEscapedString } from "hono/utils/html";
import { createAuthorizationCode } from "./codes.ts";
import type { OAuthErrorCode } from "./errors.ts";
import { findLiveGrant, grantAccess } from "./grants.ts";
import { parseScope } from "./params.ts";
import { PROTOCOL_SCOPES, SCOPE_DESCRIPTIONS } from "./scopes.ts";

/**
 * GET /v1/oauth/authorize (RFC 6749 §4.1 with OAuth 2.1's rules: code flow only,
 * PKCE S256 for every client, exact redirect URIs) and POST /v1/oauth/authorize,
 * the answer of the consent page.
 *
 * Until the redirect URI is known to belong to the client, every problem is
 * shown on an error page here: redirecting to an unchecked address would make
 * scopegate an open redirector. After that, errors go back to the app.
 */

export const AUTHORIZE_PATH = "/v1/oauth/authorize";

/** One requested scope as the consent page lists it. */
export interface ConsentScope {
  scope: string;
  /** what it lets the app do, in plain words */
  description: string;
  /**
   * "choose": a checkbox the user may untick; "granted": allowed earlier, shown
   * ticked and fixed (narrowed under Connected apps); "always": no checkbox
   * (openid, offline_access: they come with any consent).
   */
  choice: "choose" | "granted" | "always";
  /** the user has a grant for this app and this scope is not in it */
  isNew: boolean;
  /** for "choose": ticked when the page is shown */
  ticked: boolean;
}

export interface ConsentPageInput {
  /** where the form posts */
  action: string;
  session: LiveSession;
  client: { name: string; environment: ClientEnvironment };
  /** host of the redirect URI: where the user goes after choosing */
  redirectHost: string;
  scopes: ConsentScope[];
  /** the authorization request's parameters, carried in hidden fields */
  hidden: Record<string, string>;
  /** shown above the list (e.g. when nothing was ticked) */
  message?: string;
}

/**
 * The pages this endpoint shows, supplied by src/pages/ (through app.ts), so that
 * the authorization server never imports the web pages.
 */
export interface AuthorizeViews {
  consentPage(input: ConsentPageInput): Html;
  errorPage(input: { title: string; message: string; session: LiveSession | null }): Html;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The authorization-endpoint error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export type AuthorizeErrorCode =
  | OAuthErrorCode
  | "request_not_supported"
  | "request_uri_not_supported";

/** Parameters the consent form carries back in hidden fields (and validates again). */
const CARRIED_PARAMS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce",
  "prompt",
  "response_mode",
] as const;

const KNOWN_PROMPTS = new Set(["none", "login", "consent"]);
const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;
const MAX_PARAM_LENGTH = 2048;
/** /login keeps a return path of at most this many characters (safeReturnTo). */
const MAX_RETURN_TO = 2000;
/** The consent form's checkbox name: repeated once per ticked scope. */
export const TICKED_SCOPE_FIELD = "grant_scope";

export interface AuthorizationRequest {
  client: OAuthClient;
  redirectUri: string;
  state: string | undefined;
  scopes: string[];
  codeChallenge: string;
  nonce: string | undefined;
  prompt: Set<string>;
  /** the recognised parameters, as sent, for the consent form's hidden fields */
  carried: Record<string, string>;
}

export type ValidationResult =
  /** the client or its redirect URI cannot be trusted: show a page, never redirect */
  | { kind: "page"; title: string; message: string }
  /** an error for the (trusted) redirect URI */
  | { kind: "redirect"; redirectUri: string; state: string | undefined; error: AuthorizeErrorCode; description: string }
  | { kind: "ok"; request: AuthorizationRequest };

/** Parameter name -> every value it was given with. */
export type RawParams = Map<string, string[]>;

export function collectParams(entries: Iterable<[string, string]>): RawParams {
  const out: RawParams = new Map();
  for (const [k, v] of entries) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/** A loopback IP literal redirect URI, split around its port (RFC 8252 §7.3). */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?#].*)?$/;

/**
 * True when `requested` is one of the client's registered redirect URIs,
 * compared as exact strings; for public clients a registered loopback IP
 * literal (http://127.0.0.1 or http://[::1]) matches with any port, the rest
 * of the string still exact. `localhost` gets no such exception.
 */
export function redirectUriMatches(client: Pick<OAuthClient, "type" | "redirectUris">, requested: string): boolean {
  if (client.redirectUris.includes(requested)) return true;
  if (client.type !== "PUBLIC") return false;
  const want = LOOPBACK.exec(requested);
  if (!want) return false;
  const port = want[2] === undefined ? 80 : Number(want[2]);
  if (port < 1 || port > 65535) return false;
  try {
    new URL(requested);
  } catch {
    return false;
  }
  return client.redirectUris.some((registered) => {
    const have = LOOPBACK.exec(registered);
    return !!have && have[1] === want[1] && (have[3] ?? "") === (want[3] ?? "");
  });
}

/** An error_description may only hold printable ASCII without `"` and `\` (RFC 6749 §5.2). */
function describable(value: string): boolean {
  return value.length <= 100 && /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/.test(value);
}

const CLIENT_ID_PAGE = {
  title: "This app's request can't be used",
  tail: "Go back to the app and try again; if it keeps happening, tell the app's developer.",
};

/**
 * Checks an authorization request from scratch (the query of a GET or the
 * hidden fields of the consent form), in the order the errors must be reported.
 */
export async function validateAuthorizationRequest(deps: AppDeps, params: RawParams): Promise<ValidationResult> {
  const page = (message: string): ValidationResult => ({
    kind: "page",
    title: CLIENT_ID_PAGE.title,
    message: `${message} ${CLIENT_ID_PAGE.tail}`,
  });

  const clientIds = params.get("client_id") ?? [];
  if (clientIds.length === 0 || !clientIds[0]) return page("The app did not say which app it is (client_id is missing).");
  if (clientIds.length > 1) return page("The app sent client_id more than once.");
  const clientId = clientIds[0];
  const client =
    clientId.length <= 200 ? await deps.prisma.oAuthClient.findUnique({ where: { clientId } }) : null;
  if (!client) return page("This app is not registered with scopegate (unknown client_id).");
  if (client.revokedAt) return page(`${client.name} has been switched off, so it can no longer ask for access.`);

  const redirectUris = params.get("redirect_uri") ?? [];
  if (redirectUris.length === 0 || !redirectUris[0]) {
    return page(`${client.name} did not say where to send you back to (redirect_uri is missing).`);
  }
  if (redirectUris.length > 1) return page(`${client.name} sent redirect_uri more than once.`);
  const redirectUri = redirectUris[0];
  if (!redirectUriMatches(client, redirectUri) || !URL.canParse(redirectUri)) {
    return page(
      `${client.name} asked to send you back to an address that is not registered for it, so scopegate did not send you there.`,
    );
  }

  // From here on the redirect URI is trusted: errors go back to the app.
  const stateValues = params.get("state");
  const state =
    stateValues && stateValues.length === 1 && stateValues[0] && stateValues[0].length <= MAX_PARAM_LENGTH
      ? stateValues[0]
      : undefined;
  const fail = (error: AuthorizeErrorCode, description: string): ValidationResult => ({
    kind: "redirect",
    redirectUri,
    state,
    error,
    description,
  });

  for (const [name, values] of params) {
    if (values.length > 1) {
      return fail("invalid_request", `Parameter ${describable(name) ? name : "(unnamed)"} is included more than once.`);
    }
  }
  const one = (name: string): string | undefined => params.get(name)?.[0];

  if (params.has("request")) return fail("request_not_supported", "Request objects (the request parameter) are not supported.");
  if (params.has("request_uri")) {
    return fail("request_uri_not_supported", "Request objects by reference (request_uri) are not supported.");
  }
  for (const [name, values] of params) {
    if (values[0]!.length > MAX_PARAM_LENGTH) {
      return fail("invalid_request", `Parameter ${describable(name) ? name : "(unnamed)"} is too long.`);
    }
  }

  const responseType = one("response_type");
  if (!responseType) return fail("invalid_request", "response_type is missing; it must be code.");
  if (responseType !== "code") return fail("unsupported_response_type", "Only response_type=code is supported.");

  const responseMode = one("response_mode");
  if (responseMode !== undefined && responseMode !== "query") {
    return fail("invalid_request", "Only response_mode=query is supported.");
  }

  const codeChallenge = one("code_challenge");
  if (!codeChallenge) return fail("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.");
  const method = one("code_challenge_method");
  if (method !== "S256") {
    return fail(
      "invalid_request",
      method === undefined || method === "plain"
        ? "code_challenge_method must be S256 (plain PKCE is not accepted)."
        : "code_challenge_method must be S256.",
    );
  }
  if (!CODE_CHALLENGE.test(codeChallenge)) {
    return fail("invalid_request", "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~.");
  }

  const scopes = parseScope(one("scope"));
  if (scopes.length === 0) return fail("invalid_scope", "Ask for at least one scope.");
  const allowed = new Set<string>([...client.scopes, ...PROTOCOL_SCOPES]);
  const refused = scopes.filter((s) => !allowed.has(s));
  if (refused.length) {
    const named = refused.join(" ");
    return fail(
      "invalid_scope",
      describable(named) ? `This client may not ask for: ${named}.` : "The request asks for scopes this client may not ask for.",
    );
  }

  const prompt = new Set(parseScope(one("prompt")));
  for (const p of prompt) {
    if (!KNOWN_PROMPTS.has(p)) {
      return fail("invalid_request", `Unsupported prompt value${describable(p) ? ` ${p}` : ""}; use none, login or consent.`);
    }
  }
  if (prompt.has("none") && prompt.size > 1) return fail("invalid_request", "prompt=none cannot be combined with other values.");

  const carried: Record<string, string> = {};
  for (const name of CARRIED_PARAMS) {
    const v = one(name);
    if (v !== undefined) carried[name] = v;
  }
  return {
    kind: "ok",
    request: {
      client,
      redirectUri,
      state,
      scopes,
      codeChallenge,
      nonce: one("nonce") || undefined,
      prompt,
      carried,
    },
  };
}

/** The redirect URI with the response parameters appended to whatever query it already has. */
export function authorizationResponseUrl(
  redirectUri: string,
  issuer: string,
  params: Record<string, string | undefined>,
): string {
  const url = new URL(redirectUri);
  const extra = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) extra.append(k, v);
  extra.append("iss", issuer);
  // Keep the registered query exactly as it was written; only add ours after it.
  url.search = url.search && url.search !== "?" ? `${url.search}&${extra}` : `?${extra}`;
  return url.href;
}

/** True when the user's live grant already holds every requested scope. */
export function grantCovers(grant: Grant | null, scopes: string[]): boolean {
  return !!grant && scopes.every((s) => grant.scopes.includes(s));
}

/**
 * Records consent (a new or widened grant) and creates a code, in one
 * transaction. With `requireCovered` (consent skipped because of an earlier
 * grant), the grant is re-read inside the transaction and nothing is issued
 * if it no longer covers the scopes (revoked in the meantime): returns null.
 */
async function issueCode(
  deps: AppDeps,
  req: AuthorizationRequest,
  session: LiveSession,
  scopes: string[],
  requireCovered: boolean,
): Promise<string | null> {
  return deps.prisma.$transaction(async (tx) => {
    if (requireCovered && !grantCovers(await findLiveGrant(tx, session.userId, req.client.id), scopes)) return null;
    const grant = await grantAccess(tx, { userId: session.userId, client: req.client, scopes });
    return createAuthorizationCode(tx, {
      grantId: grant.id,
      clientRowId: req.client.id,
      userId: session.userId,
      redirectUri: req.redirectUri,
      scopes,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      authTime: session.createdAt,
    });
  });
}

function isProtocolScope(scope: string): boolean {
  return (PROTOCOL_SCOPES as readonly string[]).includes(scope);
}

/** The scopes as the consent page lists them. */
function consentScopes(req: AuthorizationRequest, grant: Grant | null, ticked?: Set<string>): ConsentScope[] {
  return req.scopes.map((scope) => {
    const alreadyGranted = !!grant && grant.scopes.includes(scope);
    return {
      scope,
      description: SCOPE_DESCRIPTIONS[scope] ?? scope,
      // openid and offline_access come with any consent (see the POST handler); scopes
      // already granted are narrowed under Connected apps, not here.
      choice: isProtocolScope(scope) ? "always" : alreadyGranted ? "granted" : "choose",
      isNew: !!grant && !alreadyGranted,
      ticked: ticked ? ticked.has(scope) : true,
    };
  });
}

function frameHeaders(c: Context): void {
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
  c.header("X-Frame-Options", "DENY");
  c.header("Content-Security-Policy", "frame-ancestors 'none'; default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'");
  // Not no-referrer: with it, browsers send `Origin: null` on the page's own form posts,
  // which the CSRF check rightly refuses. same-origin keeps the URL from other sites.
  c.header("Referrer-Policy", "same-origin");
}

export function authorizeRoutes(deps: AppDeps, views: AuthorizeViews): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const issuer = deps.config.issuer;
  const issuerOrigin = new URL(issuer).origin;
  const secure = deps.config.secureCookies;

  async function errorPage(c: Context<AppEnv>, title: string, message: string, status: 400 | 403) {
    frameHeaders(c);
    const session = await loadSession(c, deps);
    return c.html(views.errorPage({ title, message, session }), status);
  }

  function redirectTo(c: Context<AppEnv>, url: string, status: 302 | 303) {
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    return c.redirect(url, status);
  }

  function redirectError(
    c: Context<AppEnv>,
    r: { redirectUri: string; state: string | undefined },
    error: AuthorizeErrorCode,
    description: string,
    status: 302 | 303,
  ) {
    c.var.log.info({ error }, "authorization request refused");
    return redirectTo(
      c,
      authorizationResponseUrl(r.redirectUri, issuer, { error, error_description: description, state: r.state }),
      status,
    );
  }

  function redirectCode(c: Context<AppEnv>, req: AuthorizationRequest, code: string, scopes: string[], status: 302 | 303) {
    c.var.log.info({ clientId: req.client.clientId, scopes }, "authorization code issued");
    return redirectTo(c, authorizationResponseUrl(req.redirectUri, issuer, { code, state: req.state }), status);
  }

  function loginRedirect(c: Context<AppEnv>, req: AuthorizationRequest, returnTo: string, status: 302 | 303) {
    if (returnTo.length > MAX_RETURN_TO) {
      return redirectError(c, req, "invalid_request", "The authorization request is too long to return to after sign-in.", status);
    }
    return redirectTo(c, `/login?return_to=${encodeURIComponent(returnTo)}`, status);
  }

  async function showConsent(
    c: Context<AppEnv>,
    req: AuthorizationRequest,
    session: LiveSession,
    grant: Grant | null,
    opts: { ticked?: Set<string>; message?: string; status?: 200 | 400 } = {},
  ) {
    frameHeaders(c);
    return c.html(
      views.consentPage({
        action: AUTHORIZE_PATH,
        session,
        client: { name: req.client.name, environment: req.client.environment },
        redirectHost: new URL(req.redirectUri).host,
        scopes: consentScopes(req, grant, opts.ticked),
        hidden: req.carried,
        message: opts.message,
      }),
      opts.status ?? 200,
    );
  }

  app.get(AUTHORIZE_PATH, async (c) => {
    const url = new URL(c.req.url);
    const result = await validateAuthorizationRequest(deps, collectParams(url.searchParams));
    if (result.kind === "page") return errorPage(c, result.title, result.message, 400);
    if (result.kind === "redirect") return redirectError(c, result, result.error, result.description, 302);
    const req = result.request;

    // prompt=login is accepted but treated like no prompt: an existing session is used as it is.
    const session = await loadSession(c, deps);
    if (!session) {
      if (req.prompt.has("none")) return redirectError(c, req, "login_required", "The user is not signed in.", 302);
      return loginRedirect(c, req, url.pathname + url.search, 302);
    }

    const grant = await findLiveGrant(deps.prisma, session.userId, req.client.id);
    const skip = !req.prompt.has("consent") && (req.client.firstParty || grantCovers(grant, req.scopes));
    if (skip) {
      const code = await issueCode(deps, req, session, req.scopes, !req.client.firstParty);
      if (code) return redirectCode(c, req, code, req.scopes, 302);
      // The grant was revoked while we looked: ask again.
    }
    if (req.prompt.has("none")) {
      return redirectError(c, req, "consent_required", "The user has not yet allowed this app these scopes.", 302);
    }
    return showConsent(c, req, session, skip ? await findLiveGrant(deps.prisma, session.userId, req.client.id) : grant);
  });

  app.post(AUTHORIZE_PATH, async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      return errorPage(c, "This form could not be read", "Go back to the app and start again.", 400);
    }
    const form = new URLSearchParams(await c.req.text());
    const oauth: [string, string][] = [];
    const ticked = new Set<string>();
    let csrf: string | undefined;
    let decision: string | undefined;
    let repeatedControl = false;
    for (const [k, v] of form) {
      if (k === TICKED_SCOPE_FIELD) ticked.add(v);
      else if (k === "csrf") {
        repeatedControl ||= csrf !== undefined;
        csrf = v;
      } else if (k === "decision") {
        repeatedControl ||= decision !== undefined;
        decision = v;
      } else oauth.push([k, v]);
    }

    // Validated from scratch: the hidden fields are no more trusted than the original query.
    const result = await validateAuthorizationRequest(deps, collectParams(oauth));
    if (result.kind === "page") return errorPage(c, result.title, result.message, 400);
    if (result.kind === "redirect") return redirectError(c, result, result.error, result.description, 303);
    const req = result.request;

    const session = await loadSession(c, deps);
    if (!session) {
      // Signed out (or the session expired) since the page was shown: sign in and see the page again.
      return loginRedirect(c, req, `${AUTHORIZE_PATH}?${new URLSearchParams(req.carried)}`, 303);
    }
    if (repeatedControl || !checkFormCsrf(c, session, secure, issuerOrigin, csrf)) {
      c.var.log.warn({ clientId: req.client.clientId }, "consent form refused: CSRF check failed");
      return errorPage(
        c,
        "This form expired or came from another site",
        "Nothing was shared. Go back to the app and start again.",
        403,
      );
    }

    if (decision === "deny") {
      c.var.log.info({ clientId: req.client.clientId }, "consent denied");
      return redirectError(c, req, "access_denied", "The user denied the request.", 303);
    }
    if (decision !== "allow") {
      return errorPage(c, "Choose Allow or Deny", "Go back to the app and start again.", 400);
    }

    const grant = await findLiveGrant(deps.prisma, session.userId, req.client.id);
    // What the user allows: the protocol scopes if asked for (openid only says who they
    // are; offline_access has no checkbox because the token endpoint decides refresh
    // tokens per client), what they allowed before (shown ticked and fixed; narrowed
    // under Connected apps), and the data scopes they ticked now. When every data scope
    // is unticked, a code is still issued for the protocol scopes; with nothing at all
    // left, the page is shown again with a message.
    const scopes = req.scopes.filter((s) => isProtocolScope(s) || grant?.scopes.includes(s) || ticked.has(s));
    if (scopes.length === 0) {
      return showConsent(c, req, session, grant, {
        ticked,
        message: "Tick at least one permission to allow, or choose Deny.",
        status: 400,
      });
    }
    const code = await issueCode(deps, req, session, scopes, false);
    return redirectCode(c, req, code!, scopes, 303);
  });

  return app;
}
