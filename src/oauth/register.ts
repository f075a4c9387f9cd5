import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";
import { PROTOCOL_SCOPES } from "../consent/scopes.ts";
import {
  checkClientMetadata,
  deleteDynamicClient,
  findRegistration,
  REDIRECT_URIS_FIELD,
  registerDynamicClient,
  reserveRegistration,
  updateDynamicClient,
} from "../clients/dynamic-registration.ts";
import { RateLimiter } from "../db/rate-limit.ts";
import { addressLimitKey, requestAddress, TrustedProxies } from "../lib/client-address.ts";
import { mediaTypeOf, readJsonObject } from "../lib/form.ts";
import { bearerTokenOf, wwwAuthenticate } from "../lib/www-authenticate.ts";
import { noStore, OAuthError, type OAuthErrorCodes, oauthEndpoint, tooManyRequests } from "./errors.ts";
import { OAUTH_PATHS } from "./paths.ts";

/**
 * POST /v1/oauth/register (RFC 7591 dynamic client registration) and
 * GET/PUT/DELETE /v1/oauth/register/{client_id} (RFC 7592 management, with the
 * registration access token as a Bearer token). Mounted only while
 * CLIENT_REGISTRATION=open; the rules for such clients are in
 * src/clients/dynamic-registration.ts.
 *
 * Open to any origin: no cookie is ever read here, and management needs the
 * registration access token, which only the app holds.
 */
/**
 * RFC 7591 §3.2.2 names its own codes for metadata that breaks a rule:
 * invalid_redirect_uri for the redirect URIs, invalid_client_metadata for the
 * rest (where RFC 6749's endpoints say invalid_request). The rest of the
 * mapping (unavailable, not found) is the shared one (oauthErrorFrom).
 */
const REGISTRATION_CODES: OAuthErrorCodes = {
  byField: { [REDIRECT_URIS_FIELD]: "invalid_redirect_uri" },
  otherwise: "invalid_client_metadata",
};

export function registerRoutes(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const issuer = deps.config.issuer;
  const config = deps.config.clientRegistration;
  const proxies = new TrustedProxies(deps.config.trustProxy);
  const limiter = new RateLimiter(deps.prisma);
  const managed = `${OAUTH_PATHS.register}/:clientId`;

  const anyOrigin = cors({
    origin: "*",
    allowMethods: ["GET", "POST", "PUT", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type"],
    exposeHeaders: ["WWW-Authenticate", "Retry-After"],
    maxAge: 600,
  });
  app.use(OAUTH_PATHS.register, anyOrigin);
  app.use(managed, anyOrigin);

  app.post(
    OAUTH_PATHS.register,
    oauthEndpoint(async (c) => {
      const metadata = checkClientMetadata(await readMetadata(c));
      // Counted once the metadata is good: a refused request writes nothing, so only registrations count.
      const reservation = await reserveRegistration(limiter, config, addressLimitKey(requestAddress(c, proxies)));
      if (!reservation.ok) {
        throw tooManyRequests(
          `Too many clients were registered from this address; retry in ${reservation.retryAfterSeconds} seconds.`,
          reservation.retryAfterSeconds,
        );
      }
      const { client, registrationAccessToken } = await registerDynamicClient(deps.prisma, metadata);
      c.var.log.info({ clientId: client.clientId, registeredFrom: client.registeredFrom }, "client registered itself");
      noStore(c);
      return c.json(clientInformation(issuer, client, registrationAccessToken), 201);
    }, REGISTRATION_CODES),
  );

  app.get(
    managed,
    oauthEndpoint(async (c) => {
      const token = registrationToken(c);
      const client = await findRegistration(deps.prisma, clientIdOf(c), token);
      if (!client || !token) throw invalidToken();
      noStore(c);
      return c.json(clientInformation(issuer, client, token));
    }, REGISTRATION_CODES),
  );

  app.put(
    managed,
    oauthEndpoint(async (c) => {
      const clientId = clientIdOf(c);
      // The token is judged before the body: a stranger learns nothing from the metadata checks.
      const token = registrationToken(c);
      if (!token || !(await findRegistration(deps.prisma, clientId, token))) throw invalidToken();
      const raw = await readMetadata(c);
      // RFC 7592 §2.2: the body names the client; the server-issued fields it may echo are ignored.
      if (raw.client_id !== clientId)
        throw new OAuthError("invalid_client_metadata", "client_id in the body must be this client's client_id.");
      if (raw.client_secret != null)
        throw new OAuthError("invalid_client_metadata", "Self-registered clients are public: they have no client_secret.");
      const client = await updateDynamicClient(deps.prisma, clientId, token, checkClientMetadata(raw));
      if (!client) throw invalidToken();
      noStore(c);
      return c.json(clientInformation(issuer, client, token));
    }, REGISTRATION_CODES),
  );

  app.delete(
    managed,
    oauthEndpoint(async (c) => {
      const token = registrationToken(c);
      if (!token || !(await deleteDynamicClient(deps.prisma, clientIdOf(c), token))) throw invalidToken();
      c.var.log.info({ clientId: clientIdOf(c) }, "self-registered client deleted itself");
      noStore(c);
      return c.body(null, 204);
    }, REGISTRATION_CODES),
  );

  return app;
}

/** RFC 7591 §3.2.1 / RFC 7592 §3: the client's registration as it now stands. */
function clientInformation(issuer: string, client: OAuthClient, registrationAccessToken: string) {
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
    client_name: client.name,
    ...(client.clientUri ? { client_uri: client.clientUri } : {}),
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    // openid and offline_access need no registration: any client may ask for them.
    scope: [...client.scopes, ...PROTOCOL_SCOPES].join(" "),
    registration_client_uri: `${issuer}${OAUTH_PATHS.register}/${encodeURIComponent(client.clientId)}`,
    registration_access_token: registrationAccessToken,
  };
}

/** The request's JSON object (RFC 7591 §3.1: the metadata is sent as application/json). */
async function readMetadata(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  if (mediaTypeOf(c) !== "application/json")
    throw new OAuthError("invalid_client_metadata", "Send the client metadata as application/json.");
  const body = await readJsonObject(c);
  if (!body.ok) {
    throw new OAuthError(
      "invalid_client_metadata",
      body.problem === "not_json" ? "The request body is not valid JSON." : "The client metadata must be a JSON object.",
    );
  }
  return body.value;
}

/** The registration access token from `Authorization: Bearer` (RFC 6750 §2.1), or null. */
function registrationToken(c: Context<AppEnv>): string | null {
  const token = bearerTokenOf(c.req.header("authorization"));
  return token && token.length <= 200 ? token : null;
}

/**
 * RFC 7592 §2: a missing or wrong registration access token, or a client that
 * is not (or no longer) a self-registered one, all alike: 401 invalid_token.
 */
function invalidToken(): OAuthError {
  const description = "The registration access token is missing or not valid for this client.";
  return new OAuthError("invalid_token", description, 401, {
    "WWW-Authenticate": wwwAuthenticate("Bearer", { realm: "scopegate", error: "invalid_token", error_description: description }),
  });
}

/** The client_id in the management path. */
function clientIdOf(c: Context<AppEnv>): string {
  return c.req.param("clientId") ?? "";
}
