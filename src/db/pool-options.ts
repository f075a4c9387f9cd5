/** The connection pool's settings (DATABASE_POOL_MAX, DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_ACQUIRE_TIMEOUT_MS). */
export interface DatabasePoolOptions {
  /** connections at most (the embedded database always gets 1) */
  max: number;
  /** PostgreSQL cancels a statement running longer (SQLSTATE 57014); 0 = no limit. PGlite ignores it. */
  statementTimeoutMs: number;
  /** how long a query waits for a free connection before failing (and the request answering 503) */
  acquireTimeoutMs: number;
}

export const DEFAULT_DATABASE_POOL: Readonly<DatabasePoolOptions> = { max: 10, statementTimeoutMs: 10_000, acquireTimeoutMs: 3_000 };
