/**
 * npm run bench: scopegate against baselines measured in the same run, on
 * loopback. See bench/README.md for what is measured and how to read it.
 */
import os from "node:os";
import pg from "pg";
import { runLoad, requestOnce, type LoadLimits, type LoadResult, type LoadSpec } from "./load.ts";
// scopegate, oidc-provider and graphql-yoga are imported in main(), after the
// first memory snapshot, so that their module cost shows as a phase of its own.

const RUN_STARTED = performance.now();
// Hard stop: the whole run must stay well under two minutes whatever happens.
const HARD_LIMIT_MS = 100_000;
setTimeout(() => {
  console.error(`\nbench: still running after ${HARD_LIMIT_MS / 1000} s; aborting.`);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

const CONCURRENCIES = [1, 8];
const LIMITS: Omit<LoadLimits, "concurrency"> = {
  warmupRequests: 300,
  warmupMs: 800,
  maxRequests: 20_000,
  maxMs: 3_000,
  timeoutMs: 10_000,
};

// ---------------------------------------------------------------- SQL counter
// Counts the statements scopegate sends (Prisma's pg adapter ends in
// pg.Client#query), to report statements per request next to the timings.
// A counter increment per statement: no measurable cost.
let sqlStatements = 0;
{
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    sqlStatements++;
    return original.apply(this, args);
  };
}

// ---------------------------------------------------------------- memory
interface MemoryRow {
  phase: string;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}
const memory: MemoryRow[] = [];
function snapshot(phase: string): void {
  const m = process.memoryUsage();
  memory.push({ phase, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external });
}
const gc = (globalThis as { gc?: () => void }).gc;
const MB = (n: number) => (n / 1024 / 1024).toFixed(1);

// ---------------------------------------------------------------- formatting
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);
const ms2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "-");
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b !== 0 ? `${(a / b).toFixed(2)}x` : "-");

interface Row {
  concurrency: number;
  server: string;
  result: LoadResult;
  sqlPerRequest?: number;
}

function table(rows: Row[], subject: string, baseline: string): string {
  const header = [
    lpad("conc", 4), pad("server", 26), lpad("req/s", 9), lpad("p50 ms", 8), lpad("p99 ms", 8),
    lpad("max ms", 8), lpad("requests", 9), lpad("errors", 7), lpad("SQL/req", 8),
  ].join("  ");
  const lines = [header, "-".repeat(header.length)];
  for (const c of CONCURRENCIES) {
    const s = rows.find((r) => r.concurrency === c && r.server === subject);
    const b = rows.find((r) => r.concurrency === c && r.server === baseline);
    for (const r of [s, b]) {
      if (!r) continue;
      lines.push([
        lpad(String(c), 4), pad(r.server, 26), lpad(r.result.rps.toFixed(0), 9), lpad(ms2(r.result.p50), 8),
        lpad(ms2(r.result.p99), 8), lpad(ms2(r.result.max), 8), lpad(String(r.result.requests), 9),
        lpad(String(r.result.errors), 7), lpad(r.sqlPerRequest === undefined ? "-" : r.sqlPerRequest.toFixed(1), 8),
      ].join("  "));
    }
    if (s && b) {
      lines.push([
        lpad("", 4), pad("ratio scopegate/baseline", 26), lpad(ratio(s.result.rps, b.result.rps), 9),
        lpad(ratio(s.result.p50, b.result.p50), 8), lpad(ratio(s.result.p99, b.result.p99), 8),
        lpad(ratio(s.result.max, b.result.max), 8),
      ].join("  "));
    }
    lines.push("");
  }
  const failed = rows.filter((r) => r.result.errors);
  for (const r of failed) lines.push(`! ${r.server} at concurrency ${r.concurrency}: ${r.result.errors} errors, first: ${r.result.firstError}`);
  return lines.join("\n");
}

function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part, then base64.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

function jwtHeader(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const checkToken = (body: string): string | null => {
  const json = JSON.parse(body) as { access_token?: unknown };
  return typeof json.access_token === "string" && json.access_token.split(".").length === 3 ? null : `no JWT access_token in ${body.slice(0, 200)}`;
};

const checkMeasurements = (body: string): string | null => {
  const json = JSON.parse(body) as { data?: { me?: { measurements?: { edges?: unknown[] } } }; errors?: unknown };
  if (json.errors) return `GraphQL errors: ${JSON.stringify(json.errors).slice(0, 200)}`;
  const n = json.data?.me?.measurements?.edges?.length;
  return n === 50 ? null : `expected 50 edges, got ${n}`;
};

async function measure(server: string, spec: LoadSpec, concurrency: number, countSql: boolean): Promise<Row> {
  let atStart = 0;
  const result = await runLoad(spec, { ...LIMITS, concurrency }, () => (atStart = sqlStatements));
  const row: Row = { concurrency, server, result };
  if (countSql) row.sqlPerRequest = (sqlStatements - atStart) / result.requests;
  return row;
}

async function main(): Promise<void> {
  const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
  const cpus = os.cpus();
  console.log("scopegate benchmark");
  console.log(`node ${process.version}, ${cpus.length} x ${cpus[0]?.model.trim() ?? "cpu"}, load average ${os.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
  console.log(`servers and load generator share this one process (loopback, keep-alive, closed loop); gc ${gc ? "exposed" : "not exposed"}`);
  console.log(`each cell: warm-up up to ${LIMITS.warmupRequests} requests / ${LIMITS.warmupMs} ms, then up to ${LIMITS.maxRequests} requests / ${LIMITS.maxMs} ms\n`);

  gc?.();
  snapshot("process start (bench harness only)");
  const { startScopegate } = await import("./scopegate.ts");
  const { startOidcProvider } = await import("./peer.ts");
  const { MEASUREMENTS_QUERY, startBaselineGraphQL } = await import("./baseline-graphql.ts");
  gc?.();
  snapshot("modules loaded, nothing running");
  const sg = await startScopegate(databaseUrl);
  onFailure = () => sg.stop();
  console.log(`database: ${sg.databaseLabel}${databaseUrl ? " (BENCH_DATABASE_URL)" : " (set BENCH_DATABASE_URL=postgres://... to use PostgreSQL)"}`);
  console.log(`seeded: 1 user, ${sg.measurements} measurements, 1 confidential client (profile:read data:read)`);
  gc?.();
  snapshot("scopegate started + seeded");
  const peer = await startOidcProvider();
  const baseline = await startBaselineGraphQL(
    await sg.db.prisma.measurement.findMany({ where: { userId: sg.userId }, orderBy: [{ recordedAt: "desc" }, { id: "desc" }], take: 50 }),
  );
  gc?.();
  snapshot("oidc-provider + bare yoga started");

  try {
    // ------------------------------------------------------------ 1. tokens
    const tokenBody = "grant_type=client_credentials&scope=profile%3Aread+data%3Aread";
    const sgToken: LoadSpec = {
      url: `${sg.server.url}/v1/oauth/token`,
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(sg.clientId, sg.clientSecret) },
      body: tokenBody,
      check: checkToken,
    };
    const peerToken: LoadSpec = {
      url: `${peer.url}/token`,
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(peer.clientId, peer.clientSecret) },
      body: tokenBody,
      check: checkToken,
    };
    const describeToken = async (name: string, spec: LoadSpec) => {
      const a = await requestOnce(spec);
      if (a.status !== 200) throw new Error(`${name} token endpoint answered ${a.status}: ${a.body.slice(0, 300)}`);
      const token = (JSON.parse(a.body) as { access_token: string }).access_token;
      const h = jwtHeader(token);
      return { token, what: h ? `JWT, alg ${String(h.alg)}, typ ${String(h.typ)}` : "opaque (not a JWT)" };
    };
    const sgSample = await describeToken("scopegate", sgToken);
    const peerSample = await describeToken(peer.name, peerToken);
    console.log("\n== 1. Token issuance: POST token endpoint, grant_type=client_credentials, client_secret_basic ==");
    console.log(`scopegate:  POST /v1/oauth/token -> ${sgSample.what}; token row + audit event written in one transaction`);
    console.log(`${pad(peer.name + ":", 11)} POST /token -> ${peerSample.what}; default in-memory adapter, JWTs not stored`);
    const tokenRows: Row[] = [];
    for (const c of CONCURRENCIES) {
      tokenRows.push(await measure("scopegate", sgToken, c, true));
      tokenRows.push(await measure(peer.name, peerToken, c, false));
    }
    console.log(`\n${table(tokenRows, "scopegate", peer.name)}`);
    if (peer.serverErrors()) console.log(`! ${peer.name} reported ${peer.serverErrors()} server errors`);
    snapshot("after token issuance");

    // ------------------------------------------------------------ 2. GraphQL
    const bearer = sgSample.token;
    const gqlBody = JSON.stringify({ query: MEASUREMENTS_QUERY });
    const sgGraphQL: LoadSpec = {
      url: `${sg.server.url}/graphql`,
      headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${bearer}` },
      body: gqlBody,
      check: checkMeasurements,
    };
    const baseGraphQL: LoadSpec = {
      url: `${baseline.url}/graphql`,
      headers: { "content-type": "application/json", accept: "application/json" },
      body: gqlBody,
      check: checkMeasurements,
    };
    for (const [name, spec] of [["scopegate", sgGraphQL], [baseline.name, baseGraphQL]] as const) {
      const a = await requestOnce(spec);
      const problem = a.status === 200 ? checkMeasurements(a.body) : `HTTP ${a.status}: ${a.body.slice(0, 300)}`;
      if (problem) throw new Error(`${name} /graphql: ${problem}`);
    }
    const sizes = await Promise.all([sgGraphQL, baseGraphQL].map(async (s) => (await requestOnce(s)).body.length));
    console.log(`\n== 2. Authenticated GraphQL read: ${MEASUREMENTS_QUERY} ==`);
    console.log(`scopegate: bearer token from its own client_credentials grant (verified + checked against the database per request); answer ${sizes[0]} bytes`);
    console.log(`${baseline.name}: same query shape from a constant array, no auth, no database; answer ${sizes[1]} bytes`);
    const gqlRows: Row[] = [];
    for (const c of CONCURRENCIES) {
      gqlRows.push(await measure("scopegate", sgGraphQL, c, true));
      gqlRows.push(await measure(baseline.name, baseGraphQL, c, false));
    }
    console.log(`\n${table(gqlRows, "scopegate", baseline.name)}`);
    snapshot("after GraphQL read");
  } finally {
    await peer.stop();
    await baseline.stop();
  }

  // -------------------------------------------------------------- 3. memory
  // scopegate keeps running, idle: its audit buffer flushes every 500 ms.
  await sleep(1_200);
  gc?.();
  const rss: number[] = [];
  for (let i = 0; i < 8; i++) {
    await sleep(250);
    rss.push(process.memoryUsage().rss);
  }
  snapshot("steady: scopegate idle, peers closed, GC, 3 s");
  await sg.stop();

  console.log("\n== 3. Memory of this process (process.memoryUsage(), MB) ==");
  const header = [pad("phase", 44), lpad("rss", 7), lpad("Δrss", 7), lpad("heapUsed", 9), lpad("heapTotal", 10), lpad("external", 9)].join("  ");
  console.log(header);
  console.log("-".repeat(header.length));
  memory.forEach((m, i) => {
    const d = i === 0 ? "" : `${m.rss >= memory[i - 1]!.rss ? "+" : ""}${MB(m.rss - memory[i - 1]!.rss)}`;
    console.log([pad(m.phase, 44), lpad(MB(m.rss), 7), lpad(d, 7), lpad(MB(m.heapUsed), 9), lpad(MB(m.heapTotal), 10), lpad(MB(m.external), 9)].join("  "));
  });
  const loaded = memory[1]!;
  console.log(
    `\nscopegate steady RSS after the load: ${MB(Math.min(...rss))}–${MB(Math.max(...rss))} MB over 2 s ` +
      `(${MB(rss[rss.length - 1]! - loaded.rss)} MB above the process with every module loaded and no server running; ` +
      `${databaseUrl ? "the database is another process" : "includes the embedded PGlite (WebAssembly) database"}).`,
  );
  console.log(`\ntotal run time ${((performance.now() - RUN_STARTED) / 1000).toFixed(1)} s`);
}

/** Cleans up after a failed run (PostgreSQL: removes the bench user and everything hanging off it). */
let onFailure: () => Promise<void> = async () => {};

main().then(
  () => process.exit(0),
  async (err) => {
    console.error("bench failed:", err);
    await Promise.race([onFailure().catch(() => {}), sleep(5_000)]);
    process.exit(1);
  },
);
