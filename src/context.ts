import type { Config } from "./config.ts";
import type { Db, Sql } from "./db/index.ts";
import type { Logger } from "./lib/log.ts";
import type { KeyStore } from "./oauth/keys.ts";
import type { AuditBuffer } from "./audit/buffer.ts";
import type { HotPathLimits } from "./db/rate-limit-windows.ts";
import type { Metrics } from "./metrics/metrics.ts";
import type { AccessTokenChecker } from "./oauth/access-tokens.ts";
import type { Revocations } from "./oauth/revocations.ts";
import type { WebhookSettings } from "./clients/webhook-endpoints.ts";
import type { Connectors } from "./connectors/connections.ts";

/**
 * What every route handler can reach: app.ts builds it, the surfaces (pages/,
 * graphql/, mcp/) take it whole. The layers below them declare only what they
 * use (oauth/deps.ts OAuthDeps, auth/bearer.ts, metrics/route.ts), which this
 * satisfies, and do not import this file: it imports their services' types.
 */
export interface AppDeps {
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
  /** GET /metrics: request counts and latencies, tokens issued, refusals, pool use */
  metrics: Metrics;
  /** the token endpoint per client, GraphQL per token and per session: counted in memory, synced about once a second */
  rateLimits: HotPathLimits;
  /** what managing webhook endpoints needs: WEBHOOKS_ALLOW_LOOPBACK and the key that seals their secrets */
  webhooks: WebhookSettings;
  /** the configured providers (CONNECTORS_FILE) and the key that seals users' tokens there */
  connectors: Connectors;
}

export type { AppEnv } from "./request-env.ts";
