import { parseScope } from "../params.ts";
import { AuthorizeError, describable, param, type AuthorizeCheck } from "./context.ts";

const KNOWN_PROMPTS = new Set(["none", "login", "consent"]);

/**
 * prompt (OIDC Core §3.1.2.1): none, login and consent are understood
 * (select_account is not: there is one account per sign-in), and none stands
 * alone. What they do is decided after validation: sign-in.ts, consent.ts.
 */
export const checkPrompt: AuthorizeCheck = (ctx) => {
  const prompt = new Set(parseScope(param(ctx, "prompt")));
  for (const p of prompt) {
    if (!KNOWN_PROMPTS.has(p)) {
      throw new AuthorizeError("invalid_request", `Unsupported prompt value${describable(p) ? ` ${p}` : ""}; use none, login or consent.`);
    }
  }
  if (prompt.has("none") && prompt.size > 1)
    throw new AuthorizeError("invalid_request", "prompt=none cannot be combined with other values.");
  ctx.prompt = prompt;
};
