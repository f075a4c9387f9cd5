import type { Context } from "hono";
import { invalidInput } from "../lib/errors.ts";
import { Form, mediaTypeOf, readJsonObject } from "../lib/form.ts";
import { textProblem } from "../lib/text.ts";
import { OAuthError } from "./errors.ts";

const MAX_PARAM_LENGTH = 4096;

/**
 * The parameters of an OAuth POST: form-encoded (RFC 6749) or a JSON object.
 * A parameter sent twice is refused (RFC 6749 §3.1); values must be strings,
 * and text (no NUL, no lone surrogate: lib/text.ts).
 */
export async function readOAuthParams(c: Context): Promise<Record<string, string>> {
  const type = mediaTypeOf(c);
  // No prototype: a parameter named constructor or __proto__ is a parameter like any other.
  const out: Record<string, string> = Object.create(null);
  if (type === "application/x-www-form-urlencoded") {
    const form = Form.fromUrlEncoded(await c.req.text());
    const repeated = form.repeated()[0];
    if (repeated !== undefined) {
      // RFC 8707 allows several resources; a token of ours is for one.
      if (repeated === "resource") throw new OAuthError("invalid_target", "Ask for one resource per token.");
      throw new OAuthError("invalid_request", `Parameter ${repeated} is included more than once.`);
    }
    for (const [key, value] of form.entries()) out[key] = value;
  } else if (type === "application/json") {
    const body = await readJsonObject(c);
    if (!body.ok) {
      throw new OAuthError(
        "invalid_request",
        body.problem === "not_json" ? "The request body is not valid JSON." : "The request body must be a JSON object.",
      );
    }
    for (const [key, value] of Object.entries(body.value)) {
      if (value === null || value === undefined) continue;
      if (typeof value !== "string") throw new OAuthError("invalid_request", `Parameter ${key} must be a string.`);
      out[key] = value;
    }
  } else {
    throw new OAuthError("invalid_request", "Send parameters as application/x-www-form-urlencoded (or application/json).");
  }
  for (const [key, value] of Object.entries(out)) {
    // (A key's own problem is named without the key: it is not text to show.)
    if (textProblem(key)) throw invalidInput(undefined, `A parameter name ${textProblem(key)}.`);
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError("invalid_request", `Parameter ${key} is too long.`);
    const problem = textProblem(value);
    if (problem) throw invalidInput(key, `Parameter ${key} ${problem}.`);
  }
  return out;
}

/** Space-separated scope string -> unique list (empty string -> []). */
export function parseScope(scope: string | undefined): string[] {
  if (!scope) return [];
  return [...new Set(scope.split(" ").filter(Boolean))];
}
