import { AuthorizeError, param, type AuthorizeCheck } from "./context.ts";

/** The response goes in the redirect URI's query (the code flow's default); no fragment or form_post. */
export const checkResponseMode: AuthorizeCheck = (ctx) => {
  const responseMode = param(ctx, "response_mode");
  if (responseMode !== undefined && responseMode !== "query") {
    throw new AuthorizeError("invalid_request", "Only response_mode=query is supported.");
  }
};
