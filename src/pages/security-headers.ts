import type { Context, MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/**
 * One security-header policy for every HTML response (docs/security-headers.md).
 * The strict default allows no script at all, our one stylesheet, no framing and
 * no form posts elsewhere; a page that needs more names one of the additions
 * below with pagePolicy(), and gets exactly that much more.
 */

type SecureHeadersOptions = NonNullable<Parameters<typeof secureHeaders>[0]>;
type CspDirectives = NonNullable<SecureHeadersOptions["contentSecurityPolicy"]>;

const STRICT_CSP = {
  defaultSrc: ["'none'"],
  styleSrc: ["'self'"],
  // data: for the empty favicon (`<link rel="icon" href="data:,">`), which keeps browsers from asking for /favicon.ico
  imgSrc: ["'self'", "data:"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
} satisfies CspDirectives;

const { formAction: _formAction, ...STRICT_CSP_ANY_FORM_TARGET } = STRICT_CSP;

const STRICT = {
  contentSecurityPolicy: STRICT_CSP,
  xFrameOptions: "DENY", // for browsers that predate frame-ancestors
  xContentTypeOptions: true,
  // Not no-referrer by default: a same-origin Referer costs nothing and helps
  // support; no other site ever sees our URLs.
  referrerPolicy: "same-origin",
  crossOriginOpenerPolicy: true,
  crossOriginResourcePolicy: true,
  crossOriginEmbedderPolicy: false,
  originAgentCluster: true,
  // HSTS belongs to whoever terminates TLS for the issuer's host; the server may run behind plain HTTP on loopback.
  strictTransportSecurity: false,
  xDnsPrefetchControl: true,
  xDownloadOptions: true,
  xPermittedCrossDomainPolicies: true,
  xXssProtection: true,
  removePoweredBy: true,
} satisfies SecureHeadersOptions;

/** The named additions: each page that needs more than STRICT says which one it uses. */
export const PAGE_POLICIES = {
  strict: STRICT,

  /** /developers: its one script, from our origin (no inline script), and the GraphQL calls it makes. */
  scripts: {
    ...STRICT,
    contentSecurityPolicy: { ...STRICT_CSP, scriptSrc: ["'self'"], connectSrc: ["'self'"] },
  },

  /**
   * GraphiQL (GET /graphql in a browser): its scripts and editor workers from
   * our origin, its queries to /graphql, and inline styles, which its editor
   * (Monaco) sets on elements as it lays them out. Still no inline script.
   */
  graphiql: {
    ...STRICT,
    contentSecurityPolicy: {
      ...STRICT_CSP,
      scriptSrc: ["'self'"],
      workerSrc: ["'self'"],
      connectSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      fontSrc: ["'self'", "data:"],
    },
  },

  /**
   * The authorization pages (consent, its error pages) and the sign-in and
   * sign-up pages that lead to them. no-referrer: their URLs carry the
   * authorization request. No form-action: the answer to their forms redirects
   * to the app's registered redirect URI, and browsers apply form-action to
   * every redirect that follows a form post. No opener policy: an app may run
   * the flow in a pop-up and must keep its handle on it.
   */
  authorization: {
    ...STRICT,
    contentSecurityPolicy: STRICT_CSP_ANY_FORM_TARGET,
    referrerPolicy: "no-referrer",
    crossOriginOpenerPolicy: false,
  },

  /** The connector callback's pages (its errors): its URL carries the provider's authorization code. no-referrer, nothing else. */
  connectorCallback: {
    ...STRICT,
    referrerPolicy: "no-referrer",
  },
} satisfies Record<string, SecureHeadersOptions>;

export type PagePolicy = keyof typeof PAGE_POLICIES;

declare module "hono" {
  interface ContextVariableMap {
    /** which of PAGE_POLICIES this request's HTML answer gets (strict when unset) */
    pagePolicy: PagePolicy;
  }
}

/** Picks the named addition for the routes it is mounted on. */
export function pagePolicy(name: PagePolicy): MiddlewareHandler {
  return async (c, next) => {
    c.set("pagePolicy", name);
    await next();
  };
}

const apply = Object.fromEntries(Object.entries(PAGE_POLICIES).map(([name, options]) => [name, secureHeaders(options)])) as Record<
  PagePolicy,
  MiddlewareHandler
>;

const done = async () => {};

function isHtml(c: Context): boolean {
  return /^text\/html\b/i.test(c.res.headers.get("content-type") ?? "");
}

/**
 * Mounted once for the whole app: after the handler has answered, an HTML
 * answer gets its policy's headers (replacing any a handler set itself) and
 * `Cache-Control: no-store` unless the handler chose otherwise. Every other
 * answer gets nosniff, so that nothing we serve is ever sniffed into HTML.
 */
export function pageSecurityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (!isHtml(c)) {
      c.res.headers.set("X-Content-Type-Options", "nosniff");
      return;
    }
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
    // Hono's secureHeaders writes its headers after calling next(); with next
    // already done, calling it with a no-op writes them onto this answer.
    await apply[c.get("pagePolicy") ?? "strict"](c, done);
  };
}
