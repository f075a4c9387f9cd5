/**
 * The partner-app side of the authorization endpoint tests: oauth4webapi for
 * discovery, PKCE, state and response validation, plus small helpers to act
 * as a signed-in user (through the real /login form) and to read and submit
 * the consent form.
 */
import * as oauth from "oauth4webapi";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient, type NewClient } from "../../src/clients/clients.ts";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { decodeEntities, WebClient } from "./http.ts";
import type { TestServer } from "./server.ts";

export const insecure = { [oauth.allowInsecureRequests]: true } as const;
export const PASSWORD = "correct horse battery staple";

/** The server's RFC 8414 metadata, as a partner app discovers it. */
export async function discover(server: TestServer): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(server.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: "oauth2" }));
}

let userCounter = 0;

/** A new user (created directly), signed in through the real /login form. */
export async function signedInUser(server: TestServer, name = "Ada") {
  const email = `user${++userCounter}-${Date.now()}@example.com`;
  const created = await signUp(server.db.prisma, { name, email, password: PASSWORD });
  if (!created.ok) throw new Error(`signUp failed: ${JSON.stringify(created.errors)}`);
  const web = new WebClient(server.url);
  const { res } = await web.signIn({ email, password: PASSWORD });
  if (res.status !== 303 || !web.jar.get("sg_session")) throw new Error(`sign-in failed with ${res.status}`);
  return { web, user: created.user, email };
}

/** A registered client; defaults: a public, production client for data:read and profile:read. */
export async function registerClient(
  server: TestServer,
  ownerId: string,
  input: Partial<NewClient> = {},
): Promise<{ client: OAuthClient; clientSecret: string | null }> {
  return insertClient(server.db.prisma, {
    ownerId,
    name: "Pulse Tracker",
    environment: "PRODUCTION",
    type: "PUBLIC",
    redirectUris: ["http://localhost:3000/callback"],
    scopes: ["profile:read", "data:read"],
    ...input,
  });
}

export interface AuthRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
  challenge: string;
}

/**
 * An authorization URL the way a partner app builds one with oauth4webapi:
 * PKCE S256, a random state and nonce. `params` override or add (a value of
 * null removes the parameter).
 */
export async function authorizationUrl(
  as: oauth.AuthorizationServer,
  clientId: string,
  redirectUri: string,
  scope: string,
  params: Record<string, string | null> = {},
): Promise<AuthRequest> {
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint!);
  const all: Record<string, string | null> = {
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: "code",
    scope,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    nonce,
    ...params,
  };
  for (const [k, v] of Object.entries(all)) if (v !== null) url.searchParams.set(k, v);
  return { url, verifier, state, nonce, challenge };
}

/** The Location of a redirect, resolved against the request URL. */
export function location(res: Response, base: string): URL {
  const loc = res.headers.get("location");
  if (!loc) throw new Error(`expected a redirect, got ${res.status} without Location`);
  return new URL(loc, base);
}

/** The URL without its query: where a redirect goes. */
export function target(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Every hidden input of the consent form (not the header's sign-out form), in document order. */
export function hiddenInputs(html: string): [string, string][] {
  const form = html.match(/<form method="post" action="\/v1\/oauth\/authorize">([\s\S]*?)<\/form>/)?.[1];
  if (form === undefined) throw new Error("the page has no consent form");
  const out: [string, string][] = [];
  for (const tag of form.match(/<input\b[^>]*>/g) ?? []) {
    if (!/\btype="hidden"/.test(tag)) continue;
    const name = tag.match(/\bname="([^"]*)"/)?.[1];
    const value = tag.match(/\bvalue="([^"]*)"/)?.[1] ?? "";
    if (name) out.push([decodeEntities(name), decodeEntities(value)]);
  }
  return out;
}

/** The consent page's checkboxes: value -> { checked, disabled }; fixed ones (disabled) have no value. */
export function checkboxes(html: string): { value: string | undefined; checked: boolean; disabled: boolean }[] {
  return (html.match(/<input\b[^>]*type="checkbox"[^>]*>/g) ?? []).map((tag) => ({
    value: tag.match(/\bvalue="([^"]*)"/)?.[1],
    checked: /\bchecked\b/.test(tag),
    disabled: /\bdisabled\b/.test(tag),
  }));
}

/**
 * Submits the consent form as a browser would: its hidden fields (changed by
 * `override`, where null removes one), the ticked scopes and the button pressed.
 */
export async function submitConsent(
  web: WebClient,
  html: string,
  opts: {
    decision: "allow" | "deny";
    /** scopes left ticked; default: every checkbox that is ticked on the page */
    ticked?: string[];
    override?: Record<string, string | null>;
    headers?: Record<string, string>;
  },
) {
  const fields = new URLSearchParams();
  const override = opts.override ?? {};
  for (const [k, v] of hiddenInputs(html)) {
    if (k in override) continue;
    fields.append(k, v);
  }
  for (const [k, v] of Object.entries(override)) if (v !== null) fields.append(k, v);
  const ticked =
    opts.ticked ??
    checkboxes(html)
      .filter((b) => b.checked && !b.disabled && b.value)
      .map((b) => b.value!);
  for (const s of ticked) fields.append("grant_scope", s);
  fields.append("decision", opts.decision);
  const res = await web.fetch("/v1/oauth/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...opts.headers },
    body: fields.toString(),
  });
  return { res, html: await res.text() };
}

/** Exchanges a code at the real token endpoint with oauth4webapi (public client: PKCE only). */
export async function exchangeCode(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  callback: URLSearchParams,
  redirectUri: string,
  verifier: string,
  expectedNonce?: string,
) {
  const res = await oauth.authorizationCodeGrantRequest(as, client, auth, callback, redirectUri, verifier, insecure);
  return oauth.processAuthorizationCodeResponse(as, client, res, expectedNonce ? { expectedNonce } : undefined);
}

/**
 * `user` connects `client` through the real code flow (consent page, Allow with
 * `ticked` or every offered scope, code exchange with oauth4webapi); returns
 * the tokens and the user's live grant.
 */
export async function connectApp(
  server: TestServer,
  as: oauth.AuthorizationServer,
  user: { web: WebClient; user: { id: string } },
  client: { id: string; clientId: string; redirectUris: string[] },
  auth: oauth.ClientAuth,
  scope: string,
  ticked?: string[],
) {
  const redirectUri = client.redirectUris[0]!;
  const req = await authorizationUrl(as, client.clientId, redirectUri, scope);
  let res = await user.web.fetch(req.url.pathname + req.url.search);
  if (res.status === 200) res = (await submitConsent(user.web, await res.text(), { decision: "allow", ticked })).res;
  const params = oauth.validateAuthResponse(as, { client_id: client.clientId }, location(res, server.url), req.state);
  const tokens = await exchangeCode(
    as,
    { client_id: client.clientId },
    auth,
    params,
    redirectUri,
    req.verifier,
    scope.split(" ").includes("openid") ? req.nonce : undefined,
  );
  const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId: user.user.id, clientId: client.id, revokedAt: null } });
  return { tokens, grantId: grant.id };
}
