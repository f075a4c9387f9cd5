import { Hono, type Context } from "hono";
import { OAUTH_PATHS } from "../paths.ts";
import type { HtmlEscapedString } from "hono/utils/html";
import type { AppEnv } from "../../request-env.ts";
import type { OAuthDeps } from "../deps.ts";
import type { Grant } from "../../generated/prisma/client.ts";
import type { SignInSession } from "../../accounts/sessions.ts";
import { CSRF_REFUSAL, checkFormCsrf } from "../../accounts/csrf.ts";
import { readForm } from "../../lib/form.ts";
import { noStore } from "../errors.ts";
import { loadSession } from "../../accounts/request-session.ts";
import { reserveRegistration } from "../../clients/dynamic-registration.ts";
import { CLIENT_ID_FIELD, looksLikeDocumentUrl, MetadataDocumentClients } from "../../clients/metadata-documents.ts";
import { RateLimiter } from "../../db/rate-limit.ts";
import { DomainError } from "../../lib/errors.ts";
import { addressLimitKey, requestAddress, TrustedProxies } from "../../lib/client-address.ts";
import { findLiveGrant } from "../../consent/grants.ts";
import { allowedScopes, consentRequired, consentScopes, maySkipConsent, type ConsentPageInput } from "./consent.ts";
import { readConsentForm } from "./consent-form.ts";
import { AuthorizeError, collectParams, type RawParams } from "./context.ts";
import { issueCode } from "./issue-code.ts";
import { refusal, type Refusal } from "./refusal.ts";
import { authorizationResponseUrl, signInPath } from "./response.ts";
import { signInReturnQuery, signInStep } from "./sign-in.ts";
import { validateAuthorizationRequest, type AuthorizationRequest } from "./validate.ts";

/**
 * GET /v1/oauth/authorize (RFC 6749 §4.1 with OAuth 2.1's rules: code flow only,
 * PKCE S256 for every client, exact redirect URIs) and POST /v1/oauth/authorize,
 * the answer of the consent page. The request is judged by the checks in
 * validate.ts; then sign-in.ts decides whether the user must sign in,
 * consent.ts whether to ask, and issue-code.ts issues the code.
 *
 * Until the redirect URI is known to belong to the client, every problem is
 * shown on an error page here: redirecting to an unchecked address would make
 * scopegate an open redirector. After that, errors go back to a verified app;
 * an app that registered itself gets a page with a link back instead
 * (RFC 9700 §4.11.2). refusal.ts decides, for every refusal, Deny included.
 */

export const AUTHORIZE_PATH = OAUTH_PATHS.authorize;

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/**
 * The pages this endpoint shows, supplied by src/pages/ (through app.ts), so that
 * the authorization server never imports the web pages.
 */
export interface AuthorizeViews {
  consentPage(input: ConsentPageInput): Html;
  /** `back`: a link the user may follow to the app, carrying the error (refusal.ts) */
  errorPage(input: { title: string; message: string; session: SignInSession | null; back?: { href: string; host: string } }): Html;
}

export function authorizeRoutes(deps: OAuthDeps, views: AuthorizeViews): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const issuer = deps.config.issuer;
  const issuerOrigin = new URL(issuer).origin;
  const secure = deps.config.secureCookies;

  const proxies = new TrustedProxies(deps.config.trustProxy);
  const documents = new MetadataDocumentClients(deps.prisma, deps.config.clientMetadataDocuments);
  const limiter = new RateLimiter(deps.prisma);

  /**
   * Each fetch of a metadata document counts against the requesting address, in
   * the same buckets as RFC 7591 registrations; over the limit, nothing is
   * fetched and the error page answers 429 with Retry-After.
   */
  async function reserveFetch(c: Context<AppEnv>) {
    const address = addressLimitKey(requestAddress(c, proxies));
    const reservation = await reserveRegistration(limiter, deps.config.clientRegistration, address);
    if (reservation.ok) return;
    c.var.log.warn(
      { limit: "client-registration per address", retryAfter: reservation.retryAfterSeconds },
      "metadata document fetch limited",
    );
    const wait = reservation.retryAfterSeconds;
    throw new AuthorizeError(
      "too_many_requests",
      `Too many apps were looked up from your network address; try again in ${wait} seconds.`,
      wait,
    );
  }

  /** A client_id that is a metadata document URL is resolved by fetching it (src/clients/metadata-documents.ts); its problems are shown on the error page. */
  async function findClient(c: Context<AppEnv>, clientId: string) {
    if (!looksLikeDocumentUrl(clientId)) return deps.prisma.oAuthClient.findUnique({ where: { clientId } });
    try {
      return await documents.find(clientId, () => reserveFetch(c));
    } catch (err) {
      if (!(err instanceof DomainError && err.field === CLIENT_ID_FIELD)) throw err;
      c.var.log.info({ clientId, detail: err.message }, "client metadata document refused");
      throw new AuthorizeError("invalid_client", err.message);
    }
  }

  const validate = (c: Context<AppEnv>, params: RawParams, now: Date) =>
    validateAuthorizationRequest({ params, now, issuer, findClient: (clientId) => findClient(c, clientId) });

  async function errorPage(
    c: Context<AppEnv>,
    title: string,
    message: string,
    status: 200 | 400 | 403 | 429,
    back?: { href: string; host: string },
  ) {
    // Security headers (the "authorization" policy) are set for every page by app.ts.
    noStore(c);
    const session = await loadSession(c, deps);
    return c.html(views.errorPage({ title, message, session, ...(back ? { back } : {}) }), status);
  }

  function redirectTo(c: Context<AppEnv>, url: string, status: 302 | 303) {
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    return c.redirect(url, status);
  }

  /** Answers a refusal as refusal.ts decided: a page (with the link back, if any) or a redirect with `status`. */
  function refuse(c: Context<AppEnv>, r: Refusal, status: 302 | 303) {
    c.var.log.info({ error: r.error, answer: r.kind }, "authorization request refused");
    if (r.kind === "page") {
      const back = r.back && {
        href: authorizationResponseUrl(r.back.redirectUri, issuer, {
          error: r.back.error,
          error_description: r.back.description,
          state: r.back.state,
        }),
        host: r.back.host,
      };
      if (r.retryAfterSeconds !== undefined) c.header("Retry-After", String(r.retryAfterSeconds));
      return errorPage(c, r.title, r.message, r.status, back);
    }
    return redirectTo(
      c,
      authorizationResponseUrl(r.redirectUri, issuer, { error: r.error, error_description: r.description, state: r.state }),
      status,
    );
  }

  function redirectCode(c: Context<AppEnv>, req: AuthorizationRequest, code: string, scopes: string[], status: 302 | 303) {
    c.var.log.info({ clientId: req.client.clientId, scopes }, "authorization code issued");
    return redirectTo(c, authorizationResponseUrl(req.redirectUri, issuer, { code, state: req.state }), status);
  }

  function signIn(c: Context<AppEnv>, req: AuthorizationRequest, returnTo: string, reauthenticate: boolean, status: 302 | 303) {
    const path = signInPath(returnTo, reauthenticate);
    if (!path) {
      return refuse(
        c,
        refusal(req, new AuthorizeError("invalid_request", "The authorization request is too long to return to after sign-in.")),
        status,
      );
    }
    return redirectTo(c, path, status);
  }

  async function showConsent(
    c: Context<AppEnv>,
    req: AuthorizationRequest,
    session: SignInSession,
    grant: Grant | null,
    opts: { ticked?: Set<string>; message?: string; status?: 200 | 400 } = {},
  ) {
    // Security headers (the "authorization" policy) are set for every page by app.ts.
    noStore(c);
    return c.html(
      views.consentPage({
        action: AUTHORIZE_PATH,
        session,
        client: { name: req.client.name, environment: req.client.environment, registeredFrom: req.client.registeredFrom },
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
    const now = new Date();
    const result = await validate(c, collectParams(url.searchParams), now);
    if (result.kind !== "ok") return refuse(c, result, 302);
    const req = result.request;

    // The query as URLSearchParams writes it (every value percent-encoded), not as it came: a raw backslash or
    // a stray "%" (state=a\b, state=a%b) would make the sign-in's return path unsafe, and the user would land home.
    const step = signInStep(req, await loadSession(c, deps), now, url.searchParams.toString());
    if (step.kind === "refused") return refuse(c, refusal(req, step.error), 302);
    if (step.kind === "sign-in") return signIn(c, req, `${url.pathname}?${step.returnQuery}`, step.reauthenticate, 302);
    const session = step.session;

    const grant = await findLiveGrant(deps.prisma, session.userId, req.client.id);
    const skip = maySkipConsent(req, grant);
    if (skip) {
      const code = await issueCode(deps.prisma, req, session, req.scopes, !req.client.firstParty);
      if (code) return redirectCode(c, req, code, req.scopes, 302);
      // The grant was revoked (or the client changed) while we looked: ask again.
    }
    if (req.prompt.has("none")) return refuse(c, refusal(req, consentRequired()), 302);
    return showConsent(c, req, session, skip ? await findLiveGrant(deps.prisma, session.userId, req.client.id) : grant);
  });

  app.post(AUTHORIZE_PATH, async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      return errorPage(c, "This form could not be read", "Go back to the app and start again.", 400);
    }
    const form = readConsentForm(await readForm(c));
    const now = new Date();

    // Validated from scratch: the hidden fields are no more trusted than the original query.
    const result = await validate(c, collectParams(form.params), now);
    if (result.kind !== "ok") return refuse(c, result, 303);
    const req = result.request;

    // The sign-in was judged (prompt=login, max_age) when the page was shown to
    // this session, whose CSRF token the form must carry: only its absence matters here.
    const session = await loadSession(c, deps);
    if (!session) {
      // Signed out (or the session expired) since the page was shown: sign in and see the page again.
      const returnQuery = signInReturnQuery(req, new URLSearchParams(req.carried).toString(), now);
      return signIn(c, req, `${AUTHORIZE_PATH}?${returnQuery}`, false, 303);
    }
    if (form.repeatedControl || !checkFormCsrf(c, session, secure, issuerOrigin, form.csrf)) {
      c.var.log.warn({ clientId: req.client.clientId }, "consent form refused: CSRF check failed");
      return errorPage(c, "Nothing was shared", CSRF_REFUSAL, 403);
    }

    if (form.decision === "deny") {
      c.var.log.info({ clientId: req.client.clientId }, "consent denied");
      return refuse(c, refusal(req, new AuthorizeError("access_denied", "The user denied the request.")), 303);
    }
    if (form.decision !== "allow") {
      return errorPage(c, "Choose Allow or Deny", "Go back to the app and start again.", 400);
    }

    const grant = await findLiveGrant(deps.prisma, session.userId, req.client.id);
    // When every data scope is unticked, a code is still issued for the protocol
    // scopes; with nothing at all left, the page is shown again with a message.
    const scopes = allowedScopes(req, grant, form.ticked);
    if (scopes.length === 0) {
      return showConsent(c, req, session, grant, {
        ticked: form.ticked,
        message: "Tick at least one permission to allow, or choose Deny.",
        status: 400,
      });
    }
    const code = await issueCode(deps.prisma, req, session, scopes, false);
    // The developer removed a scope from the app (or revoked it) in the moment since validation.
    if (!code)
      return errorPage(c, "Nothing was shared", "The app changed while you were choosing. Go back to the app and start again.", 400);
    return redirectCode(c, req, code, scopes, 303);
  });

  return app;
}
