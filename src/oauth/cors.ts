import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../request-env.ts";
import type { OAuthDeps } from "./deps.ts";

const CACHE_MS = 5_000;

/**
 * Origins that may call the token, revocation, userinfo and GraphQL endpoints
 * from a browser: those of public clients' registered redirect URIs (single-page
 * apps). Read from the database, cached for a few seconds.
 */
export class AllowedOrigins {
  private origins = new Set<string>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(private readonly deps: Pick<OAuthDeps, "prisma">) {}

  async has(origin: string): Promise<boolean> {
    if (Date.now() - this.loadedAt > CACHE_MS) {
      this.loading ??= this.load().finally(() => (this.loading = undefined));
      await this.loading;
    }
    return this.origins.has(origin);
  }

  private async load(): Promise<void> {
    const clients = await this.deps.prisma.oAuthClient.findMany({
      where: { type: "PUBLIC", revokedAt: null },
      select: { redirectUris: true },
    });
    const origins = new Set<string>();
    for (const c of clients) {
      for (const uri of c.redirectUris) {
        try {
          const u = new URL(uri);
          if (u.protocol === "https:" || u.protocol === "http:") origins.add(u.origin);
        } catch {
          // a registered URI that does not parse names no origin
        }
      }
    }
    this.origins = origins;
    this.loadedAt = Date.now();
  }
}

/** CORS for the endpoints a single-page app calls. Credentials (cookies) are never allowed cross-origin. */
export function corsForPublicClients(origins: AllowedOrigins, methods: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const origin = c.req.header("origin");
    const allowed = origin ? await origins.has(origin) : false;
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      if (!allowed) return c.body(null, 403);
      c.header("Access-Control-Allow-Origin", origin!);
      c.header("Access-Control-Allow-Methods", methods);
      c.header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id");
      c.header("Access-Control-Max-Age", "600");
      c.header("Vary", "Origin");
      return c.body(null, 204);
    }
    await next();
    if (allowed) {
      c.res.headers.set("Access-Control-Allow-Origin", origin!);
      c.res.headers.set("Access-Control-Expose-Headers", "WWW-Authenticate, X-OAuth-Scopes, X-Request-Id");
    }
    c.res.headers.append("Vary", "Origin");
  };
}
