import { AuthorizeError, param, type AuthorizeCheck } from "./context.ts";

/** OAuth 2.1 keeps only the code flow: response_type=code, nothing else. */
export const checkResponseType: AuthorizeCheck = (ctx) => {
  const responseType = param(ctx, "response_type");
  if (!responseType) throw new AuthorizeError("invalid_request", "response_type is missing; it must be code.");
  if (responseType !== "code") throw new AuthorizeError("unsupported_response_type", "Only response_type=code is supported.");
};
