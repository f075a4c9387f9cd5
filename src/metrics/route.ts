import { Hono } from "hono";
import { safeEqual } from "../lib/crypto.ts";
import type { Config } from "../config.ts";
import type { AppEnv } from "../request-env.ts";
import type { Metrics } from "./metrics.ts";
import { bearerTokenOf, wwwAuthenticate } from "../lib/www-authenticate.ts";

/**
 * GET /metrics: the Prometheus text exposition, for `Authorization: Bearer
 * <METRICS_TOKEN>` only. Without METRICS_TOKEN the route is not registered at
 * all, so /metrics is the app's ordinary 404.
 */
export function metricsRoute(deps: { config: Pick<Config, "metricsToken">; metrics: Metrics }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const expected = deps.config.metricsToken;
  if (!expected) return app;
  app.get("/metrics", async (c) => {
    c.header("Cache-Control", "no-store");
    const token = bearerTokenOf(c.req.header("authorization"));
    // Compared in constant time (safeEqual hashes both sides first).
    if (!token || !safeEqual(token, expected)) {
      c.set("refusal", "invalid_token");
      c.header("WWW-Authenticate", wwwAuthenticate("Bearer", { realm: "metrics", error: token ? "invalid_token" : undefined }));
      return c.json({ error: "invalid_token", error_description: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>." }, 401);
    }
    const { contentType, body } = await deps.metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });
  return app;
}
