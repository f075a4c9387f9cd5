import { InvalidTokenError } from "../oauth/issued-tokens.ts";
import { bearerTokenOf, wwwAuthenticate } from "../lib/www-authenticate.ts";
import { protectedResourceMetadataUrl } from "../oauth/discovery.ts";
import { DEFAULT_RESOURCE, type ResourceName } from "../oauth/resources.ts";
import type { AccessTokenChecker } from "../oauth/access-tokens.ts";
import type { Viewer } from "./viewer.ts";

export type BearerResult =
  | { kind: "none" }
  | { kind: "invalid"; description: string }
  | { kind: "ok"; viewer: Extract<Viewer, { kind: "token" }> };

/**
 * RFC 6750 §2.1: `Authorization: Bearer <token>` only (no query or body tokens),
 * for one resource (`audience`: the GraphQL API unless said otherwise).
 */
export async function viewerFromBearer(
  deps: { accessTokens: AccessTokenChecker },
  authorization: string | undefined,
  audience?: string,
): Promise<BearerResult> {
  if (!authorization) return { kind: "none" };
  const token = bearerTokenOf(authorization);
  if (!token) {
    return /^Bearer\b/i.test(authorization)
      ? { kind: "invalid", description: "The bearer token is malformed." }
      : { kind: "invalid", description: "Use the Bearer authorization scheme." };
  }
  try {
    const live = await deps.accessTokens.check(token, audience);
    return {
      kind: "ok",
      viewer: {
        kind: "token",
        userId: live.claims.sub,
        clientRowId: live.clientRowId,
        clientId: live.clientId,
        grantId: live.grantId,
        jti: live.claims.jti,
        scopes: new Set(live.scopes),
      },
    };
  } catch (err) {
    if (err instanceof InvalidTokenError) return { kind: "invalid", description: err.message };
    throw err;
  }
}

/**
 * The WWW-Authenticate value of a protected resource (RFC 6750 §3, RFC 9728
 * §5.1): /graphql by default, /mcp for the MCP endpoint. The one builder of
 * Bearer challenges for the resources, so they escape and name their metadata alike.
 */
export function bearerChallenge(
  issuer: string,
  error?: { code: string; description?: string; scope?: string },
  resource: ResourceName = DEFAULT_RESOURCE,
): string {
  return wwwAuthenticate("Bearer", {
    realm: "scopegate",
    resource_metadata: protectedResourceMetadataUrl(issuer, resource),
    error: error?.code,
    error_description: error?.description || undefined,
    scope: error?.scope || undefined,
  });
}
