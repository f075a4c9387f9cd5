import { AuthorizeError, describable, type AuthorizeCheck } from "./context.ts";

/**
 * No parameter may appear twice (RFC 6749 §3.1), whether we know it or not;
 * except `resource`, which RFC 8707 lets repeat: checkResource refuses more
 * than one with invalid_target, the error RFC 8707 names.
 */
export const rejectRepeatedParams: AuthorizeCheck = (ctx) => {
  for (const [name, values] of ctx.params) {
    if (values.length > 1 && name !== "resource") {
      throw new AuthorizeError("invalid_request", `Parameter ${describable(name) ? name : "(unnamed)"} is included more than once.`);
    }
  }
};
