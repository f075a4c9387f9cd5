import http from "node:http";

/**
 * A small closed-loop load generator on node:http with keep-alive: `concurrency`
 * workers, each sending its next request as soon as the previous one answered.
 * Every loop is bounded twice, by a request count and by a deadline, and every
 * request by a timeout, so a stuck server cannot stretch the run.
 */
export interface LoadSpec {
  url: string;
  method?: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /** Returns a description of what is wrong with a 2xx answer, or null. */
  check?: (body: string) => string | null;
}

export interface LoadLimits {
  concurrency: number;
  warmupRequests: number;
  warmupMs: number;
  maxRequests: number;
  maxMs: number;
  timeoutMs: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface Answer {
  status: number;
  body: string;
}

function send(agent: http.Agent, spec: LoadSpec, url: URL, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: spec.method ?? "POST",
        headers: spec.body === undefined ? spec.headers : { ...spec.headers, "content-length": Buffer.byteLength(spec.body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(spec.body);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function loop(
  spec: LoadSpec,
  concurrency: number,
  maxRequests: number,
  maxMs: number,
  timeoutMs: number,
  record: boolean,
): Promise<LoadResult> {
  const url = new URL(spec.url);
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost" && url.hostname !== "[::1]") {
    throw new Error(`the benchmark only talks to loopback, not ${url.hostname}`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = new Float64Array(maxRequests);
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + maxMs;
  const fail = (why: string) => {
    errors++;
    firstError ??= why;
  };
  const worker = async () => {
    while (issued < maxRequests && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      let answer: Answer | undefined;
      try {
        answer = await send(agent, spec, url, timeoutMs);
      } catch (err) {
        fail((err as Error).message);
      }
      if (record) latencies[done] = performance.now() - t0;
      done++;
      if (answer && (answer.status < 200 || answer.status > 299)) fail(`HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
      else if (answer && spec.check) {
        let problem: string | null;
        try {
          problem = spec.check(answer.body);
        } catch (err) {
          problem = `unreadable answer: ${(err as Error).message}`;
        }
        if (problem) fail(problem);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  const sorted = latencies.subarray(0, done).sort();
  return {
    requests: done,
    errors,
    firstError,
    elapsedMs,
    rps: (done / elapsedMs) * 1000,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** A bounded warm-up (discarded), then a bounded measured run. */
export async function runLoad(spec: LoadSpec, limits: LoadLimits, onMeasureStart?: () => void): Promise<LoadResult> {
  await loop(spec, limits.concurrency, limits.warmupRequests, limits.warmupMs, limits.timeoutMs, false);
  onMeasureStart?.();
  return loop(spec, limits.concurrency, limits.maxRequests, limits.maxMs, limits.timeoutMs, true);
}

/** One request, for setup steps (getting a token, checking a server answers as expected). */
export async function requestOnce(spec: LoadSpec, timeoutMs = 10_000): Promise<Answer> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    return await send(agent, spec, new URL(spec.url), timeoutMs);
  } finally {
    agent.destroy();
  }
}
