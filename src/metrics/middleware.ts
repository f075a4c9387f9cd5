import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../request-env.ts";
import type { Metrics } from "./metrics.ts";

/** A refusal no handler named: told by its status alone. */
function reasonOf(status: number): string | undefined {
  switch (status) {
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return undefined;
  }
}

/**
 * Counts and times every request under the route pattern that answered it
 * (Hono's matched pattern, e.g. `/v1/oauth/register/:clientId`; `/*` when a
 * catch-all middleware answered: an unknown path's 404, or a refusal at the
 * door), and counts refusals by the reason a handler set (`c.set("refusal")`)
 * or, failing that, by status. Register it first.
 */
export function requestMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c) || "/*";
    const status = c.res.status;
    metrics.recordRequest(route, c.req.method, status, (performance.now() - started) / 1000);
    if (status >= 400) {
      const reason = c.get("refusal") ?? reasonOf(status);
      if (reason) metrics.refusal(route, reason);
    }
  };
}
