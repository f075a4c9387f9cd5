import { MAX_PARAM_LENGTH, type AuthorizeCheck } from "./context.ts";

/**
 * Keeps state to echo back, before any check that can send an error to the
 * app. An ambiguous (repeated), empty or oversized state is not echoed: the
 * app then sees an error without a state it cannot match, and the repeat is
 * refused by rejectRepeatedParams right after. Never refuses by itself.
 */
export const readState: AuthorizeCheck = (ctx) => {
  const values = ctx.params.get("state");
  const only = values?.length === 1 ? values[0] : undefined;
  ctx.state = only && only.length <= MAX_PARAM_LENGTH ? only : undefined;
};
