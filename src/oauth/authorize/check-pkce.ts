import { AuthorizeError, param, type AuthorizeCheck } from "./context.ts";

/** RFC 7636 §4.2: 43 to 128 unreserved characters (a base64url SHA-256 is 43). */
const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** PKCE for every client, S256 only (OAuth 2.1 §4.1.1): plain would hand the verifier to whoever sees the request. */
export const checkPkce: AuthorizeCheck = (ctx) => {
  const codeChallenge = param(ctx, "code_challenge");
  if (!codeChallenge) {
    throw new AuthorizeError("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.");
  }
  const method = param(ctx, "code_challenge_method");
  if (method !== "S256") {
    throw new AuthorizeError(
      "invalid_request",
      method === undefined || method === "plain"
        ? "code_challenge_method must be S256 (plain PKCE is not accepted)."
        : "code_challenge_method must be S256.",
    );
  }
  if (!CODE_CHALLENGE.test(codeChallenge)) {
    throw new AuthorizeError("invalid_request", "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~.");
  }
  ctx.codeChallenge = codeChallenge;
};
