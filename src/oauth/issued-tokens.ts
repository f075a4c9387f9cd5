import { createHash, randomUUID } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { DbTx } from "../db/index.ts";
import { signEs256Jwt } from "./jwt-sign.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";
import { randomToken, sha256 } from "../lib/crypto.ts";
import type { KeyStore, SigningKey } from "./keys.ts";
import { ID_TOKEN_TTL_S, REFRESH_ABSOLUTE_TTL_MS, REFRESH_IDLE_TTL_MS } from "../lib/lifetimes.ts";
import { allAudiences } from "./resources.ts";

/**
 * The tokens this authorization server issues: RFC 9068 access-token JWTs
 * (issued here, and their signature and claims checked here; liveness is
 * access-tokens.ts), ID tokens, and the first refresh token of a family
 * (rotation is grants/refresh-token.ts). The token endpoint is token.ts.
 */

export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  jti: string;
  iat: number;
  exp: number;
  grant_id?: string;
}

export interface IssuedAccessToken {
  accessToken: string;
  jti: string;
  expiresIn: number;
  expiresAt: Date;
}

/**
 * An RFC 9068 JWT access token. Nothing is stored: the token is
 * self-contained, and revoking it before it expires is recorded by exception
 * (the change feed). Its grant_id lets a grant's revocation end it.
 */
export function issueAccessToken(
  key: SigningKey,
  issuer: string,
  input: {
    client: Pick<OAuthClient, "clientId" | "accessTokenTtl">;
    userId: string;
    grantId: string | null;
    scopes: string[];
    /** the one resource it is for (src/oauth/resources.ts) */
    audience: string;
  },
): IssuedAccessToken {
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const ttl = input.client.accessTokenTtl;
  const accessToken = signEs256Jwt(
    { typ: "at+jwt", kid: key.kid },
    {
      iss: issuer,
      sub: input.userId,
      aud: input.audience,
      exp: now + ttl,
      iat: now,
      jti,
      client_id: input.client.clientId,
      scope: input.scopes.join(" "),
      ...(input.grantId ? { grant_id: input.grantId } : {}),
    },
    key.privateKeyObject,
  );
  return { accessToken, jti, expiresIn: ttl, expiresAt: new Date((now + ttl) * 1000) };
}

/** OIDC Core §3.1.3.6: left half of the SHA-256 of the access token, base64url. */
export function atHash(accessToken: string): string {
  const digest = createHash("sha256").update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

export async function issueIdToken(
  key: SigningKey,
  issuer: string,
  input: { client: OAuthClient; userId: string; nonce?: string | null; authTime: Date; accessToken: string },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    auth_time: Math.floor(input.authTime.getTime() / 1000),
    at_hash: atHash(input.accessToken),
    azp: input.client.clientId,
    ...(input.nonce ? { nonce: input.nonce } : {}),
  })
    .setProtectedHeader({ alg: key.alg, typ: "JWT", kid: key.kid })
    .setIssuer(issuer)
    .setSubject(input.userId)
    .setAudience(input.client.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + ID_TOKEN_TTL_S)
    .sign(key.privateKey);
}

export class InvalidTokenError extends Error {}

/** How far in the future an access token's iat may be: instances' clocks differ a little. */
export const ACCESS_TOKEN_IAT_LEEWAY_S = 60;

/**
 * Checks signature, typ, issuer, audience (one of our resources: which one the
 * caller checks), expiry, required claims and iat. Liveness (revocation) is checked by the caller.
 */
export async function verifyAccessTokenJwt(keys: KeyStore, issuer: string, token: string): Promise<AccessTokenClaims> {
  if (token.length > 8192 || token.split(".").length !== 3) throw new InvalidTokenError("The access token is malformed.");
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = await keys.verificationKey(header.kid, "access");
        if (!key) throw new InvalidTokenError("The access token was signed by an unknown key.");
        return key;
      },
      {
        issuer,
        audience: allAudiences(issuer),
        typ: "at+jwt",
        algorithms: ["ES256"],
        requiredClaims: ["sub", "jti", "exp", "iat", "client_id"],
      },
    );
    if (typeof payload.scope !== "string" || typeof payload.client_id !== "string" || typeof payload.aud !== "string") {
      throw new InvalidTokenError("The access token lacks scope or client_id.");
    }
    // jose checks iat only against a maximum age. A token issued "later" would escape
    // the revocation view's narrowing rules, which end the tokens issued up to a time.
    if (payload.iat! > Date.now() / 1000 + ACCESS_TOKEN_IAT_LEEWAY_S) {
      throw new InvalidTokenError("The access token was issued in the future.");
    }
    return payload as AccessTokenClaims;
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError("The access token expired.");
    if (err instanceof joseErrors.JOSEError) throw new InvalidTokenError("The access token is invalid.");
    throw err;
  }
}

/** A refresh token's idle expiry: the idle window from now, never past its family's absolute expiry. */
export function refreshIdleExpiry(now: number, absoluteExpiresAt: Date): Date {
  return new Date(Math.min(now + REFRESH_IDLE_TTL_MS, absoluteExpiresAt.getTime()));
}

/** The first refresh token of a family (rotation stores its successors: grants/refresh-token.ts), stored hashed. */
export async function issueRefreshToken(
  tx: DbTx,
  input: {
    grantId: string;
    scopes: string[];
    codeId?: string | null;
    /** the audience its family's access tokens carry */
    audience: string;
    /** the access token issued with it, revoked with its family */
    accessToken: IssuedAccessToken;
  },
): Promise<string> {
  const token = randomToken();
  const now = Date.now();
  const absoluteExpiresAt = new Date(now + REFRESH_ABSOLUTE_TTL_MS);
  await tx.refreshToken.create({
    data: {
      tokenHash: sha256(token),
      grantId: input.grantId,
      scopes: input.scopes,
      codeId: input.codeId ?? null,
      audience: input.audience,
      accessTokenJti: input.accessToken.jti,
      accessTokenExpiresAt: input.accessToken.expiresAt,
      idleExpiresAt: refreshIdleExpiry(now, absoluteExpiresAt),
      absoluteExpiresAt,
    },
  });
  return token;
}
