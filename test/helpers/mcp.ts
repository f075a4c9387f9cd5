import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";

/**
 * What an AI assistant keeps for the MCP SDK's OAuth client: its client
 * registration, tokens and PKCE verifier. It "opens" the authorization URL by
 * recording it, for the test to consent on.
 */
export class AssistantProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = "";
  opened: URL[] = [];
  readonly clientMetadataUrl: string | undefined;

  constructor(
    readonly redirect: string,
    options: {
      /** a pre-registered client */
      clientId?: string;
      /** the scope it asks for (without it the SDK asks for every scope the resource metadata lists) */
      scope?: string;
      /** the URL of the client metadata document it publishes, used as its client_id */
      clientMetadataUrl?: string;
      name?: string;
    } = {},
  ) {
    if (options.clientId) this.info = { client_id: options.clientId };
    this.clientMetadataUrl = options.clientMetadataUrl;
    this.scope = options.scope;
    this.name = options.name ?? "Test assistant";
  }

  private readonly scope: string | undefined;
  private readonly name: string;

  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(this.scope ? { scope: this.scope } : {}),
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.opened.push(url);
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}
