import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../../context.ts";
import type { OAuthClient } from "../../generated/prisma/client.ts";

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
  deps: AppDeps;
  client: OAuthClient;
  params: Record<string, string>;
}

export type GrantHandler = (req: GrantRequest) => Promise<TokenResponse>;
