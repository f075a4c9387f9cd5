import { parseScope } from "../params.ts";
import { PROTOCOL_SCOPES } from "../../consent/scopes.ts";
import { AuthorizeError, clientOf, describable, param, type AuthorizeCheck } from "./context.ts";

/**
 * At least one scope, each one the client is registered for or a protocol
 * scope (openid, offline_access) that any client may ask for. Refused rather
 * than silently narrowed, so that the app learns of its mistake.
 */
export const checkScope: AuthorizeCheck = (ctx) => {
  const client = clientOf(ctx);
  const scopes = parseScope(param(ctx, "scope"));
  if (scopes.length === 0) throw new AuthorizeError("invalid_scope", "Ask for at least one scope.");
  const allowed = new Set<string>([...client.scopes, ...PROTOCOL_SCOPES]);
  const refused = scopes.filter((s) => !allowed.has(s));
  if (refused.length) {
    const named = refused.join(" ");
    throw new AuthorizeError(
      "invalid_scope",
      describable(named) ? `This client may not ask for: ${named}.` : "The request asks for scopes this client may not ask for.",
    );
  }
  ctx.scopes = scopes;
};
