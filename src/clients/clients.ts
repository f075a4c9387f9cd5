import { randomBytes } from "node:crypto";
import type { Db } from "../db/index.ts";
import type { ClientEnvironment, ClientType, OAuthClient } from "../generated/prisma/client.ts";
import { sha256 } from "../lib/crypto.ts";
import { DEFAULT_ACCESS_TOKEN_TTL_S } from "../lib/lifetimes.ts";

export const CONFIDENTIAL_GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"];
export const PUBLIC_GRANT_TYPES = ["authorization_code", "refresh_token"];
export { DEFAULT_ACCESS_TOKEN_TTL_S as DEFAULT_ACCESS_TOKEN_TTL } from "../lib/lifetimes.ts";

export function newClientId(): string {
  return `sgc_${randomBytes(16).toString("hex")}`;
}

/** 256 bits from the CSPRNG; only its SHA-256 is stored (it is not a password: no slow hash needed). */
export function newClientSecret(): { secret: string; hash: string; hint: string } {
  const secret = `sgs_${randomBytes(32).toString("base64url")}`;
  return { secret, hash: sha256(secret), hint: secret.slice(-4) };
}

export interface NewClient {
  ownerId: string;
  name: string;
  environment: ClientEnvironment;
  type: ClientType;
  redirectUris: string[];
  scopes: string[];
  firstParty?: boolean;
  accessTokenTtl?: number;
  refreshTokens?: boolean;
}

/** Stores a client that has already been validated; returns it and, for confidential clients, the secret (once). */
export async function insertClient(
  prisma: Pick<Db, "oAuthClient">,
  input: NewClient,
): Promise<{ client: OAuthClient; clientSecret: string | null }> {
  const secret = input.type === "CONFIDENTIAL" ? newClientSecret() : null;
  const client = await prisma.oAuthClient.create({
    data: {
      clientId: newClientId(),
      ownerId: input.ownerId,
      name: input.name,
      environment: input.environment,
      type: input.type,
      redirectUris: input.redirectUris,
      scopes: input.scopes,
      grantTypes: input.type === "CONFIDENTIAL" ? CONFIDENTIAL_GRANT_TYPES : PUBLIC_GRANT_TYPES,
      firstParty: input.firstParty ?? false,
      accessTokenTtl: input.accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL_S,
      refreshTokens: input.refreshTokens ?? true,
      secretHash: secret?.hash ?? null,
      secretHint: secret?.hint ?? null,
    },
  });
  return { client, clientSecret: secret?.secret ?? null };
}
