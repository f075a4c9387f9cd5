import autocannon from "autocannon";

/**
 * Load from this process (the servers run in child processes, so none of them
 * shares an event loop with the load generator): autocannon, one request in
 * flight per connection (no pipelining), keep-alive, every answer checked.
 */
export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  /** the same body on every request */
  body?: string;
  /**
   * For requests that depend on the previous answer (a rotating refresh
   * token): one script per connection, asked for each body it sends and shown
   * each answer it gets.
   */
  perConnection?: () => ConnectionScript;
  /** What is wrong with an answer of an expected status, or null. Cheap string checks: this runs for every answer, in the load generator. */
  check(body: string): string | null;
  /** the statuses that count as answered (default: any 2xx); e.g. 400 for requests that must be refused */
  okStatuses?: number[];
}

export interface ConnectionScript {
  nextBody(): string;
  answered(status: number, body: string): void;
}

export interface LoadLimits {
  connections: number;
  /** seconds; ignored when `amount` is set */
  durationS: number;
  /** stop after this many answers (then `maxS` bounds it) */
  amount?: number;
  maxS?: number;
  /** per request, seconds */
  timeoutS?: number;
  /** requests per second over all connections (autocannon's overallRate); unset: as fast as answers come */
  overallRate?: number;
}

export interface LoadResult {
  /** answers received */
  requests: number;
  /** requests sent (answered or not: at the end of a run some are still in flight, and the server still does their work) */
  sent: number;
  /** 2xx answers that passed the check */
  ok: number;
  /** answers of an unexpected status (non-2xx by default) + timeouts + connection errors + answers that failed the check */
  errors: number;
  non2xx: number;
  status5xx: number;
  timeouts: number;
  failedChecks: number;
  firstError: string | null;
  durationS: number;
  /** checked answers per second */
  okRps: number;
  p50: number;
  p99: number;
  /** true when `amount` was set and maxS stopped the run first */
  cutShort: boolean;
  /** answers by HTTP status */
  statuses: Record<number, number>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

export async function runLoad(spec: LoadSpec, limits: LoadLimits): Promise<LoadResult> {
  const url = new URL(spec.url);
  if (!LOOPBACK.has(url.hostname)) throw new Error(`the benchmark only talks to loopback, not ${url.hostname}`);
  let ok = 0;
  let failedChecks = 0;
  let answers = 0;
  let unexpected = 0;
  const statuses: Record<number, number> = {};
  let firstError: string | null = null;
  // Timed here: autocannon's own duration is rounded up to its 1 s sampling tick.
  const started = performance.now();
  let lastAnswerAt = started;
  const note = (why: string) => {
    firstError ??= why;
  };
  const inspect = (status: number, body: string) => {
    answers++;
    statuses[status] = (statuses[status] ?? 0) + 1;
    lastAnswerAt = performance.now();
    if (spec.okStatuses ? !spec.okStatuses.includes(status) : status < 200 || status > 299) {
      unexpected++;
      note(`HTTP ${status}: ${body.slice(0, 200)}`);
      return;
    }
    let problem: string | null;
    try {
      problem = spec.check(body);
    } catch (err) {
      problem = `unreadable answer: ${(err as Error).message}`;
    }
    if (problem) {
      failedChecks++;
      note(problem);
    } else ok++;
  };

  const method = "POST" as const;
  const path = url.pathname + url.search;
  const options: autocannon.Options = {
    url: url.origin,
    connections: limits.connections,
    pipelining: 1,
    timeout: limits.timeoutS ?? 10,
    ...(limits.overallRate ? { overallRate: limits.overallRate } : {}),
    ...(limits.amount ? { amount: limits.amount } : { duration: limits.durationS }),
    requests: [
      {
        method,
        path,
        headers: spec.headers,
        body: spec.body ?? "",
        onResponse: (status, body) => inspect(status, body),
      },
    ],
  };
  if (spec.perConnection) {
    const makeScript = spec.perConnection;
    // autocannon resets a request's context before every request when there is
    // only one, so a connection's state lives in this closure, one per client.
    options.setupClient = (client) => {
      const script = makeScript();
      client.setRequests([
        {
          method,
          path,
          headers: spec.headers,
          setupRequest: (req) => ({ ...req, body: script.nextBody() }),
          onResponse: (status, body) => {
            script.answered(status, body);
            inspect(status, body);
          },
        },
      ]);
    };
  }

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    let cap: NodeJS.Timeout | undefined;
    const instance = autocannon(options, (err, res) => {
      clearTimeout(cap);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(res);
    });
    instance.on("reqError", (err: unknown) => note(`request error: ${(err as Error)?.message ?? String(err)}`));
    if (limits.amount && limits.maxS) cap = setTimeout(() => instance.stop(), limits.maxS * 1000);
  });

  const r = result as autocannon.Result & { "5xx"?: number };
  const durationS = (lastAnswerAt - started) / 1000;
  return {
    requests: answers,
    sent: (r.requests as { sent?: number }).sent ?? answers,
    ok,
    errors: (spec.okStatuses ? unexpected : r.non2xx) + r.errors + failedChecks,
    non2xx: r.non2xx,
    status5xx: r["5xx"] ?? 0,
    timeouts: r.timeouts,
    failedChecks,
    firstError: firstError ?? (r.errors ? `${r.errors} connection errors (${r.timeouts} timeouts)` : null),
    durationS,
    okRps: durationS > 0 ? ok / durationS : 0,
    p50: r.latency.p50,
    p99: r.latency.p99,
    cutShort: Boolean(limits.amount && answers < limits.amount),
    statuses,
  };
}

/** One request for setup steps (getting a token, checking a server answers as expected). */
export async function requestOnce(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

// ------------------------------------------------------------------ checks
// Cheap string checks, no JSON.parse of every answer: the load generator must
// not become the bottleneck on two cores.

const JWT_ACCESS_TOKEN = /"access_token":"[\w-]+\.[\w-]+\.[\w-]+"/;
const REFRESH_TOKEN = /"refresh_token":"([^"]+)"/;

export function checkJwtAccessToken(body: string): string | null {
  return JWT_ACCESS_TOKEN.test(body) ? null : `no JWT access_token in ${body.slice(0, 200)}`;
}

export function checkRefreshAnswer(body: string): string | null {
  return checkJwtAccessToken(body) ?? (REFRESH_TOKEN.test(body) ? null : `no refresh_token in ${body.slice(0, 200)}`);
}

export function refreshTokenOf(body: string): string | undefined {
  return REFRESH_TOKEN.exec(body)?.[1];
}

export function checkActive(body: string): string | null {
  return /"active":true/.test(body) ? null : `not active: ${body.slice(0, 200)}`;
}

/** A GraphQL request refused before execution by one of its limits (src/graphql/limits.ts), or by a rate limit. */
export function checkLimitRefusal(body: string): string | null {
  if (body.includes('"data"')) return `executed: ${body.slice(0, 200)}`;
  return /"limit":"\w+"/.test(body) || /rate|too many/i.test(body) ? null : `not refused by a limit: ${body.slice(0, 200)}`;
}

/** An answer with data and no errors, or a 429 RATE_LIMITED (the status is checked by okStatuses). */
export function checkAnsweredOrRateLimited(body: string): string | null {
  if (body.includes('"RATE_LIMITED"')) return null;
  if (body.includes('"errors"')) return `GraphQL errors: ${body.slice(0, 200)}`;
  return body.startsWith('{"data"') ? null : `neither data nor RATE_LIMITED: ${body.slice(0, 200)}`;
}

export function checkEdges(n: number): (body: string) => string | null {
  return (body) => {
    if (body.includes('"errors"')) return `GraphQL errors: ${body.slice(0, 200)}`;
    let count = 0;
    for (let i = body.indexOf('"node":{'); i !== -1; i = body.indexOf('"node":{', i + 8)) count++;
    return count === n ? null : `expected ${n} edges, got ${count}`;
  };
}
