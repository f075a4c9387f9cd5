import { Hono, type Context } from "hono";
import { OAUTH_PATHS } from "./paths.ts";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";
import { bearerTokenOf, wwwAuthenticate } from "../lib/www-authenticate.ts";
import { noStore } from "./errors.ts";
import { InvalidTokenError } from "./issued-tokens.ts";

function bearerError(c: Context<AppEnv>, status: 401 | 403, error: string, description: string, scope?: string) {
  c.set("refusal", error);
  noStore(c);
  c.header("WWW-Authenticate", wwwAuthenticate("Bearer", { realm: "scopegate", error, error_description: description, scope }));
  return c.json({ error, error_description: description }, status);
}

/** GET/POST /v1/oauth/userinfo (OpenID Connect Core §5.3): claims per the granted scopes. */
export function userinfoRoute(deps: OAuthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const handler = async (c: Context<AppEnv>) => {
    const token = bearerTokenOf(c.req.header("authorization"));
    if (!token) {
      noStore(c);
      c.header("WWW-Authenticate", wwwAuthenticate("Bearer", { realm: "scopegate" }));
      return c.json({ error: "invalid_request", error_description: "Send the access token as Authorization: Bearer." }, 401);
    }
    let live: Awaited<ReturnType<typeof deps.accessTokens.check>>;
    try {
      // The authorization server's own endpoint: a token for any of our resources.
      live = await deps.accessTokens.check(token, "any");
    } catch (err) {
      if (err instanceof InvalidTokenError) return bearerError(c, 401, "invalid_token", err.message);
      throw err;
    }
    if (!live.scopes.includes("openid")) {
      return bearerError(c, 403, "insufficient_scope", "userinfo needs a token with the openid scope.", "openid");
    }
    const user = await deps.prisma.user.findUnique({ where: { id: live.claims.sub } });
    if (!user) return bearerError(c, 401, "invalid_token", "The user of this token no longer exists.");
    noStore(c);
    return c.json({
      sub: user.id,
      ...(live.scopes.includes("profile:read")
        ? { name: user.name, email: user.email, birthdate: user.birthDate?.toISOString().slice(0, 10) ?? null }
        : {}),
    });
  };
  app.get(OAUTH_PATHS.userinfo, handler);
  app.post(OAUTH_PATHS.userinfo, handler);
  return app;
}
