import { chooseAudience } from "../resources.ts";
import { AuthorizeError, type AuthorizeCheck } from "./context.ts";

/**
 * RFC 8707: the resource the tokens will be for, one of ours (the GraphQL API
 * when absent). The code remembers it; the token request may only repeat it.
 */
export const checkResource: AuthorizeCheck = (ctx) => {
  const values = ctx.params.get("resource");
  if (!ctx.issuer) {
    if (values?.length) throw new AuthorizeError("invalid_target", "This server takes no resource parameter here.");
    return;
  }
  const choice = chooseAudience(ctx.issuer, values);
  if (!choice.ok) throw new AuthorizeError("invalid_target", choice.description);
  ctx.audience = choice.audience;
};
