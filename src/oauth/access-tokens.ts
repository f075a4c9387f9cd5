import type { KeyStore } from "./keys.ts";
import type { TokenFacts } from "./revocation-view.ts";
import type { Revocations } from "./revocations.ts";
import { InvalidTokenError, verifyAccessTokenJwt, type AccessTokenClaims } from "./issued-tokens.ts";
import { resourceUrl } from "./resources.ts";

export interface LiveAccessToken {
  claims: AccessTokenClaims;
  /** the OAuthClient row id and its public client_id */
  clientRowId: string;
  clientId: string;
  grantId: string | null;
  scopes: string[];
}

const MAX_CACHED = 10_000;

/** What the revocation view needs to know of a verified access token. */
export function tokenFacts(claims: AccessTokenClaims, clientRowId: string): TokenFacts {
  return {
    jti: claims.jti,
    sub: claims.sub,
    clientRowId,
    grantId: typeof claims.grant_id === "string" ? claims.grant_id : null,
    scopes: claims.scope.split(" ").filter(Boolean),
    iat: claims.iat,
  };
}

/**
 * Checks access tokens without a database statement in the common case: the
 * JWT's verified claims are cached (never past `exp`), and liveness comes from
 * the in-memory revocation view and client cache. A valid signature is not
 * enough: the token, its grant, its client and its user must not have been
 * revoked; the view holds every such revocation made on this instance the
 * moment it commits, and those of other instances within a second.
 */
export class AccessTokenChecker {
  private readonly verified = new Map<string, AccessTokenClaims>();

  constructor(
    private readonly keys: KeyStore,
    private readonly issuer: string,
    private readonly revocations: Revocations,
  ) {}

  /**
   * The live token, if it is for `audience` (a resource URL; "any" for the
   * authorization server's own endpoints, such as userinfo, which serve a token for any of our resources).
   */
  async check(token: string, audience: string | "any" = resourceUrl(this.issuer)): Promise<LiveAccessToken> {
    const claims = await this.verify(token);
    if (audience !== "any" && claims.aud !== audience) {
      throw new InvalidTokenError(`This access token is for another resource (${claims.aud}); ask for one with resource=${audience}.`);
    }
    await this.revocations.ensureCurrent();
    const client = await this.revocations.clients.get(claims.client_id);
    if (!client || client.revokedAt) throw new InvalidTokenError("The client of this access token was revoked.");
    const facts = tokenFacts(claims, client.id);
    const refusal = this.revocations.view.refusal(facts);
    if (refusal) throw new InvalidTokenError(refusal);
    return { claims, clientRowId: client.id, clientId: client.clientId, grantId: facts.grantId, scopes: [...facts.scopes] };
  }

  /** Signature, typ, issuer, audience and expiry, through a cache of tokens already verified. */
  private async verify(token: string): Promise<AccessTokenClaims> {
    const now = Date.now() / 1000;
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.exp > now) return cached;
      this.verified.delete(token);
    }
    const claims = await verifyAccessTokenJwt(this.keys, this.issuer, token);
    if (this.verified.size >= MAX_CACHED) {
      // Drop expired entries first; if none, the oldest.
      for (const [t, c] of this.verified) if (c.exp <= now) this.verified.delete(t);
      if (this.verified.size >= MAX_CACHED) this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, claims);
    return claims;
  }
}
