import { OAuthError } from "../errors.ts";
import { parseScope } from "../params.ts";
import { issueAccessToken } from "../issued-tokens.ts";
import { chooseAudience } from "../resources.ts";
import { bearerResponse, type GrantHandler } from "./types.ts";

/**
 * A token for the client's own data: it acts as the client's owner, has no
 * grant, and ends with the client. Nothing is written per token: the client
 * came from memory, the JWT is self-contained, and the audit event goes
 * through the batched writer (which refuses with 503 when it is full).
 */
export const clientCredentialsGrant: GrantHandler = async ({ deps, client, params }) => {
  if (client.type !== "CONFIDENTIAL") {
    throw new OAuthError("unauthorized_client", "Only confidential clients may use client_credentials.");
  }
  // The token acts as the client's owner: a client owned by no one (self-registered, always public) has no one to act as.
  const ownerId = client.ownerId;
  if (!ownerId) throw new OAuthError("unauthorized_client", "Only a client registered by a developer may use client_credentials.");
  const requested = params.scope !== undefined ? parseScope(params.scope) : client.scopes;
  const extra = requested.filter((s) => !client.scopes.includes(s));
  if (extra.length) {
    throw new OAuthError("invalid_scope", `client_credentials may only ask for the client's own scopes; not allowed: ${extra.join(" ")}.`);
  }
  const target = chooseAudience(deps.config.issuer, params.resource === undefined ? undefined : [params.resource]);
  if (!target.ok) throw new OAuthError("invalid_target", target.description);
  deps.audit.assertRoom();
  const accessKey = await deps.keys.signingKey("access");
  const access = issueAccessToken(accessKey, deps.config.issuer, {
    client,
    userId: ownerId,
    grantId: null,
    scopes: requested,
    audience: target.audience,
  });
  deps.audit.push({
    action: "token.issued",
    userId: ownerId,
    clientId: client.id,
    detail: `grant_type=client_credentials scope=${requested.join(" ")}`,
  });
  return bearerResponse(access, requested);
};
