import type { Config } from "./config.ts";
import type { Db } from "./db/index.ts";
import type { LiveSession } from "./auth/sessions.ts";
import type { Logger } from "./log.ts";
import type { KeyStore } from "./oauth/keys.ts";
import type { AuditBuffer } from "./audit/buffer.ts";

/** What every route handler can reach. */
export interface AppDeps {
  config: Config;
  prisma: Db;
  logger: Logger;
  /** JWT signing keys (kept in the database) */
  keys: KeyStore;
  /** batched audit events for reads, and grants' lastUsedAt */
  audit: AuditBuffer;
}

export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    /** memoised by loadSession() */
    session?: LiveSession | null;
  };
};
