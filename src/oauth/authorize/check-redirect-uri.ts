import { redirectUriMatches } from "../../clients/redirect-uris.ts";
import { AuthorizeError, clientOf, type AuthorizeCheck } from "./context.ts";

/**
 * redirect_uri is one the client registered (rules: clients/redirect-uris.ts).
 * OAuth 2.1 requires it even for a client with a single registered URI.
 * Until this check passes, every error is shown on a page; once it sets
 * ctx.redirectUri, errors go back to the app if it is verified (refusal.ts).
 */
export const checkRedirectUri: AuthorizeCheck = (ctx) => {
  const client = clientOf(ctx);
  const values = ctx.params.get("redirect_uri") ?? [];
  if (values.length === 0 || !values[0]) {
    throw new AuthorizeError("invalid_request", `${client.name} did not say where to send you back to (redirect_uri is missing).`);
  }
  if (values.length > 1) throw new AuthorizeError("invalid_request", `${client.name} sent redirect_uri more than once.`);
  const redirectUri = values[0];
  if (!redirectUriMatches(client, redirectUri)) {
    throw new AuthorizeError(
      "invalid_redirect_uri",
      `${client.name} asked to send you back to an address that is not registered for it, so scopegate did not send you there.`,
    );
  }
  ctx.redirectUri = redirectUri;
};
