import { z } from "zod";
import type { DatabaseTarget } from "./db/index.ts";
import { DEFAULT_DATABASE_POOL, type DatabasePoolOptions } from "./db/pool-options.ts";
import { DEFAULT_HOT_PATH_LIMITS, type HotPathLimitsConfig } from "./db/rate-limit-windows.ts";
import { MIN_SECRET_LENGTH } from "./lib/key-encryption.ts";
import { SIGNING_KEY_PUBLISH_BEFORE_USE_MS, SIGNING_KEY_ROTATE_AFTER_MS } from "./lib/lifetimes.ts";
import { DEFAULT_ABUSE_LIMITS, type AbuseLimitsConfig } from "./accounts/abuse-limits.ts";
import { parseTrustProxy } from "./lib/client-address.ts";
import { ConnectorsFileError, loadConnectorsFile, type ConnectorProvider } from "./connectors/providers.ts";
import { DEFAULT_WEBHOOK_DELIVERY, type WebhookDeliveryOptions } from "./webhooks/delivery.ts";
import { type ClientRegistrationConfig, DEFAULT_CLIENT_REGISTRATION } from "./clients/dynamic-registration.ts";
import { type ClientMetadataDocumentsConfig, DEFAULT_CLIENT_METADATA_DOCUMENTS } from "./clients/metadata-documents.ts";

export interface Config {
  port: number;
  host: string;
  /** Issuer URL without a trailing slash, e.g. http://localhost:4000 */
  issuer: string;
  database: DatabaseTarget;
  /** PostgreSQL only: the embedded database has one connection and cannot cancel a statement. */
  databasePool: DatabasePoolOptions;
  seedDemo: boolean;
  logLevel: string;
  /** Cookies get `Secure` when the issuer is https. */
  secureCookies: boolean;
  /** Bearer token that opens GET /metrics; unset, /metrics does not exist. */
  metricsToken?: string;
  /** TRUST_PROXY: proxies (IPs, CIDRs) whose X-Forwarded-For names the client; empty, the socket's peer is the client. */
  trustProxy: string[];
  /** Sign-in and sign-up limits, counted in the database (src/accounts/abuse-limits.ts). */
  abuseLimits: AbuseLimitsConfig;
  /** Requests per minute on the token endpoint per client and on GraphQL per token and per session (0: off), counted in memory (src/db/rate-limit-windows.ts). */
  hotPathLimits: HotPathLimitsConfig;
  /** KEY_ENCRYPTION_SECRET(_PREVIOUS): unset, the embedded database uses its own (src/db/key-encryption-secret.ts). */
  keyEncryption: { secret?: string; previousSecret?: string };
  /** Automatic rotation of the signing keys (src/oauth/key-schedule.ts). */
  signingKeys: { rotateAfterMs: number | null; publishBeforeUseMs: number };
  /**
   * WEBHOOKS_ALLOW_LOOPBACK (endpoints may be http:// and loopback: tests, local development, never production),
   * WEBHOOKS_TIMEOUT, WEBHOOKS_RETRY_SCHEDULE, WEBHOOKS_RETENTION, WEBHOOKS_POLL_INTERVAL, WEBHOOKS_CONCURRENCY
   * (src/webhooks/delivery.ts).
   */
  webhooks: Omit<WebhookDeliveryOptions, "lookup">;
  /** CONNECTORS_FILE: the providers users may connect their accounts at (src/connectors); none when unset. */
  connectors: ConnectorProvider[];
  /**
   * CLIENT_REGISTRATION (open|off), CLIENT_REGISTRATION_MAX_PER_ADDRESS, CLIENT_REGISTRATION_WINDOW_SECONDS:
   * RFC 7591 self-registration of clients and its limit per address (src/clients/dynamic-registration.ts).
   */
  clientRegistration: ClientRegistrationConfig;
  /**
   * CLIENT_ID_METADATA_DOCUMENTS (on|off), CIMD_ALLOW_LOOPBACK: client_ids that are the https URL of
   * the app's metadata document (src/clients/metadata-documents.ts).
   */
  clientMetadataDocuments: ClientMetadataDocumentsConfig;
}

export class ConfigError extends Error {}

const bool = (name: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      ctx.addIssue({ code: "custom", message: `${name} must be true or false (got "${v}")` });
      return z.NEVER;
    });

/** A whole number from min to max, or the default when unset. */
const wholeNumber = (name: string, min: number, max: number, fallback: number, unit = "") =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return fallback;
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `${name} must be a whole number${unit} from ${min} to ${max} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

/** A secret of at least MIN_SECRET_LENGTH characters, or undefined when unset; never echoed. */
const keySecret = (name: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      if (v.length < MIN_SECRET_LENGTH) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be at least ${MIN_SECRET_LENGTH} characters (got ${v.length}); generate one with \`openssl rand -base64 32\``,
        });
        return z.NEVER;
      }
      return v;
    });

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** 90d, 12h, 30m, 45s or 500ms: the largest unit that holds it whole. */
function formatDuration(ms: number): string {
  for (const [unit, size] of Object.entries(DURATION_UNITS).reverse()) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function parseDuration(v: string): number {
  const m = v.trim().match(/^(\d+)(ms|s|m|h|d)?$/);
  return m ? Number(m[1]) * DURATION_UNITS[m[2] ?? "ms"]! : Number.NaN;
}

/**
 * A duration such as 90d, 12h, 30m, 45s or 500ms (a bare number is milliseconds) from min to max,
 * in milliseconds; the default when unset; with `offAllowed`, "off" (or 0) turns it off (null).
 */
const duration = (name: string, min: number, max: number, fallback: number, offAllowed = false) =>
  z
    .string()
    .optional()
    .transform((v, ctx): number | null => {
      if (v === undefined || v === "") return fallback;
      if (offAllowed && /^(off|0)$/i.test(v)) return null;
      const ms = parseDuration(v);
      if (!(ms >= min && ms <= max)) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be a duration such as 90d, 12h, 30m or 45s from ${formatDuration(min)} to ${formatDuration(max)}${offAllowed ? ', or "off"' : ""} (got "${v}")`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** Comma-separated durations (WEBHOOKS_RETRY_SCHEDULE), each from min to max; the default when unset. */
const durationList = (name: string, min: number, max: number, maxItems: number, fallback: readonly number[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx): readonly number[] => {
      if (v === undefined || v.trim() === "") return fallback;
      const items = v.split(",").map(parseDuration);
      if (items.length > maxItems || !items.every((ms) => ms >= min && ms <= max)) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be up to ${maxItems} comma-separated durations such as 5s,5m,30m,2h, each from ${formatDuration(min)} to ${formatDuration(max)} (got "${v.slice(0, 200)}")`,
        });
        return z.NEVER;
      }
      return items;
    });

const envSchema = z.object({
  PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return 4000;
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) {
        ctx.addIssue({ code: "custom", message: `PORT must be a number from 0 to 65535 (got "${v}")` });
        return z.NEVER;
      }
      return n;
    }),
  HOST: z.string().optional(),
  ISSUER: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        ctx.addIssue({ code: "custom", message: `ISSUER must be an absolute http(s) URL (got "${v}")` });
        return z.NEVER;
      }
      if ((u.protocol !== "https:" && u.protocol !== "http:") || u.search || u.hash || u.username) {
        ctx.addIssue({
          code: "custom",
          message: `ISSUER must be an http(s) URL without query, fragment or credentials (got "${v}")`,
        });
        return z.NEVER;
      }
      return u.href.replace(/\/+$/, "");
    }),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        ctx.addIssue({ code: "custom", message: "DATABASE_URL is not a valid URL (expected postgres://user:password@host:5432/database)" });
        return z.NEVER;
      }
      if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
        ctx.addIssue({ code: "custom", message: `DATABASE_URL must start with postgres:// or postgresql:// (got ${u.protocol}//)` });
        return z.NEVER;
      }
      if (!u.hostname) {
        ctx.addIssue({ code: "custom", message: "DATABASE_URL has no host (expected postgres://user:password@host:5432/database)" });
        return z.NEVER;
      }
      return v;
    }),
  DATA_DIR: z.string().optional(),
  SEED_DEMO: bool("SEED_DEMO"),
  DATABASE_POOL_MAX: wholeNumber("DATABASE_POOL_MAX", 1, 1000, DEFAULT_DATABASE_POOL.max),
  // 0 turns the limit off (PostgreSQL's own meaning of statement_timeout = 0).
  DATABASE_STATEMENT_TIMEOUT_MS: wholeNumber(
    "DATABASE_STATEMENT_TIMEOUT_MS",
    0,
    2_147_483_647,
    DEFAULT_DATABASE_POOL.statementTimeoutMs,
    " of milliseconds",
  ),
  // No 0 here: pg-pool would then wait for a connection forever, and saturation must end in a 503.
  DATABASE_ACQUIRE_TIMEOUT_MS: wholeNumber(
    "DATABASE_ACQUIRE_TIMEOUT_MS",
    1,
    600_000,
    DEFAULT_DATABASE_POOL.acquireTimeoutMs,
    " of milliseconds",
  ),
  METRICS_TOKEN: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      // Never echo the value: it is a secret.
      if (v.length < 16 || !/^[A-Za-z0-9\-._~+/]+=*$/.test(v)) {
        ctx.addIssue({
          code: "custom",
          message: `METRICS_TOKEN must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (got ${v.length} characters)`,
        });
        return z.NEVER;
      }
      return v;
    }),
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const parsed = parseTrustProxy(v ?? "");
      if (parsed.ok) return parsed.entries;
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }),
  SIGN_IN_MAX_PER_ACCOUNT: wholeNumber("SIGN_IN_MAX_PER_ACCOUNT", 1, 1_000_000, DEFAULT_ABUSE_LIMITS.signIn.perAccount),
  SIGN_IN_MAX_PER_ADDRESS: wholeNumber("SIGN_IN_MAX_PER_ADDRESS", 1, 1_000_000, DEFAULT_ABUSE_LIMITS.signIn.perAddress),
  // Up to an hour: the per-account window is how long an attacker can keep the owner out.
  SIGN_IN_WINDOW_SECONDS: wholeNumber("SIGN_IN_WINDOW_SECONDS", 1, 3600, DEFAULT_ABUSE_LIMITS.signIn.windowSeconds, " of seconds"),
  SIGN_UP_MAX_PER_ADDRESS: wholeNumber("SIGN_UP_MAX_PER_ADDRESS", 1, 1_000_000, DEFAULT_ABUSE_LIMITS.signUp.perAddress),
  SIGN_UP_WINDOW_SECONDS: wholeNumber("SIGN_UP_WINDOW_SECONDS", 1, 7 * 86_400, DEFAULT_ABUSE_LIMITS.signUp.windowSeconds, " of seconds"),
  // Requests per minute; 0 turns the limit off.
  TOKEN_RATE_LIMIT_PER_CLIENT: wholeNumber(
    "TOKEN_RATE_LIMIT_PER_CLIENT",
    0,
    1_000_000_000,
    DEFAULT_HOT_PATH_LIMITS.tokenPerClient,
    " of requests per minute",
  ),
  // Cost units per minute (each GraphQL request spends its query's cost, at least 50); 0 turns the limit off.
  GRAPHQL_RATE_LIMIT_PER_TOKEN: wholeNumber(
    "GRAPHQL_RATE_LIMIT_PER_TOKEN",
    0,
    1_000_000_000,
    DEFAULT_HOT_PATH_LIMITS.graphqlPerToken,
    " of cost units per minute",
  ),
  GRAPHQL_RATE_LIMIT_PER_SESSION: wholeNumber(
    "GRAPHQL_RATE_LIMIT_PER_SESSION",
    0,
    1_000_000_000,
    DEFAULT_HOT_PATH_LIMITS.graphqlPerSession,
    " of cost units per minute",
  ),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
  KEY_ENCRYPTION_SECRET: keySecret("KEY_ENCRYPTION_SECRET"),
  KEY_ENCRYPTION_SECRET_PREVIOUS: keySecret("KEY_ENCRYPTION_SECRET_PREVIOUS"),
  // From 1 hour: every rotation leaves a key published for 25 hours after it stops signing.
  SIGNING_KEY_ROTATE_AFTER: duration("SIGNING_KEY_ROTATE_AFTER", 3_600_000, 3650 * 86_400_000, SIGNING_KEY_ROTATE_AFTER_MS, true),
  // From 5 minutes: the JWKS is cached up to max-age=300 by clients that honour it.
  SIGNING_KEY_PUBLISH_BEFORE_USE: duration("SIGNING_KEY_PUBLISH_BEFORE_USE", 300_000, 30 * 86_400_000, SIGNING_KEY_PUBLISH_BEFORE_USE_MS),
  WEBHOOKS_ALLOW_LOOPBACK: bool("WEBHOOKS_ALLOW_LOOPBACK"),
  WEBHOOKS_TIMEOUT: duration("WEBHOOKS_TIMEOUT", 100, 60_000, DEFAULT_WEBHOOK_DELIVERY.timeoutMs),
  WEBHOOKS_RETRY_SCHEDULE: durationList("WEBHOOKS_RETRY_SCHEDULE", 10, 7 * 86_400_000, 50, DEFAULT_WEBHOOK_DELIVERY.retryScheduleMs),
  WEBHOOKS_RETENTION: duration("WEBHOOKS_RETENTION", 1_000, 3650 * 86_400_000, DEFAULT_WEBHOOK_DELIVERY.retentionMs),
  WEBHOOKS_POLL_INTERVAL: duration("WEBHOOKS_POLL_INTERVAL", 10, 60_000, DEFAULT_WEBHOOK_DELIVERY.pollIntervalMs),
  CONNECTORS_FILE: z.string().optional(),
  WEBHOOKS_CONCURRENCY: wholeNumber("WEBHOOKS_CONCURRENCY", 1, 1000, DEFAULT_WEBHOOK_DELIVERY.concurrency),
  CLIENT_REGISTRATION: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return DEFAULT_CLIENT_REGISTRATION.open;
      if (/^open$/i.test(v)) return true;
      if (/^off$/i.test(v)) return false;
      ctx.addIssue({ code: "custom", message: `CLIENT_REGISTRATION must be open or off (got "${v}")` });
      return z.NEVER;
    }),
  CLIENT_REGISTRATION_MAX_PER_ADDRESS: wholeNumber(
    "CLIENT_REGISTRATION_MAX_PER_ADDRESS",
    1,
    1_000_000,
    DEFAULT_CLIENT_REGISTRATION.perAddress,
  ),
  CLIENT_REGISTRATION_WINDOW_SECONDS: wholeNumber(
    "CLIENT_REGISTRATION_WINDOW_SECONDS",
    1,
    7 * 86_400,
    DEFAULT_CLIENT_REGISTRATION.windowSeconds,
    " of seconds",
  ),
  CLIENT_ID_METADATA_DOCUMENTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return DEFAULT_CLIENT_METADATA_DOCUMENTS.enabled;
      if (/^on$/i.test(v)) return true;
      if (/^off$/i.test(v)) return false;
      ctx.addIssue({ code: "custom", message: `CLIENT_ID_METADATA_DOCUMENTS must be on or off (got "${v}")` });
      return z.NEVER;
    }),
  CIMD_ALLOW_LOOPBACK: bool("CIMD_ALLOW_LOOPBACK"),
});

/** Reads and checks the environment; throws ConfigError with a one-line message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const message = issue.code === "custom" ? issue.message : `${issue.path.join(".")}: ${issue.message}`;
    throw new ConfigError(message);
  }
  const e = parsed.data;
  if (e.DATABASE_URL && !e.KEY_ENCRYPTION_SECRET) {
    throw new ConfigError(
      "KEY_ENCRYPTION_SECRET must be set with DATABASE_URL: it encrypts the signing keys stored in the database (at least 32 characters; generate one with `openssl rand -base64 32`)",
    );
  }
  const port = e.PORT;
  const issuer = e.ISSUER ?? `http://localhost:${port || 4000}`;
  let connectors: ConnectorProvider[] = [];
  if (e.CONNECTORS_FILE) {
    try {
      connectors = loadConnectorsFile(e.CONNECTORS_FILE, issuer);
    } catch (err) {
      if (err instanceof ConnectorsFileError) throw new ConfigError(err.message);
      throw err;
    }
  }
  const database: DatabaseTarget = e.DATABASE_URL
    ? { kind: "postgres", url: e.DATABASE_URL }
    : { kind: "embedded", dataDir: e.DATA_DIR || ".data" };
  return {
    port,
    host: e.HOST || "0.0.0.0",
    issuer,
    database,
    databasePool: {
      max: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      acquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS,
    },
    seedDemo: e.SEED_DEMO ?? database.kind === "embedded",
    logLevel: e.LOG_LEVEL ?? "info",
    secureCookies: issuer.startsWith("https:"),
    ...(e.METRICS_TOKEN ? { metricsToken: e.METRICS_TOKEN } : {}),
    trustProxy: e.TRUST_PROXY,
    abuseLimits: {
      signIn: { perAccount: e.SIGN_IN_MAX_PER_ACCOUNT, perAddress: e.SIGN_IN_MAX_PER_ADDRESS, windowSeconds: e.SIGN_IN_WINDOW_SECONDS },
      signUp: { perAddress: e.SIGN_UP_MAX_PER_ADDRESS, windowSeconds: e.SIGN_UP_WINDOW_SECONDS },
    },
    hotPathLimits: {
      tokenPerClient: e.TOKEN_RATE_LIMIT_PER_CLIENT,
      graphqlPerToken: e.GRAPHQL_RATE_LIMIT_PER_TOKEN,
      graphqlPerSession: e.GRAPHQL_RATE_LIMIT_PER_SESSION,
    },
    keyEncryption: {
      ...(e.KEY_ENCRYPTION_SECRET ? { secret: e.KEY_ENCRYPTION_SECRET } : {}),
      ...(e.KEY_ENCRYPTION_SECRET_PREVIOUS ? { previousSecret: e.KEY_ENCRYPTION_SECRET_PREVIOUS } : {}),
    },
    signingKeys: {
      rotateAfterMs: e.SIGNING_KEY_ROTATE_AFTER,
      publishBeforeUseMs: e.SIGNING_KEY_PUBLISH_BEFORE_USE ?? SIGNING_KEY_PUBLISH_BEFORE_USE_MS,
    },
    webhooks: {
      allowLoopback: e.WEBHOOKS_ALLOW_LOOPBACK ?? false,
      timeoutMs: e.WEBHOOKS_TIMEOUT!,
      retryScheduleMs: e.WEBHOOKS_RETRY_SCHEDULE,
      retentionMs: e.WEBHOOKS_RETENTION!,
      pollIntervalMs: e.WEBHOOKS_POLL_INTERVAL!,
      concurrency: e.WEBHOOKS_CONCURRENCY,
    },
    connectors,
    clientRegistration: {
      open: e.CLIENT_REGISTRATION,
      perAddress: e.CLIENT_REGISTRATION_MAX_PER_ADDRESS,
      windowSeconds: e.CLIENT_REGISTRATION_WINDOW_SECONDS,
    },
    clientMetadataDocuments: {
      enabled: e.CLIENT_ID_METADATA_DOCUMENTS,
      allowLoopback: e.CIMD_ALLOW_LOOPBACK ?? DEFAULT_CLIENT_METADATA_DOCUMENTS.allowLoopback,
    },
  };
}
