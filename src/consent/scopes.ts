/** Scopes a client may be registered with (and a user may grant). */
export const DATA_SCOPES = ["profile:read", "data:read", "data:write"] as const;
export type DataScope = (typeof DATA_SCOPES)[number];

/** Scopes any client may ask for besides its registered ones. */
export const PROTOCOL_SCOPES = ["openid", "offline_access"] as const;

export const ALL_SCOPES = [...PROTOCOL_SCOPES, ...DATA_SCOPES] as const;

/** What each scope lets an app do, in words a user understands. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: "Know who you are (your scopegate user ID)",
  offline_access: "Keep access when you are not using the app",
  "profile:read": "See your name, email address and date of birth",
  "data:read": "Read your health measurements",
  "data:write": "Add, change and delete your health measurements",
};

export function isDataScope(s: string): s is DataScope {
  return (DATA_SCOPES as readonly string[]).includes(s);
}
