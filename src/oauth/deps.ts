import type { AuditBuffer } from "../audit/buffer.ts";
import type { Config } from "../config.ts";
import type { Db, Sql } from "../db/index.ts";
import type { HotPathLimits } from "../db/rate-limit-windows.ts";
import type { Logger } from "../lib/log.ts";
import type { AccessTokenChecker } from "./access-tokens.ts";
import type { KeyStore } from "./keys.ts";
import type { Revocations } from "./revocations.ts";

/**
 * What the protocol's endpoints need from the application. app.ts passes its
 * AppDeps (src/context.ts), which has all of this and more; oauth/ does not
 * import context.ts, whose AppDeps names the services of the layers above.
 */
export interface OAuthDeps {
  config: Config;
  prisma: Db;
  /** plain SQL on the same pool, for the hottest statements */
  sql: Sql;
  logger: Logger;
  /** JWT signing keys (kept in the database) */
  keys: KeyStore;
  /** batched audit events (reads, tokens issued), and grants' lastUsedAt */
  audit: AuditBuffer;
  /** what was revoked, and OAuth clients, in memory (kept current by the change feed) */
  revocations: Revocations;
  /** access-token checks without a database statement in the common case */
  accessTokens: AccessTokenChecker;
  /** the token endpoint per client: counted in memory, synced about once a second */
  rateLimits: HotPathLimits;
  /** the tokens-issued counter of GET /metrics (src/metrics/ sits above this layer) */
  metrics: { tokenIssued(grantType: string): void };
}
