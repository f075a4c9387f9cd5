import { Hono } from "hono";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { OAUTH_PATHS, WELL_KNOWN_PATHS } from "./paths.ts";
import { ALL_SCOPES, DATA_SCOPES } from "../consent/scopes.ts";
import { KEY_ALGORITHMS } from "./keys.ts";
import { RESOURCE_PATHS, type ResourceName, resourceUrl } from "./resources.ts";

/**
 * `registration`: CLIENT_REGISTRATION=open, so registration_endpoint (RFC 7591) is listed;
 * `metadataDocuments`: CLIENT_ID_METADATA_DOCUMENTS=on, so client_id_metadata_document_supported is true.
 */
export function authorizationServerMetadata(issuer: string, options: { registration?: boolean; metadataDocuments?: boolean } = {}) {
  return {
    issuer,
    authorization_endpoint: `${issuer}${OAUTH_PATHS.authorize}`,
    token_endpoint: `${issuer}${OAUTH_PATHS.token}`,
    revocation_endpoint: `${issuer}${OAUTH_PATHS.revoke}`,
    introspection_endpoint: `${issuer}${OAUTH_PATHS.introspect}`,
    userinfo_endpoint: `${issuer}${OAUTH_PATHS.userinfo}`,
    jwks_uri: `${issuer}${OAUTH_PATHS.jwks}`,
    ...(options.registration ? { registration_endpoint: `${issuer}${OAUTH_PATHS.register}` } : {}),
    ...(options.metadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
    subject_types_supported: ["public"],
    scopes_supported: [...ALL_SCOPES],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "name", "email", "birthdate"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    id_token_signing_alg_values_supported: [KEY_ALGORITHMS.id],
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ["none", "login", "consent"],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
  };
}

const RESOURCE_NAMES: Record<ResourceName | "origin", string> = {
  origin: "scopegate",
  graphql: "scopegate GraphQL API",
  mcp: "scopegate MCP server",
};

/**
 * RFC 9728 metadata of one protected resource (`origin`: the root document,
 * whose resource is the origin itself, RFC 9728 §3.3; a token asked for it
 * is for the GraphQL API).
 */
export function protectedResourceMetadata(issuer: string, name: ResourceName | "origin" = "graphql") {
  return {
    resource: name === "origin" ? issuer : resourceUrl(issuer, name),
    authorization_servers: [issuer],
    scopes_supported: [...DATA_SCOPES],
    bearer_methods_supported: ["header"],
    resource_name: RESOURCE_NAMES[name],
  };
}

/** Where a resource's metadata is: the well-known path with the resource's path appended (RFC 9728 §3.1). */
export function protectedResourceMetadataUrl(issuer: string, name: ResourceName): string {
  return `${issuer}${WELL_KNOWN_PATHS.protectedResource}${RESOURCE_PATHS[name]}`;
}

export function discoveryRoutes(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const issuer = deps.config.issuer;
  const metadata = authorizationServerMetadata(issuer, {
    registration: deps.config.clientRegistration.open,
    metadataDocuments: deps.config.clientMetadataDocuments.enabled,
  });
  const cors = { "Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300" };
  app.get(WELL_KNOWN_PATHS.authorizationServer, (c) => c.json(metadata, 200, cors));
  app.get(WELL_KNOWN_PATHS.openidConfiguration, (c) => c.json(metadata, 200, cors));
  app.get(WELL_KNOWN_PATHS.protectedResource, (c) => c.json(protectedResourceMetadata(issuer, "origin"), 200, cors));
  // RFC 9728 §3.1: the resource path is appended to the well-known path.
  app.get(`${WELL_KNOWN_PATHS.protectedResource}${RESOURCE_PATHS.graphql}`, (c) =>
    c.json(protectedResourceMetadata(issuer, "graphql"), 200, cors),
  );
  app.get(`${WELL_KNOWN_PATHS.protectedResource}${RESOURCE_PATHS.mcp}`, (c) => c.json(protectedResourceMetadata(issuer, "mcp"), 200, cors));
  return app;
}
