import { collectDefaultMetrics, Registry, type Metric } from "prom-client";
import type { PoolStats } from "../db/index.ts";

/** Request latency buckets, in seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Distinct GraphQL operation names kept as labels; later names share OTHER_OPERATION. */
export const GRAPHQL_OPERATION_LABEL_CAP = 50;
/** Labels that no client can choose: parentheses cannot appear in a GraphQL name. */
export const OTHER_OPERATION = "(other)";
export const ANONYMOUS_OPERATION = "(anonymous)";
/** The request never reached execution (unparsable, invalid, refused first). The GraphiQL page is not counted at all: Yoga serves it before any plugin sees the request. */
export const NO_OPERATION = "(none)";
const MAX_OPERATION_NAME_LENGTH = 100;

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

// prom-client's own Counter and Histogram hash their label values on every
// inc()/observe() (about 2.5 µs a call here, measured); these record into plain
// numbers (a map lookup and an increment) and are turned into prom-client's
// metric objects only when /metrics is read.

interface Series {
  labels: Record<string, string>;
  value: number;
}

/** A counter whose series are looked up by a key the caller builds. */
class FastCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The series for `key`, created with `labels` the first time. */
  series_(key: string, labels: () => Record<string, string>): Series {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  async get() {
    const values = [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

interface HistogramSeries {
  labels: Record<string, string>;
  /** per bucket (not cumulative); the last one is +Inf */
  counts: Float64Array;
  sum: number;
  count: number;
}

function observe(s: HistogramSeries, seconds: number): void {
  let i = 0;
  while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
  s.counts[i]!++;
  s.sum += seconds;
  s.count++;
}

class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  series_(key: string, labels: () => Record<string, string>): HistogramSeries {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), counts: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  async get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A gauge read from a callback when /metrics is read; no sample at all while it has no value. */
class CallbackGauge {
  readonly type = "gauge";
  readonly aggregator = "sum";

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | undefined,
  ) {}

  async get() {
    const value = this.read();
    const values = value === undefined || !Number.isFinite(value) ? [] : [{ labels: {}, value }];
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** One route and method (or one operation): its latency, and its counts by status (a sparse array: no key to build per request). */
interface RequestSeries {
  latency: HistogramSeries;
  byStatus: (Series | undefined)[];
}

/**
 * This instance's metrics, in a Registry of its own (tests run several servers
 * in one process; the global registry would mix them). Labels are route
 * patterns, fixed vocabularies and capped operation names: never a raw path,
 * a query string or a token.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpRequests = new FastCounter(
    "scopegate_http_requests_total",
    "HTTP requests answered, by route pattern, method and status.",
  );
  private readonly httpLatency = new FastHistogram(
    "scopegate_http_request_duration_seconds",
    "Time to answer an HTTP request (until the handler returned its response), by route pattern and method.",
  );
  private readonly requestSeries = new Map<string, Map<string, RequestSeries>>();
  private readonly graphqlRequests = new FastCounter(
    "scopegate_graphql_operations_total",
    'GraphQL requests by operation name (first 50 names; later ones are "(other)") and HTTP status.',
  );
  private readonly graphqlLatency = new FastHistogram(
    "scopegate_graphql_operation_duration_seconds",
    "Time to answer a GraphQL request, by operation name.",
  );
  private readonly graphqlSeries = new Map<string, RequestSeries>();
  private readonly operationLabels = new Set<string>();
  private readonly tokensIssued = new FastCounter(
    "scopegate_oauth_tokens_issued_total",
    "Successful token endpoint answers, by grant type.",
  );
  private readonly refusals = new FastCounter(
    "scopegate_refusals_total",
    "Requests refused, by route pattern and reason (an OAuth error code, invalid_token, rate_limited, unavailable, ...).",
  );
  private revocationLag: (() => number | undefined) | undefined;
  private poolStats: (() => PoolStats) | undefined;

  constructor() {
    const pool = (name: string, help: string, pick: (s: PoolStats) => number) =>
      new CallbackGauge(name, help, () => {
        const stats = this.poolStats?.();
        return stats && pick(stats);
      });
    const metrics = [
      this.httpRequests,
      this.httpLatency,
      this.graphqlRequests,
      this.graphqlLatency,
      this.tokensIssued,
      this.refusals,
      // Without a source (or while it knows no value) no sample: absent rather than a reassuring 0.
      new CallbackGauge(
        "scopegate_revocation_view_lag_seconds",
        "How long ago the in-memory revocation view was last confirmed current (0 when only this instance writes).",
        () => this.revocationLag?.(),
      ),
      pool("scopegate_db_pool_connections", "Database connections open (in use or idle).", (s) => s.total),
      pool("scopegate_db_pool_idle_connections", "Database connections open and idle.", (s) => s.idle),
      pool("scopegate_db_pool_waiting", "Queries and transactions waiting for a database connection.", (s) => s.waiting),
      pool("scopegate_db_pool_max_connections", "The pool's size (DATABASE_POOL_MAX; 1 on the embedded database).", (s) => s.max),
    ];
    for (const m of metrics) this.registry.registerMetric(m as unknown as Metric);
    collectDefaultMetrics({ register: this.registry });
  }

  /** One HTTP request answered. `route` is the matched route pattern, never the path. */
  recordRequest(route: string, method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : "other";
    let byMethod = this.requestSeries.get(route);
    if (!byMethod) {
      byMethod = new Map();
      this.requestSeries.set(route, byMethod);
    }
    let s = byMethod.get(m);
    if (!s) {
      s = { latency: this.httpLatency.series_(`${route} ${m}`, () => ({ route, method: m })), byStatus: [] };
      byMethod.set(m, s);
    }
    let count = s.byStatus[status];
    if (!count) {
      count = this.httpRequests.series_(`${route} ${m} ${status}`, () => ({ route, method: m, status: String(status) }));
      s.byStatus[status] = count;
    }
    count.value++;
    observe(s.latency, seconds);
  }

  /**
   * The label for a GraphQL operation name: the name itself for the first 50
   * distinct ones, OTHER_OPERATION after that (clients choose names, and every
   * label is a series Prometheus keeps).
   */
  operationLabel(name: string | null | undefined): string {
    if (name === undefined) return NO_OPERATION;
    if (name === null || name === "") return ANONYMOUS_OPERATION;
    if (this.operationLabels.has(name)) return name;
    if (this.operationLabels.size >= GRAPHQL_OPERATION_LABEL_CAP || name.length > MAX_OPERATION_NAME_LENGTH) return OTHER_OPERATION;
    this.operationLabels.add(name);
    return name;
  }

  /** One GraphQL request answered; `operation` as operationLabel() takes it (undefined: never executed). */
  recordGraphQL(operation: string | null | undefined, status: number, seconds: number): void {
    const label = this.operationLabel(operation);
    let s = this.graphqlSeries.get(label);
    if (!s) {
      s = { latency: this.graphqlLatency.series_(label, () => ({ operation: label })), byStatus: [] };
      this.graphqlSeries.set(label, s);
    }
    let count = s.byStatus[status];
    if (!count) {
      count = this.graphqlRequests.series_(`${label} ${status}`, () => ({ operation: label, status: String(status) }));
      s.byStatus[status] = count;
    }
    count.value++;
    observe(s.latency, seconds);
  }

  /** A token endpoint answer that issued tokens; grantType is one the server supports. */
  tokenIssued(grantType: string): void {
    this.tokensIssued.series_(grantType, () => ({ grant_type: grantType })).value++;
  }

  /** A refusal; `reason` comes from a fixed vocabulary (OAuth error codes and a few more). */
  refusal(route: string, reason: string): void {
    this.refusals.series_(`${route} ${reason}`, () => ({ route, reason })).value++;
  }

  /** Where the revocation-view lag (seconds) comes from; undefined from it means "not known". */
  setRevocationLagSource(source: () => number | undefined): void {
    this.revocationLag = source;
  }

  setPoolSource(source: () => PoolStats): void {
    this.poolStats = source;
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
