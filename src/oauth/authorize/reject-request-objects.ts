import { AuthorizeError, type AuthorizeCheck } from "./context.ts";

/**
 * Request objects are not supported; OIDC Core §6.1 gives them error codes of
 * their own so that the app knows why, rather than an ignored parameter.
 */
export const rejectRequestObjects: AuthorizeCheck = (ctx) => {
  if (ctx.params.has("request")) {
    throw new AuthorizeError("request_not_supported", "Request objects (the request parameter) are not supported.");
  }
  if (ctx.params.has("request_uri")) {
    throw new AuthorizeError("request_uri_not_supported", "Request objects by reference (request_uri) are not supported.");
  }
};
