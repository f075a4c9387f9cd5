/** The redirect URI with the response parameters (and our iss, RFC 9207) appended to whatever query it already has. */
export function authorizationResponseUrl(redirectUri: string, issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  const extra = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) extra.append(k, v);
  extra.append("iss", issuer);
  // Keep the registered query exactly as it was written; only add ours after it.
  url.search = url.search && url.search !== "?" ? `${url.search}&${extra}` : `?${extra}`;
  return url.href;
}

/** /login keeps a return path of at most this many characters (safeReturnTo in src/pages). */
export const MAX_RETURN_TO = 2000;

/**
 * The sign-in page, returning to `returnTo` afterwards; null when the path is
 * too long for it to keep. `reauthenticate` makes the page ask for the
 * password even when the user is signed in.
 */
export function signInPath(returnTo: string, reauthenticate: boolean): string | null {
  if (returnTo.length > MAX_RETURN_TO) return null;
  return `/login?return_to=${encodeURIComponent(returnTo)}${reauthenticate ? "&prompt=login" : ""}`;
}
