/**
 * The one builder of WWW-Authenticate values (RFC 7235 §4.1; RFC 6750 §3 for
 * Bearer, RFC 6749 §5.2 for Basic at the token endpoint, RFC 9728 §5.1 for
 * resource_metadata). Parameters whose value is undefined are left out.
 *
 * Values are quoted strings. RFC 6750 §3 allows only %x20-21 / %x23-5B /
 * %x5D-7E in error_description and scope, so a quote or backslash becomes an
 * apostrophe and anything else outside that set a space: a description can
 * never break out of its quotes, whatever text it carries.
 */
export function wwwAuthenticate(scheme: "Bearer" | "Basic", params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}="${quotable(value)}"`);
  return parts.length ? `${scheme} ${parts.join(", ")}` : scheme;
}

function quotable(value: string): string {
  return value.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, " ");
}

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 §2.1: b64token, one
 * space-separated credential, the scheme in any case), or null when the header
 * is absent or anything else. The one parser for every endpoint that takes one.
 */
export function bearerTokenOf(authorization: string | undefined): string | null {
  return /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization ?? "")?.[1] ?? null;
}
