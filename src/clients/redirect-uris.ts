import type { OAuthClient } from "../generated/prisma/client.ts";

/**
 * Redirect URIs: which ones a client may register (registration and the
 * developer console) and when an authorization request's redirect_uri is one
 * of them (the authorization endpoint). Both rules live here so that what
 * registration lets in and what the endpoint accepts cannot drift apart.
 */

export const MAX_REDIRECT_URI_LENGTH = 2000;

/** RFC 8252 §7.1: a private-use scheme is a reverse domain name, e.g. com.example.app */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

/**
 * A loopback redirect URI split around its port (RFC 8252 §7.3): [1] the host,
 * [2] the port if written, [3] everything after it. RFC 8252 prefers the IP
 * literals, but many native hosts (AI assistants among them) listen on
 * `localhost`; the browser connects to the user's own machine either way.
 * Only these spellings, on the string as written: the URL parser also reads
 * http://127.1, http://0x7f.0.0.1, http://LOCALHOST or http://[0:0:0:0:0:0:0:1]
 * as loopback, but matching compares strings, so such a URI would be let in
 * at registration and then denied its port exception. They are plain http
 * hosts like any other (refused in production, and in development too).
 */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::([1-9]\d{0,4}))?([/?#].*)?$/;

/**
 * Whether `raw` is a loopback redirect URI: the one definition that both
 * registration (plain http allowed) and matching (any port, for a public
 * client) use. Returns its host, port (null when not written) and the rest.
 */
export function loopbackRedirect(raw: string): { host: string; port: number | null; rest: string } | null {
  const m = LOOPBACK.exec(raw);
  if (!m) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && port > 65535) return null;
  return { host: m[1]!, port, rest: m[3] ?? "" };
}

/** What registration needs to know about the client a redirect URI is for. */
export type RedirectUriOwner = Pick<OAuthClient, "environment" | "type">;

/**
 * Why `raw` may not be registered for such a client, or null when it may:
 * - https with a host, for any client;
 * - plain http only to localhost, 127.0.0.1 or [::1] (spelled so: see LOOPBACK), and in production only for public (native) clients;
 * - a private-use scheme (com.example.app:/cb) only for public (native) clients;
 * never a fragment, credentials or anything that is not an absolute URL.
 * The answer completes "redirect URI <raw> ...".
 */
export function redirectUriProblem(raw: string, owner: RedirectUriOwner): string | null {
  if (raw.length > MAX_REDIRECT_URI_LENGTH) return `is too long (${MAX_REDIRECT_URI_LENGTH} characters at most)`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (raw.includes("#")) return "must not contain a fragment (#)";
  if (u.username || u.password) return "must not contain credentials";
  if (u.protocol === "https:") return u.hostname ? null : "must name a host";
  if (u.protocol === "http:") {
    const loopback = loopbackRedirect(raw) !== null;
    if (owner.environment === "PRODUCTION") {
      if (owner.type === "PUBLIC") return loopback ? null : "must use https in production (plain http only to a loopback address)";
      return "must use https in production";
    }
    return loopback ? null : "may use plain http only for localhost or 127.0.0.1 (use https)";
  }
  if (PRIVATE_USE_SCHEME.test(u.protocol)) {
    return owner.type === "PUBLIC" ? null : "may use a private-use scheme only for public (native) clients";
  }
  return "must use https (or http for localhost in development)";
}

/**
 * True when `requested` is one of the client's registered redirect URIs,
 * compared as exact strings (no normalisation: case, trailing slash, query and
 * port all count). One exception, RFC 8252 §7.3: for a public client, a
 * registered loopback URI (http://127.0.0.1, http://[::1] or http://localhost)
 * matches with any port, the host and the rest of the string still exact,
 * because a native app gets its port from the operating system at run time.
 * The URI must also be one we can append the response to.
 */
export function redirectUriMatches(client: Pick<OAuthClient, "type" | "redirectUris">, requested: string): boolean {
  if (!URL.canParse(requested)) return false;
  if (client.redirectUris.includes(requested)) return true;
  if (client.type !== "PUBLIC") return false;
  const want = loopbackRedirect(requested);
  if (!want) return false;
  return client.redirectUris.some((registered) => {
    const have = loopbackRedirect(registered);
    return !!have && have.host === want.host && have.rest === want.rest;
  });
}
