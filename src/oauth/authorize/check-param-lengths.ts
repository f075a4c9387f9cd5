import { AuthorizeError, describable, MAX_PARAM_LENGTH, type AuthorizeCheck } from "./context.ts";

/** Every value fits MAX_PARAM_LENGTH: they are carried through the consent form and the sign-in return path. */
export const checkParamLengths: AuthorizeCheck = (ctx) => {
  for (const [name, values] of ctx.params) {
    if (values[0]!.length > MAX_PARAM_LENGTH) {
      throw new AuthorizeError("invalid_request", `Parameter ${describable(name) ? name : "(unnamed)"} is too long.`);
    }
  }
};
