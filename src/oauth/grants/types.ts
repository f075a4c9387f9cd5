import type { Context } from "hono";
import type { AppEnv } from "../../request-env.ts";
import type { OAuthDeps } from "../deps.ts";
import type { OAuthClient } from "../../generated/prisma/client.ts";
import type { IssuedAccessToken } from "../issued-tokens.ts";

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

export interface GrantRequest {
  c: Context<AppEnv>;
  deps: OAuthDeps;
  client: OAuthClient;
  params: Record<string, string>;
}

export type GrantHandler = (req: GrantRequest) => Promise<TokenResponse>;

/** The RFC 6749 §5.1 body for an issued access token; grants add refresh_token / id_token. */
export function bearerResponse(access: IssuedAccessToken, scopes: string[]): TokenResponse {
  return { access_token: access.accessToken, token_type: "Bearer", expires_in: access.expiresIn, scope: scopes.join(" ") };
}
