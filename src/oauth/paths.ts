/**
 * Where each endpoint of the authorization server lives. The routes and the
 * discovery documents both read this table, so they cannot disagree.
 */
export const OAUTH_PATHS = {
  authorize: "/v1/oauth/authorize",
  token: "/v1/oauth/token",
  revoke: "/v1/oauth/revoke",
  introspect: "/v1/oauth/introspect",
  userinfo: "/v1/oauth/userinfo",
  jwks: "/v1/oauth/jwks",
  /** RFC 7591 registration; RFC 7592 management at register/{client_id} */
  register: "/v1/oauth/register",
} as const;

export const WELL_KNOWN_PATHS = {
  authorizationServer: "/.well-known/oauth-authorization-server",
  openidConfiguration: "/.well-known/openid-configuration",
  protectedResource: "/.well-known/oauth-protected-resource",
} as const;
