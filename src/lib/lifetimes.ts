/**
 * Every lifetime of a credential, in one table (issue 11 item 3). Seconds
 * where the protocol speaks in seconds (expires_in, accessTokenTtl), ms elsewhere.
 */

/** An authorization code: one use, within a minute. */
export const CODE_TTL_MS = 60_000;

/** A client's access-token lifetime (accessTokenTtl): the default, and the bounds a developer may choose. */
export const DEFAULT_ACCESS_TOKEN_TTL_S = 600;
export const MIN_ACCESS_TOKEN_TTL_S = 60;
export const MAX_ACCESS_TOKEN_TTL_S = 86_400;

export const ID_TOKEN_TTL_S = 3600;

/** A refresh token: unused for 30 days it expires; a family lives at most a year. */
export const REFRESH_IDLE_TTL_MS = 30 * 24 * 3600 * 1000;
export const REFRESH_ABSOLUTE_TTL_MS = 365 * 24 * 3600 * 1000;

/** A first-party sign-in (the account session cookie). */
export const ACCOUNT_SESSION_TTL_MS = 14 * 24 * 3600 * 1000;

/**
 * A retired signing key stays published, and a revocation rule about access
 * tokens is kept, a little longer than any access token can live.
 */
export const OUTLIVES_ACCESS_TOKENS_MS = MAX_ACCESS_TOKEN_TTL_S * 1000 + 3600 * 1000;

/**
 * Signing keys rotate on their own (SIGNING_KEY_ROTATE_AFTER, SIGNING_KEY_PUBLISH_BEFORE_USE):
 * a key that has signed this long gets a successor...
 */
export const SIGNING_KEY_ROTATE_AFTER_MS = 90 * 24 * 3600 * 1000;
/**
 * ...which is published this long before it signs anything, so that JWKS
 * caches (ours says max-age=300; clients often keep one up to an hour) hold it
 * before the first token it signs.
 */
export const SIGNING_KEY_PUBLISH_BEFORE_USE_MS = 24 * 3600 * 1000;

/** When a revocation rule recorded now (grant, client, user) can be forgotten. */
export function revocationRuleExpiry(now = Date.now()): Date {
  return new Date(now + OUTLIVES_ACCESS_TOKENS_MS);
}

/**
 * A self-registered client (RFC 7591) that has gone this long without a grant
 * (none live, none ended within it) is deleted: anyone may register, so
 * registrations that lead nowhere must not pile up.
 */
export const UNUSED_SELF_REGISTERED_CLIENT_MS = 30 * 24 * 3600 * 1000;

/** A browser that signed in before keeps its own sign-in limit (the known-device cookie, src/accounts/known-device.ts). */
export const KNOWN_DEVICE_TTL_S = 180 * 24 * 3600;

/** A connect flow to a provider (its `state` and binding cookie) must come back within this. */
export const CONNECTOR_STATE_TTL_MS = 10 * 60_000;

/** The longest a rotated client secret may keep working beside the new one. */
export const MAX_CLIENT_SECRET_GRACE_S = 7 * 24 * 3600;

/** A change-feed event is deleted at start this long after it expired (views have forgotten it by then). */
export const EXPIRED_CHANGE_EVENT_KEPT_MS = 3600 * 1000;
