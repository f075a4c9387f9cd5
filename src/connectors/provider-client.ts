import * as oauth from "oauth4webapi";
import { DomainError } from "../lib/errors.ts";
import type { ConnectorProvider } from "./providers.ts";

/**
 * One configured provider, spoken to with oauth4webapi: discovery (OpenID
 * Connect, then RFC 8414), the authorization URL, the code exchange with PKCE
 * (and the id_token's checks when the provider sends one), refresh and RFC 7009
 * revocation. Every request has a timeout; every failure becomes a
 * DomainError (providerError) that says which side was at fault.
 */

const REQUEST_TIMEOUT_MS = 10_000;
/** How long discovered metadata is used before it is fetched again. */
const METADATA_TTL_MS = 3_600_000;

/**
 * Why a request to a provider failed, as the DomainError's `reason`: the
 * caller of a refresh must tell a refusal (the grant is gone) from a provider
 * that is down (it may answer later). The surfaces answer by the code alone.
 */
export type ProviderFailure =
  /** it answered with an OAuth error (the user denied, the grant is gone, ...): invalid_input */
  | "provider_refused"
  /** it did not answer, or not in time: upstream */
  | "provider_unavailable"
  /** it answered something that is not a valid OAuth answer: upstream */
  | "provider_invalid_response";

export function providerError(reason: ProviderFailure, message: string): DomainError {
  return new DomainError(reason === "provider_refused" ? "invalid_input" : "upstream", message, undefined, reason);
}

export interface ProviderTokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date | null;
  scopes: string[] | null;
  /** the id_token's `sub`, when there was one */
  subject: string | null;
}

export class ProviderClient {
  private metadata: { as: oauth.AuthorizationServer; at: number } | null = null;
  private readonly client: oauth.Client;
  private readonly auth: oauth.ClientAuth;

  constructor(readonly provider: ConnectorProvider) {
    this.client = { client_id: provider.clientId };
    this.auth =
      provider.tokenEndpointAuthMethod === "client_secret_post"
        ? oauth.ClientSecretPost(provider.clientSecret!)
        : provider.tokenEndpointAuthMethod === "client_secret_basic"
          ? oauth.ClientSecretBasic(provider.clientSecret!)
          : oauth.None();
  }

  private options() {
    return {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(this.provider.allowInsecureLoopback ? { [oauth.allowInsecureRequests]: true } : {}),
    };
  }

  /** The provider's metadata: OpenID Connect discovery, else RFC 8414; cached for an hour. */
  async authorizationServer(): Promise<oauth.AuthorizationServer> {
    if (this.metadata && Date.now() - this.metadata.at < METADATA_TTL_MS) return this.metadata.as;
    const issuer = new URL(this.provider.issuer);
    let lastError: unknown;
    for (const algorithm of ["oidc", "oauth2"] as const) {
      try {
        const res = await oauth.discoveryRequest(issuer, { ...this.options(), algorithm });
        const as = await oauth.processDiscoveryResponse(issuer, res);
        if (!as.authorization_endpoint || !as.token_endpoint) {
          throw providerError("provider_invalid_response", `${this.provider.name}'s metadata names no authorization or token endpoint.`);
        }
        this.metadata = { as, at: Date.now() };
        return as;
      } catch (err) {
        lastError = err;
      }
    }
    throw this.wrap(lastError, "discovery");
  }

  async authorizationUrl(input: { state: string; codeChallenge: string; nonce: string }): Promise<URL> {
    const as = await this.authorizationServer();
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set("client_id", this.provider.clientId);
    url.searchParams.set("redirect_uri", this.provider.redirectUri);
    url.searchParams.set("response_type", "code");
    if (this.provider.scopes.length) url.searchParams.set("scope", this.provider.scopes.join(" "));
    url.searchParams.set("state", input.state);
    url.searchParams.set("code_challenge", input.codeChallenge);
    url.searchParams.set("code_challenge_method", "S256");
    if (this.provider.scopes.includes("openid")) url.searchParams.set("nonce", input.nonce);
    return url;
  }

  /**
   * Checks the callback (state, and `iss` when the provider declares it sends
   * one, RFC 9207), exchanges the code with the PKCE verifier, and checks the
   * id_token (signature, issuer, audience, nonce) when there is one.
   */
  async exchange(callback: URL, expected: { state: string; codeVerifier: string; nonce: string }): Promise<ProviderTokens> {
    const as = await this.authorizationServer();
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(as, this.client, callback, expected.state);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        const description = err.error_description ? `: ${err.error_description}` : "";
        throw providerError("provider_refused", `${this.provider.name} did not authorize the connection (${err.error}${description}).`);
      }
      throw this.wrap(err, "callback");
    }
    try {
      const res = await oauth.authorizationCodeGrantRequest(
        as,
        this.client,
        this.auth,
        params,
        this.provider.redirectUri,
        expected.codeVerifier,
        this.options(),
      );
      const openid = this.provider.scopes.includes("openid");
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        this.client,
        res,
        openid ? { expectedNonce: expected.nonce, requireIdToken: true } : undefined,
      );
      const claims = openid ? oauth.getValidatedIdTokenClaims(tokens) : undefined;
      return this.tokensFrom(tokens, claims?.sub ?? null);
    } catch (err) {
      throw this.wrap(err, "code exchange");
    }
  }

  async refresh(refreshToken: string): Promise<ProviderTokens> {
    const as = await this.authorizationServer();
    try {
      const res = await oauth.refreshTokenGrantRequest(as, this.client, this.auth, refreshToken, this.options());
      return this.tokensFrom(await oauth.processRefreshTokenResponse(as, this.client, res), null);
    } catch (err) {
      throw this.wrap(err, "refresh");
    }
  }

  /** RFC 7009, when the provider offers it; false when it does not. */
  async revoke(token: string, hint: "access_token" | "refresh_token"): Promise<boolean> {
    const as = await this.authorizationServer();
    if (!as.revocation_endpoint) return false;
    try {
      const res = await oauth.revocationRequest(as, this.client, this.auth, token, {
        ...this.options(),
        additionalParameters: { token_type_hint: hint },
      });
      await oauth.processRevocationResponse(res);
      return true;
    } catch (err) {
      throw this.wrap(err, "revocation");
    }
  }

  private tokensFrom(t: oauth.TokenEndpointResponse, subject: string | null): ProviderTokens {
    return {
      accessToken: t.access_token,
      refreshToken: t.refresh_token ?? null,
      expiresAt: typeof t.expires_in === "number" ? new Date(Date.now() + t.expires_in * 1000) : null,
      scopes: typeof t.scope === "string" ? t.scope.split(" ").filter(Boolean) : null,
      subject,
    };
  }

  /** What went wrong, in words that name the provider and the step, never a token. */
  private wrap(err: unknown, step: string): DomainError {
    const name = this.provider.name;
    if (err instanceof DomainError) return err;
    if (err instanceof oauth.ResponseBodyError) {
      const description = err.error_description ? `: ${err.error_description}` : "";
      return providerError("provider_refused", `${name} refused the ${step} (${err.error}${description}).`);
    }
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      return providerError("provider_refused", `${name} refused the ${step} (HTTP ${err.status}).`);
    }
    if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
      return providerError("provider_invalid_response", `${name} gave an invalid answer during the ${step}: ${err.message}`);
    }
    const e = err as { name?: string; cause?: { code?: string } };
    const why =
      e?.name === "TimeoutError" || e?.name === "AbortError"
        ? "did not answer in time"
        : `could not be reached${e?.cause?.code ? ` (${e.cause.code})` : ""}`;
    return providerError("provider_unavailable", `${name} ${why} during the ${step}.`);
  }
}
