import type { SignInSession } from "./accounts/sessions.ts";
import type { Logger } from "./lib/log.ts";

/**
 * The Hono variables of every request. Kept apart from context.ts (AppDeps,
 * which names the services of oauth/, metrics/ and connectors/) so that those
 * folders can type their routes without importing what imports them: this
 * file imports only from below them.
 */
export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    /** memoised by loadSession() */
    session?: SignInSession | null;
    /** why this request was refused (an OAuth error code, invalid_token, ...), for the refusals metric */
    refusal?: string;
  };
};
