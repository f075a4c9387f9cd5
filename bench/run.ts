/**
 * npm run bench: scopegate against its baselines, measured in the same run,
 * alternating (A, B, A, B ...), on loopback. The servers run in child
 * processes (bench/server-process.ts); this process only generates load
 * (autocannon), checks answers and reports. See bench/README.md.
 */
import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import {
  checkActive,
  checkEdges,
  checkLimitRefusal,
  checkJwtAccessToken,
  checkRefreshAnswer,
  refreshTokenOf,
  requestOnce,
  runLoad,
  type LoadResult,
  type LoadSpec,
} from "./load.ts";
import { measurementsQuery } from "./baseline-graphql.ts";
import type { PeersInfo, ScopegateInfo, Stats } from "./server-process.ts";
import { webhookDrain, webhookDrainMarkdown, type WebhookDrainReport } from "./webhook-drain.ts";

// ------------------------------------------------------------------ settings
const QUICK = process.env.BENCH_QUICK === "1"; // a smoke test of the harness: numbers meaningless, no RESULTS.md
const CONNECTIONS = 32;
const ROUNDS = QUICK ? 1 : 3;
const ROUND_S = QUICK ? 1 : 4;
const WARMUP_S = 1;
const BURST_CONNECTIONS = 64;
/** a burst is this many answers per connection, or BURST_MAX_S, whichever comes first */
const BURST_ANSWERS_PER_CONNECTION = 4;
const BURST_MAX_S = QUICK ? 2 : 5;
const SOAK_REQUESTS = QUICK ? 2_000 : 100_000;
const SOAK_WARMUP_S = QUICK ? 1 : 5;
/** the soak stops here even if it has not reached SOAK_REQUESTS (the report says so) */
const SOAK_MAX_S = QUICK ? 10 : 100;
/**
 * After a run on scopegate, its statement counter is read once it has moved
 * no more than its idle rate explains for this long (at most SETTLE_MAX_MS):
 * the requests still in flight when the load stopped are finished, and the
 * batched audit writes (every 500 ms today) have landed. Both belong to the
 * run that caused them, not to the next one. (Were the flush slower, one
 * batched insert could land in the next run: one statement among thousands.)
 */
const SETTLE_MS = 600;
const SETTLE_MAX_MS = 10_000;
/** the whole run, whatever happens */
const HARD_LIMIT_S = 960;
const N_ITEMS = [20, 100] as const;
/**
 * The alias attack (issue 12): one query with a few hundred aliases of a
 * large list, sent at full speed from a process of its own, while this
 * process measures a normal protected read at a fixed rate, well below what
 * the server can answer, so that its latency is what other users feel.
 */
const ATTACK_ALIASES = 250;
const ATTACK_CONNECTIONS = 32;
const VICTIM_CONNECTIONS = 8;
const VICTIM_RATE = 100;
const VICTIM_ITEMS = 20;
/** each condition's measurement (the other load runs 1.5 s longer around it) */
const ATTACK_ROUND_S = QUICK ? 1 : 3;
/**
 * The goal: a protected read's p50 while the attack runs is within this factor
 * of its p50 during an equally fast flood of `{ __typename }`, the cheapest
 * request there is: refused before execution, the attack must cost other users
 * no more than any flood does. (Any flood at full speed slows them: on two
 * cores the server shares the CPU with both load generators; that ratio to
 * the read alone is reported beside it.)
 */
const ATTACK_LATENCY_GOAL = 1.5;
/**
 * The worst query the limits admit (issue 12 item 3, after the audit of the
 * alias case): one alias under each of the per-request limits' ceilings (cost
 * 9,613 of 10,000 with a connection's statement counted, see
 * src/graphql/connection.ts: 12 statements of 101 rows), sent by one token to
 * the twin server whose GraphQL rate limits are the defaults, faster than they
 * allow (the 429s happen), at a fixed rate rather than a flood: 50 req/s is
 * what the former per-token limit (3,000 requests a minute) let through.
 */
const WORST_ALIASES = 12;
/** between two conditions of the alias case */
const CONDITION_PAUSE_MS = QUICK ? 200 : 1_500;
const WORST_RATE = 50;
const WORST_CONNECTIONS = 8;
/** The goal: a protected read's p50 while one token sends the worst admitted query ≤ this × its p50 alone (its usual value). */
const WORST_LATENCY_GOAL = 1.5;

/**
 * BENCH_ONLY=key[,key...] runs only these parts on each database: a case key
 * (client_credentials, refresh_token, introspection, graphql_20, graphql_100),
 * alias_attack, bursts, soak or webhook_drain. A partial run reports no goals and writes no RESULTS.md.
 */
const PARTS = [
  "client_credentials",
  "refresh_token",
  "introspection",
  ...N_ITEMS.map((n) => `graphql_${n}`),
  "alias_attack",
  "bursts",
  "soak",
  "webhook_drain",
];
const ONLY = process.env.BENCH_ONLY
  ? new Set(
      process.env.BENCH_ONLY.split(",")
        .map((k) => k.trim())
        .filter(Boolean),
    )
  : null;
const unknownParts = [...(ONLY ?? [])].filter((k) => !PARTS.includes(k));
if (unknownParts.length) {
  console.error(`BENCH_ONLY: unknown ${unknownParts.join(", ")}; known: ${PARTS.join(", ")}`);
  process.exit(2);
}
const selected = (key: string) => !ONLY || ONLY.has(key);
/** BENCH_CPU_PROF=dir: CPU profiles of the server processes, written there (the webhook case profiles each drain round alone). */
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF || undefined;
/**
 * The webhook case: rounds of drain vs baseline (each drain is 10,000 deliveries, up to half a minute on
 * the embedded database), and rounds of recordMeasurement's latency under each condition.
 */
const WEBHOOK_DRAIN_ROUNDS = QUICK ? 1 : 2;
const WEBHOOK_LATENCY_ROUNDS = QUICK ? 1 : 3;
const WEBHOOK_LATENCY_ROUND_S = QUICK ? 1 : 4;

const RUN_STARTED = Date.now();
const elapsedS = () => (Date.now() - RUN_STARTED) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ children
const children = new Set<Child>();

class Child {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(
    readonly role: string,
    private readonly proc: ChildProcess,
  ) {
    proc.on("message", (m: { id?: number; result?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(`${role} process: ${m.error}`));
      else p?.resolve(m.result);
    });
    proc.on("exit", (code, signal) => {
      children.delete(this);
      for (const p of this.pending.values()) p.reject(new Error(`${role} process exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  static spawn(role: "scopegate" | "peers" | "attacker" | "webhook-scopegate" | "webhook-receiver" | "webhook-sender"): Promise<Child> {
    const script = fileURLToPath(new URL("./server-process.ts", import.meta.url));
    // The main scopegate process is profiled whole (--cpu-prof writes at its exit); the webhook case profiles its drain rounds itself.
    const profile = CPU_PROF_DIR && role === "scopegate" ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];
    const proc = fork(script, [role], {
      execArgv: ["--import", "tsx", ...profile],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const child = new Child(role, proc);
    children.add(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${role} process did not start within 60 s`)), 60_000);
      proc.on("message", (m: { ready?: boolean }) => {
        if (m.ready) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${role} process exited with ${code} before it was ready`));
      });
    });
  }

  call<T>(op: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.role} process: ${op} got no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, op, args });
    });
  }

  stats(): Promise<Stats> {
    return this.call<Stats>("stats");
  }

  /** Asks it to clean up and exit; kills it (by its pid) if it does not within `ms`. */
  async stop(ms = 10_000): Promise<string | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return null;
    const exited = new Promise<void>((r) => this.proc.once("exit", () => r()));
    let problem: string | null = null;
    try {
      problem = await Promise.race([this.call<string | null>("stop", undefined, ms), sleep(ms).then(() => "no answer to stop")]);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (await Promise.race([exited.then(() => true), sleep(2_000).then(() => false)])) return problem;
    this.proc.kill("SIGKILL");
    return problem ?? `${this.role} process killed`;
  }
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop(5_000).catch(() => null)));
}

setTimeout(() => {
  console.error(`\nbench: still running after ${HARD_LIMIT_S} s; aborting.`);
  void Promise.race([stopAll(), sleep(8_000)]).finally(() => process.exit(2));
}, HARD_LIMIT_S * 1000).unref();

// ------------------------------------------------------------------ helpers
const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** The median of latencies, where a round with no answer counts as infinitely slow (see unanswered) rather than not at all. */
const medianLatency = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => (a === b ? 0 : a < b ? -1 : 1));
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : s[m - 1] === s[m] ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
// (+ 0 turns a -0 from rounding into 0: "-0.00" statements per request reads like a bug)
const fmt = (n: number, digits = 0) =>
  n === Number.POSITIVE_INFINITY
    ? "∞"
    : Number.isFinite(n)
      ? (Number(n.toFixed(digits)) + 0).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
      : "-";
const fmtRatio = (n: number) => (n === Number.POSITIVE_INFINITY ? "∞" : Number.isFinite(n) ? `${n.toFixed(2)}×` : "-");
/** A protected read that got no answer within its round waited longer than the round: its latency is infinite, not 0 (autocannon's). */
const unanswered = (r: LoadResult): LoadResult =>
  r.requests === 0 ? { ...r, p50: Number.POSITIVE_INFINITY, p99: Number.POSITIVE_INFINITY } : r;
const MB = (n: number) => (n / 1024 / 1024).toFixed(1);

function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part, then base64.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

const FORM = "application/x-www-form-urlencoded";
const CC_BODY = "grant_type=client_credentials&scope=profile%3Aread+data%3Aread";

/** A fresh pool of refresh tokens each time; every connection keeps a chain: each answer's token is the next request's. */
function refreshSpec(url: string, authorization: string, pool: string[], counters: { exhausted: number }): LoadSpec {
  return {
    url,
    headers: { "content-type": FORM, authorization },
    perConnection: () => {
      let current: string | undefined;
      return {
        nextBody() {
          // A token is sent once, ever: after a timeout or an error the chain
          // takes a fresh head from the pool rather than risk a reuse (which
          // scopegate answers by revoking the grant).
          let token = current ?? pool.pop();
          current = undefined;
          if (!token) {
            counters.exhausted++;
            token = "pool-exhausted";
          }
          return `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`;
        },
        answered(status, body) {
          if (status === 200) current = refreshTokenOf(body);
        },
      };
    },
    check: checkRefreshAnswer,
  };
}

// ------------------------------------------------------------------ model
interface Target {
  /** "scopegate", "scopegate, fixed viewer", "oidc-provider 8.8.1", "bare graphql-yoga" */
  label: string;
  child: Child;
  /** a fresh spec per run (refresh chains need a new pool each time) */
  spec(connections: number): Promise<LoadSpec>;
  /** whether its process counts SQL statements for it (the peers use no database) */
  countsSql: boolean;
}

interface Case {
  key: string;
  title: string;
  /** [0] is scopegate, the rest its baselines */
  targets: Target[];
}

interface Run {
  result: LoadResult;
  /** net of the process's idle statement rate (see backgroundSql) */
  sqlPerRequest: number;
  exhausted: number;
}

/**
 * Statements per second the scopegate process sends with no request at all
 * (timers: the revocation log's catch-up read, audit flushes), measured while
 * it is idle and subtracted from each run, so that SQL/req is what requests
 * cause even when few requests share the count.
 */
const backgroundSql = new Map<Child, number>();

interface CaseResult {
  case: Case;
  /** runs[target index][round] */
  runs: Run[][];
}

interface DbReport {
  db: "embedded" | "PostgreSQL";
  label: string;
  cases: CaseResult[];
  bursts: { endpoint: string; result: LoadResult }[];
  attack?: AttackReport;
  notes: string[];
}

interface AttackReport {
  /** what the server answered the attack query with (one sample) */
  refusal: string;
  /** the worst admitted query's cost and answer size, from a sample on the server without rate limits */
  worstSample: string;
  /** per round: the protected read while one token sends the worst admitted query at WORST_RATE, and that token's own run */
  worsted: LoadResult[];
  worst: LoadResult[];
  /** per round: the protected read alone, the same read during the attack, and the attack's own run */
  alone: LoadResult[];
  attacked: LoadResult[];
  attack: LoadResult[];
  /** per round, for reference: the protected read during a flood of `{ __typename }`, and the flood's own run */
  flooded: LoadResult[];
  flood: LoadResult[];
}

interface Soak {
  db: string;
  what: string;
  requests: number;
  target: number;
  durationS: number;
  okRps: number;
  errors: number;
  rssStart: number;
  rssEnd: number;
  rssMax: number;
  cutShort: boolean;
}

async function measure(
  target: Target,
  connections: number,
  durationS: number,
  limits: { amount?: number; maxS?: number } = {},
): Promise<Run> {
  const spec = await target.spec(connections);
  const before = target.countsSql ? await target.child.stats() : undefined;
  const t0 = performance.now();
  const result = await runLoad(spec, { connections, durationS, ...limits });
  const after = target.countsSql ? await settled(target.child) : undefined;
  const t1 = performance.now();
  const exhausted = (spec as LoadSpec & { counters?: { exhausted: number } }).counters?.exhausted ?? 0;
  const background = (backgroundSql.get(target.child) ?? 0) * ((t1 - t0) / 1000);
  return {
    result,
    // Divided by the requests sent: the server did the work of those still in flight at the end too.
    sqlPerRequest: before && after && result.sent ? (after.sql - before.sql - background) / result.sent : NaN,
    exhausted,
  };
}

/** The child's counters once its statement count has stopped moving (see SETTLE_MS). */
async function settled(child: Child): Promise<Stats> {
  const deadline = performance.now() + SETTLE_MAX_MS;
  // Timers (the revocation log's catch-up read) send statements all along: allow for them, with some jitter.
  const idle = (backgroundSql.get(child) ?? 0) * (SETTLE_MS / 1000) * 1.5 + 2;
  let last = await child.stats();
  while (performance.now() < deadline) {
    await sleep(SETTLE_MS);
    const now = await child.stats();
    if (now.sql - last.sql <= idle) return now;
    last = now;
  }
  return last;
}

function describeRun(label: string, run: Run): string {
  const r = run.result;
  const sql = Number.isFinite(run.sqlPerRequest) ? `, ${fmt(run.sqlPerRequest, 2)} SQL/req` : "";
  const errs = r.errors ? `, ${r.errors} errors (first: ${r.firstError})` : "";
  const ex = run.exhausted ? `, refresh pool ran dry ${run.exhausted}×` : "";
  return `${label}: ${fmt(r.okRps)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms${sql}${errs}${ex}`;
}

async function runCase(db: string, c: Case): Promise<CaseResult> {
  console.log(`\n[${db}] ${c.title} (at ${fmt(elapsedS())} s)`);
  for (const t of c.targets) await measure(t, CONNECTIONS, WARMUP_S); // warm-up, discarded
  const runs: Run[][] = c.targets.map(() => []);
  for (let round = 1; round <= ROUNDS; round++) {
    // A B C, then C B A, ...: a drift in the machine's load weighs on every server alike.
    const order = [...c.targets.entries()];
    if (round % 2 === 0) order.reverse();
    for (const [i, t] of order) {
      const run = await measure(t, CONNECTIONS, ROUND_S);
      runs[i]!.push(run);
      console.log(`  round ${round}/${ROUNDS}  ${describeRun(t.label, run)}`);
    }
  }
  return { case: c, runs };
}

/** Median over rounds of scopegate's req/s divided by the baseline's in the same round. */
function pairedRatio(cr: CaseResult, baselineIndex: number): number {
  const sg = cr.runs[0]!;
  const base = cr.runs[baselineIndex]!;
  return median(sg.map((r, i) => r.result.okRps / (base[i]?.result.okRps ?? NaN)));
}

const sum = (runs: Run[], f: (r: Run) => number) => runs.reduce((a, r) => a + f(r), 0);
function sqlPerRequest(runs: Run[]): number {
  const withSql = runs.filter((r) => Number.isFinite(r.sqlPerRequest));
  const requests = sum(withSql, (r) => r.result.requests);
  return withSql.length && requests ? sum(withSql, (r) => r.sqlPerRequest * r.result.requests) / requests : NaN;
}

/** `{ me { m0: measurements(first: 100) { ... } m1: ... } }`: a few hundred aliases of a large list. */
function aliasAttackQuery(aliases: number): string {
  const one = (i: number) => `m${i}:measurements(first:100){edges{node{id value}}}`;
  return `{me{${Array.from({ length: aliases }, (_, i) => one(i)).join(" ")}}}`;
}

/** `{ me { m0: measurements(first: 100) { edges { node { id } } } } m1: ... } }`: the worst query the limits admit (see WORST_ALIASES). */
function worstAdmittedQuery(aliases: number): string {
  const one = (i: number) => `m${i}:measurements(first:100){edges{node{id}}}`;
  return `{me{${Array.from({ length: aliases }, (_, i) => one(i)).join(" ")}}}`;
}

type Request = { url: string; headers: Record<string, string>; body: string };

/**
 * Other users' latency while the alias attack runs: a protected read at a
 * fixed rate from this process, alone, while the attacker (another process)
 * sends the attack at full speed, and, for reference, while it sends the
 * cheapest request there is (`{ __typename }`) as fast: the attack should cost
 * other users no more than any flood of requests does. The order of the three
 * turns from round to round, so that a drift in the machine's load weighs on all alike.
 */
async function aliasAttack(
  dbName: string,
  victim: LoadSpec,
  attack: Request,
  worst: Request,
): Promise<Omit<AttackReport, "refusal" | "worstSample">> {
  console.log(
    `\n[${dbName}] alias attack: a protected read (${VICTIM_ITEMS} items) at ${VICTIM_RATE} req/s over ${VICTIM_CONNECTIONS} connections, ` +
      `alone, while another process sends ${ATTACK_ALIASES} aliases of measurements(first: 100) at full speed over ${ATTACK_CONNECTIONS} connections, ` +
      `while it sends the worst admitted query (${WORST_ALIASES} aliases of measurements(first: 100) { edges { node { id } } }) at ${WORST_RATE} req/s over ${WORST_CONNECTIONS} connections ` +
      `to the twin with the default GraphQL rate limits, and while it sends { __typename } at full speed (at ${fmt(elapsedS())} s)`,
  );
  const attacker = await Child.spawn("attacker");
  const victimLimits = { connections: VICTIM_CONNECTIONS, overallRate: VICTIM_RATE };
  const out: Omit<AttackReport, "refusal" | "worstSample"> = {
    alone: [],
    attacked: [],
    attack: [],
    flooded: [],
    flood: [],
    worsted: [],
    worst: [],
  };
  const describe = (r: LoadResult) =>
    `p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, ${fmt(r.okRps)} req/s${r.errors ? `, ${r.errors} errors (first: ${r.firstError})` : ""}`;
  const flood = { ...attack, body: JSON.stringify({ query: "{ __typename }" }) };
  try {
    await runLoad(victim, { ...victimLimits, durationS: WARMUP_S }); // warm-up, discarded
    for (let round = 1; round <= ROUNDS; round++) {
      const during = async (what: "the attack" | "the flood") => {
        const refused = what === "the attack";
        // The other load runs a little longer than the measurement on both sides, so that it covers all of it.
        const other = attacker.call<LoadResult>("attack", {
          ...(refused ? attack : flood),
          expect: refused ? "refused" : "answered",
          connections: ATTACK_CONNECTIONS,
          durationS: ATTACK_ROUND_S + 1,
        });
        await sleep(500);
        const r = unanswered(await runLoad(victim, { ...victimLimits, durationS: ATTACK_ROUND_S }));
        const a = await other;
        (refused ? out.attacked : out.flooded).push(r);
        (refused ? out.attack : out.flood).push(a);
        const statuses = Object.entries(a.statuses)
          .map(([status, n]) => `${n} × ${status}`)
          .join(", ");
        console.log(`  round ${round}/${ROUNDS}  during ${what}: ${describe(r)}`);
        console.log(
          `  round ${round}/${ROUNDS}    ${what}: ${fmt(a.okRps)} ${refused ? "refusals" : "answers"}/s (${statuses || "no answers"})${a.errors ? `, ${a.errors} unexpected (first: ${a.firstError})` : ""}`,
        );
      };
      const alone = async () => {
        const r = unanswered(await runLoad(victim, { ...victimLimits, durationS: ATTACK_ROUND_S }));
        out.alone.push(r);
        console.log(`  round ${round}/${ROUNDS}  alone: ${describe(r)}`);
      };
      // The worst admitted query at one token's limits: the measurement starts with it (the first
      // round meets the token's whole budget for a minute, spent at once; later rounds what it regains).
      const duringWorst = async () => {
        const other = attacker.call<LoadResult>("attack", {
          ...worst,
          expect: "answered or rate-limited",
          connections: WORST_CONNECTIONS,
          rate: WORST_RATE,
          durationS: ATTACK_ROUND_S + 1,
        });
        await sleep(100);
        const r = unanswered(await runLoad(victim, { ...victimLimits, durationS: ATTACK_ROUND_S }));
        const a = await other;
        out.worsted.push(r);
        out.worst.push(a);
        console.log(`  round ${round}/${ROUNDS}  during the worst admitted query: ${describe(r)}`);
        console.log(
          `  round ${round}/${ROUNDS}    the worst admitted query: ${a.statuses[200] ?? 0} answered, ${a.statuses[429] ?? 0} × 429${a.errors ? `, ${a.errors} unexpected (first: ${a.firstError})` : ""}`,
        );
      };
      const steps = [alone, () => during("the attack"), duringWorst, () => during("the flood")];
      for (let i = 0; i < steps.length; i++) {
        // What the last condition left queued in the server (on a loaded machine, seconds of it) is not the next one's.
        await sleep(CONDITION_PAUSE_MS);
        await steps[(i + round - 1) % steps.length]!();
      }
    }
  } finally {
    const problem = await attacker.stop();
    if (problem) console.error(`! stopping the attacker: ${problem}`);
  }
  const r = attackRatios(out);
  const p = (runs: LoadResult[]) =>
    `p50 ${fmt(medianLatency(runs.map((x) => x.p50)), 1)} / p99 ${fmt(medianLatency(runs.map((x) => x.p99)), 1)} ms`;
  console.log(
    `  protected read (medians over rounds): alone ${p(out.alone)}; during the attack ${p(out.attacked)}; during the worst admitted query ${p(out.worsted)}; during the { __typename } flood ${p(out.flooded)}`,
  );
  console.log(
    `  during the attack ÷ alone: p50 ${fmtRatio(r.p50)}, p99 ${fmtRatio(r.p99)}; during the attack ÷ during the flood: p50 ${fmtRatio(r.p50VsFlood)}, p99 ${fmtRatio(r.p99VsFlood)}; ` +
      `during the worst admitted query ÷ alone: p50 ${fmtRatio(r.worstP50)}, p99 ${fmtRatio(r.worstP99)}`,
  );
  return out;
}

/** Median p50 and p99 of the protected read during the attack ÷ alone, and ÷ during the flood of the cheapest request. */
function attackRatios(a: Omit<AttackReport, "refusal" | "worstSample">) {
  const m = (runs: LoadResult[], f: (x: LoadResult) => number) => medianLatency(runs.map(f));
  const p50 = (x: LoadResult) => x.p50;
  const p99 = (x: LoadResult) => x.p99;
  return {
    p50: m(a.attacked, p50) / m(a.alone, p50),
    p99: m(a.attacked, p99) / m(a.alone, p99),
    p50VsFlood: m(a.attacked, p50) / m(a.flooded, p50),
    p99VsFlood: m(a.attacked, p99) / m(a.flooded, p99),
    worstP50: m(a.worsted, p50) / m(a.alone, p50),
    worstP99: m(a.worsted, p99) / m(a.alone, p99),
  };
}

// ------------------------------------------------------------------ one database
async function benchDatabase(
  databaseUrl: string | undefined,
  peers: Child,
  peerInfo: PeersInfo,
  soak: boolean,
): Promise<{ report: DbReport; soak?: Soak }> {
  const dbName = databaseUrl ? "PostgreSQL" : "embedded";
  console.log(`\n== ${dbName} ==`);
  const sgChild = await Child.spawn("scopegate");
  const notes: string[] = [];
  try {
    const sg = await sgChild.call<ScopegateInfo>("start", { databaseUrl }, 180_000);
    console.log(`scopegate: ${sg.url} (fixed viewer: ${sg.fixedViewerUrl}), ${sg.databaseLabel}, ${sg.measurements} measurements seeded`);
    const sgAuth = basic(sg.clientId, sg.clientSecret);
    const peerAuth = basic(peerInfo.clientId, peerInfo.clientSecret);
    const sgToken = `${sg.url}/v1/oauth/token`;
    const peerToken = `${peerInfo.oidcUrl}/token`;

    // ---------------------------------------------------------- set-up, every answer checked once
    const expect = async (
      what: string,
      url: string,
      headers: Record<string, string>,
      body: string,
      check: (b: string) => string | null,
    ) => {
      const a = await requestOnce(url, headers, body);
      const problem = a.status >= 200 && a.status < 300 ? check(a.body) : `HTTP ${a.status}: ${a.body.slice(0, 300)}`;
      if (problem) throw new Error(`${what}: ${problem}`);
      return a.body;
    };
    await expect("scopegate client_credentials", sgToken, { "content-type": FORM, authorization: sgAuth }, CC_BODY, checkJwtAccessToken);
    await expect(
      "oidc-provider client_credentials",
      peerToken,
      { "content-type": FORM, authorization: peerAuth },
      CC_BODY,
      checkJwtAccessToken,
    );
    // A user's access token (with a grant), from a refresh: the token the GraphQL and introspection cases present.
    const [head] = await sgChild.call<string[]>("mintRefreshTokens", 1);
    const refreshed = await expect(
      "scopegate refresh_token",
      sgToken,
      { "content-type": FORM, authorization: sgAuth },
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(head!)}`,
      checkRefreshAnswer,
    );
    const userToken = (JSON.parse(refreshed) as { access_token: string }).access_token;
    const [peerHead] = await peers.call<string[]>("mintRefreshTokens", 1);
    await expect(
      "oidc-provider refresh_token",
      peerToken,
      { "content-type": FORM, authorization: peerAuth },
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(peerHead!)}`,
      checkRefreshAnswer,
    );
    await sgChild.call("fixViewer", userToken);
    // oidc-provider only introspects tokens it stores: an opaque one, for its
    // second resource. Its in-memory adapter is an LRU of 1,000 entries (the
    // refresh case alone writes thousands), so each run gets a token minted
    // just before it.
    const peerIntrospect = async () => {
      const opaque = await expect(
        "oidc-provider opaque client_credentials",
        peerToken,
        { "content-type": FORM, authorization: peerAuth },
        `${CC_BODY}&resource=${encodeURIComponent(peerInfo.opaqueResource)}`,
        (b) => (/"access_token":"[\w-]+"/.test(b) ? null : `no opaque token: ${b}`),
      );
      const token = (JSON.parse(opaque) as { access_token: string }).access_token;
      return {
        url: `${peerInfo.oidcUrl}/token/introspection`,
        headers: { "content-type": FORM, authorization: peerAuth },
        body: `token=${token}`,
      };
    };
    const sgIntrospect = {
      url: `${sg.url}/v1/oauth/introspect`,
      headers: { "content-type": FORM, authorization: sgAuth },
      body: `token=${userToken}`,
    };
    await expect("scopegate introspection", sgIntrospect.url, sgIntrospect.headers, sgIntrospect.body, checkActive);
    const peerSample = await peerIntrospect();
    await expect("oidc-provider introspection", peerSample.url, peerSample.headers, peerSample.body, checkActive);
    const gql = (url: string, n: number, bearer?: string): LoadSpec => ({
      url,
      headers: { "content-type": "application/json", accept: "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify({ query: measurementsQuery(n) }),
      check: checkEdges(n),
    });
    for (const n of N_ITEMS) {
      const sizes: string[] = [];
      for (const [what, s] of [
        ["scopegate", gql(`${sg.url}/graphql`, n, userToken)],
        ["scopegate, fixed viewer", gql(`${sg.fixedViewerUrl}/graphql`, n, "ignored")],
        [peerInfo.yogaName, gql(`${peerInfo.yogaUrl}/graphql`, n)],
      ] as const) {
        const body = await expect(`${what} /graphql first: ${n}`, s.url, s.headers, s.body!, s.check);
        sizes.push(`${what} ${body.length} B`);
      }
      notes.push(`GraphQL answer sizes at ${n} items: ${sizes.join(", ")}.`);
    }
    // Idle statement rate, after the set-up's own audit writes have landed.
    await sleep(2 * SETTLE_MS);
    const idle0 = await sgChild.stats();
    const idleStart = performance.now();
    await sleep(QUICK ? 1_000 : 3_000);
    const idle1 = await sgChild.stats();
    const bg = (idle1.sql - idle0.sql) / ((performance.now() - idleStart) / 1000);
    backgroundSql.set(sgChild, bg);
    notes.push(
      `Idle scopegate process: ${bg.toFixed(2)} statements/s (timers), subtracted from each run's count before dividing by its requests.`,
    );
    console.log(notes.join("\n"));

    // ---------------------------------------------------------- targets
    const fixed = (label: string, child: Child, spec: LoadSpec, countsSql: boolean): Target => ({
      label,
      child,
      countsSql,
      spec: async () => spec,
    });
    const refreshTarget = (label: string, child: Child, url: string, authorization: string, countsSql: boolean): Target => ({
      label,
      child,
      countsSql,
      async spec(connections) {
        // Two heads per connection: a chain broken by an error restarts from a fresh one.
        const pool = await child.call<string[]>("mintRefreshTokens", connections * 2);
        const counters = { exhausted: 0 };
        return Object.assign(refreshSpec(url, authorization, pool, counters), { counters });
      },
    });
    const sgCc = fixed(
      "scopegate",
      sgChild,
      { url: sgToken, headers: { "content-type": FORM, authorization: sgAuth }, body: CC_BODY, check: checkJwtAccessToken },
      true,
    );
    const sgRefresh = refreshTarget("scopegate", sgChild, sgToken, sgAuth, true);
    const sgIntro = fixed("scopegate", sgChild, { ...sgIntrospect, check: checkActive }, true);
    const sgGql = (n: number) => fixed("scopegate", sgChild, gql(`${sg.url}/graphql`, n, userToken), true);
    const cases: Case[] = [
      {
        key: "client_credentials",
        title: "POST token endpoint, grant_type=client_credentials (client_secret_basic)",
        targets: [
          sgCc,
          fixed(
            peerInfo.oidcName,
            peers,
            { url: peerToken, headers: { "content-type": FORM, authorization: peerAuth }, body: CC_BODY, check: checkJwtAccessToken },
            false,
          ),
        ],
      },
      {
        key: "refresh_token",
        title: "POST token endpoint, grant_type=refresh_token, rotating (each token used once)",
        targets: [sgRefresh, refreshTarget(peerInfo.oidcName, peers, peerToken, peerAuth, false)],
      },
      {
        key: "introspection",
        title: "POST introspection endpoint (scopegate: its JWT; oidc-provider: its opaque token)",
        targets: [
          sgIntro,
          {
            label: peerInfo.oidcName,
            child: peers,
            countsSql: false,
            spec: async () => ({ ...(await peerIntrospect()), check: checkActive }),
          },
        ],
      },
      ...N_ITEMS.map(
        (n): Case => ({
          key: `graphql_${n}`,
          title: `GraphQL ${measurementsQuery(n)} with a bearer token`,
          targets: [
            sgGql(n),
            fixed("scopegate, fixed viewer", sgChild, gql(`${sg.fixedViewerUrl}/graphql`, n, "ignored"), true),
            fixed(peerInfo.yogaName, peers, gql(`${peerInfo.yogaUrl}/graphql`, n), false),
          ],
        }),
      ),
    ];

    const results: CaseResult[] = [];
    for (const c of cases) if (selected(c.key)) results.push(await runCase(dbName, c));

    // ---------------------------------------------------------- the alias attack
    let attack: AttackReport | undefined;
    if (selected("alias_attack")) {
      // The attacker's own token (another grant of the bench user), so that a per-token limit on it leaves the victim's alone.
      const [attackerHead] = await sgChild.call<string[]>("mintRefreshTokens", 1);
      const attackerToken = (
        JSON.parse(
          await expect(
            "scopegate refresh_token (the attacker's token)",
            sgToken,
            { "content-type": FORM, authorization: sgAuth },
            `grant_type=refresh_token&refresh_token=${encodeURIComponent(attackerHead!)}`,
            checkRefreshAnswer,
          ),
        ) as { access_token: string }
      ).access_token;
      const attackRequest = {
        url: `${sg.url}/graphql`,
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${attackerToken}` },
        body: JSON.stringify({ query: aliasAttackQuery(ATTACK_ALIASES) }),
      };
      const sample = await requestOnce(attackRequest.url, attackRequest.headers, attackRequest.body);
      const refused = sample.status === 400 && checkLimitRefusal(sample.body) === null;
      if (!refused) throw new Error(`the alias attack was not refused by a limit: HTTP ${sample.status} ${sample.body.slice(0, 300)}`);
      const refusal = `HTTP ${sample.status} ${((JSON.parse(sample.body) as { errors: { message: string }[] }).errors[0]?.message ?? "").slice(0, 200)}`;
      console.log(`\nthe alias attack (${attackRequest.body.length} bytes) is answered: ${refusal}`);
      // The worst admitted query: answered in full by the server without rate limits (its cost read from a refusal of the
      // same shape one alias longer would be a guess: the sample says it is admitted, and how much it reads).
      const worstBody = JSON.stringify({ query: worstAdmittedQuery(WORST_ALIASES) });
      const worstOnce = await requestOnce(`${sg.url}/graphql`, attackRequest.headers, worstBody);
      if (worstOnce.status !== 200 || worstOnce.body.includes('"errors"'))
        throw new Error(`the worst admitted query was not answered: HTTP ${worstOnce.status} ${worstOnce.body.slice(0, 300)}`);
      const oneMore = await requestOnce(
        `${sg.url}/graphql`,
        attackRequest.headers,
        JSON.stringify({ query: worstAdmittedQuery(WORST_ALIASES + 1) }),
      );
      const worstSample =
        `${worstBody.length} bytes, answered 200 with ${worstOnce.body.length} bytes; one alias more: HTTP ${oneMore.status}` +
        (oneMore.status === 200
          ? ""
          : ` ${((JSON.parse(oneMore.body) as { errors: { message: string }[] }).errors[0]?.message ?? "").slice(0, 120)}`);
      console.log(`the worst admitted query: ${worstSample}`);
      // The twin is an issuer of its own (its own port): the attacker's token for it comes from its token endpoint (another grant).
      const [limitedHead] = await sgChild.call<string[]>("mintRefreshTokens", 1);
      const limitedToken = (
        JSON.parse(
          await expect(
            "scopegate refresh_token (the attacker's token for the twin with the default limits)",
            `${sg.limitedUrl}/v1/oauth/token`,
            { "content-type": FORM, authorization: sgAuth },
            `grant_type=refresh_token&refresh_token=${encodeURIComponent(limitedHead!)}`,
            checkRefreshAnswer,
          ),
        ) as { access_token: string }
      ).access_token;
      const worstRequest = {
        url: `${sg.limitedUrl}/graphql`,
        headers: { ...attackRequest.headers, authorization: `Bearer ${limitedToken}` },
        body: worstBody,
      };
      attack = {
        refusal,
        worstSample,
        ...(await aliasAttack(dbName, gql(`${sg.url}/graphql`, VICTIM_ITEMS, userToken), attackRequest, worstRequest)),
      };
    }

    // ---------------------------------------------------------- bursts at concurrency 64
    const burstAnswers = BURST_CONNECTIONS * BURST_ANSWERS_PER_CONNECTION;
    const burstTargets = [
      ["token (client_credentials)", sgCc],
      ["token (refresh_token)", sgRefresh],
      ["introspect", sgIntro],
      ...N_ITEMS.map((n) => [`graphql (${n} items)`, sgGql(n)] as const),
    ] as const;
    if (selected("bursts")) {
      console.log(
        `\n[${dbName}] bursts: ${BURST_CONNECTIONS} connections, ${burstAnswers} answers or ${BURST_MAX_S} s each (at ${fmt(elapsedS())} s)`,
      );
    }
    const bursts: DbReport["bursts"] = [];
    for (const [endpoint, t] of selected("bursts") ? burstTargets : []) {
      const run = await measure(t, BURST_CONNECTIONS, 0, { amount: burstAnswers, maxS: BURST_MAX_S });
      bursts.push({ endpoint, result: run.result });
      console.log(
        `  ${endpoint}: ${run.result.requests} answers, ${run.result.status5xx} 5xx, ${run.result.errors} errors${run.result.firstError ? ` (first: ${run.result.firstError})` : ""}`,
      );
    }

    // ---------------------------------------------------------- soak
    let soakResult: Soak | undefined;
    if (soak && selected("soak")) {
      // client_credentials: fast enough to reach 100,000 requests within the cap, and
      // it exercises what could grow per request (token signing, the audit buffer and its flushes).
      const t = sgCc;
      const maxS = Math.max(5, Math.min(SOAK_MAX_S, HARD_LIMIT_S - 60 - elapsedS()));
      console.log(
        `\n[${dbName}] soak: ${SOAK_REQUESTS.toLocaleString("en-US")} token requests (client_credentials) at ${CONNECTIONS} connections, at most ${fmt(maxS)} s, after ${SOAK_WARMUP_S} s of warm-up`,
      );
      await measure(t, CONNECTIONS, SOAK_WARMUP_S);
      const start = await sgChild.stats();
      let rssMax = start.rss;
      const sampler = setInterval(
        () =>
          void sgChild.stats().then(
            (s) => (rssMax = Math.max(rssMax, s.rss)),
            () => {},
          ),
        2_000,
      );
      const run = await measure(t, CONNECTIONS, 0, { amount: SOAK_REQUESTS, maxS });
      clearInterval(sampler);
      const end = await sgChild.stats();
      rssMax = Math.max(rssMax, end.rss);
      soakResult = {
        db: dbName,
        what: "POST /v1/oauth/token, client_credentials",
        requests: run.result.requests,
        target: SOAK_REQUESTS,
        durationS: run.result.durationS,
        okRps: run.result.okRps,
        errors: run.result.errors,
        rssStart: start.rss,
        rssEnd: end.rss,
        rssMax,
        cutShort: run.result.requests < SOAK_REQUESTS,
      };
      console.log(
        `  ${run.result.requests} answers in ${fmt(run.result.durationS, 1)} s, ${run.result.errors} errors; RSS ${MB(start.rss)} → ${MB(end.rss)} MB (max ${MB(rssMax)})`,
      );
    }

    const peerStats = await peers.stats();
    if (peerStats.serverErrors) notes.push(`oidc-provider reported ${peerStats.serverErrors} server errors so far.`);
    return { report: { db: dbName, label: sg.databaseLabel, cases: results, bursts, attack, notes }, soak: soakResult };
  } finally {
    const problem = await sgChild.stop();
    if (problem) console.error(`! cleaning up scopegate (${dbName}): ${problem}`);
  }
}

// ------------------------------------------------------------------ report
interface Goal {
  goal: string;
  db: string;
  measured: string;
  status: "met" | "missed" | "not measured in full";
}

function evaluateGoals(reports: DbReport[], soak: Soak | undefined): Goal[] {
  const goals: Goal[] = [];
  const find = (r: DbReport, key: string) => r.cases.find((c) => c.case.key === key)!;
  const status = (ok: boolean): Goal["status"] => (ok ? "met" : "missed");
  for (const r of reports) {
    const reads = N_ITEMS.map((n) => ({ n, cr: find(r, `graphql_${n}`) }));
    const vsFixed = reads.map(({ n, cr }) => ({ n, ratio: pairedRatio(cr, 1) }));
    goals.push({
      goal: "protected read ≥ 0.90× the same read with the check switched off",
      db: r.db,
      measured: vsFixed.map((x) => `${x.n} items ${fmtRatio(x.ratio)}`).join(", "),
      status: status(vsFixed.every((x) => x.ratio >= 0.9)),
    });
    if (r.db === "PostgreSQL") {
      const vsYoga = reads.map(({ n, cr }) => ({ n, ratio: pairedRatio(cr, 2) }));
      goals.push({
        goal: "protected read ≥ 0.5× bare graphql-yoga",
        db: r.db,
        measured: vsYoga.map((x) => `${x.n} items ${fmtRatio(x.ratio)}`).join(", "),
        status: status(vsYoga.every((x) => x.ratio >= 0.5)),
      });
    }
    const cc = pairedRatio(find(r, "client_credentials"), 1);
    goals.push({ goal: "client_credentials ≥ 1.5× oidc-provider", db: r.db, measured: fmtRatio(cc), status: status(cc >= 1.5) });
    const intro = pairedRatio(find(r, "introspection"), 1);
    goals.push({ goal: "introspection ≥ 1.0× oidc-provider", db: r.db, measured: fmtRatio(intro), status: status(intro >= 1.0) });
    const refresh = pairedRatio(find(r, "refresh_token"), 1);
    if (r.db === "PostgreSQL") {
      goals.push({ goal: "rotating refresh ≥ 1.0× oidc-provider", db: r.db, measured: fmtRatio(refresh), status: status(refresh >= 1.0) });
    }
    // The credential check's statements: the protected read minus the same read
    // with the check switched off (audit writes are the same for both), and
    // introspection, which is all credential check.
    const checkSql = reads.map(({ n, cr }) => ({
      what: `/graphql ${n} items`,
      sql: sqlPerRequest(cr.runs[0]!) - sqlPerRequest(cr.runs[1]!),
    }));
    checkSql.push({ what: "introspection", sql: sqlPerRequest(find(r, "introspection").runs[0]!) });
    goals.push({
      goal: "zero SQL statements for the credential check (per request, < 0.05)",
      db: r.db,
      measured: checkSql.map((x) => `${x.what} ${fmt(x.sql, 2)}`).join(", "),
      status: status(checkSql.every((x) => x.sql < 0.05)),
    });
    if (r.attack) {
      const x = attackRatios(r.attack);
      goals.push({
        goal: `a protected read's p50 during the alias attack ≤ ${ATTACK_LATENCY_GOAL}× during a { __typename } flood`,
        db: r.db,
        measured: `p50 ${fmtRatio(x.p50VsFlood)} (p99 ${fmtRatio(x.p99VsFlood)}); ÷ alone: p50 ${fmtRatio(x.p50)}, p99 ${fmtRatio(x.p99)}`,
        status: status(x.p50VsFlood <= ATTACK_LATENCY_GOAL),
      });
      goals.push({
        goal: `a protected read's p50 while one token sends the worst admitted query as fast as its limits allow ≤ ${WORST_LATENCY_GOAL}× its p50 alone`,
        db: r.db,
        measured: `p50 ${fmtRatio(x.worstP50)} (p99 ${fmtRatio(x.worstP99)})`,
        status: status(x.worstP50 <= WORST_LATENCY_GOAL),
      });
    }
    const fives = r.bursts.reduce((a, b) => a + b.result.status5xx, 0);
    goals.push({
      goal: `zero 5xx at concurrency ${BURST_CONNECTIONS}`,
      db: r.db,
      measured: `${fives} 5xx over ${r.bursts.reduce((a, b) => a + b.result.requests, 0)} answers (${r.bursts.length} endpoints)`,
      status: status(fives === 0),
    });
  }
  if (soak) {
    const growth = (soak.rssEnd - soak.rssStart) / soak.rssStart;
    goals.push({
      goal: "RSS growth ≤ 10% over a 100,000-request soak",
      db: soak.db,
      measured: `${(growth * 100).toFixed(1)}% (${MB(soak.rssStart)} → ${MB(soak.rssEnd)} MB) over ${soak.requests.toLocaleString("en-US")} requests`,
      status: soak.cutShort && growth <= 0.1 ? "not measured in full" : status(growth <= 0.1),
    });
  }
  return goals;
}

function machine(): string[] {
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus[0]?.model.trim() ?? "unknown"}, ${cpus.length} cores (os.cpus())`,
    `- memory: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- node ${process.version}, ${os.type()} ${os.release()} ${os.arch()}`,
    `- load average at the start: ${startLoad.map((n) => n.toFixed(2)).join(" ")}; at the end: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
  ];
}
const startLoad = os.loadavg();

function markdown(
  reports: DbReport[],
  soak: Soak | undefined,
  goals: Goal[],
  peerName: string,
  totalS: number,
  webhookReports: WebhookDrainReport[],
): string {
  const L: string[] = [];
  L.push("# Benchmark results", "");
  L.push(
    `Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString()}; the run took ${fmt(totalS)} s. How to read it: bench/README.md.`,
    "",
  );
  L.push("## Machine", "", ...machine(), "");
  L.push("## Settings", "");
  L.push(
    `- load: autocannon in the parent process, the servers in child processes; loopback (127.0.0.1), keep-alive, ${CONNECTIONS} connections, pipelining 1, every answer checked`,
  );
  L.push(
    `- each case: every server warmed up for ${WARMUP_S} s, then ${ROUNDS} rounds of ${ROUND_S} s; within a round the servers take turns (A B C, then C B A in the next round); req/s, p50 and p99 are medians over rounds; ratios are the median of the per-round ratios`,
  );
  L.push(
    `- req/s counts checked answers only (2xx and the expected content); errors are non-2xx, timeouts, connection errors and 2xx answers that failed the check`,
  );
  L.push(
    `- SQL/req: statements the scopegate process sent (pg.Client#query) from the start of each round until its count stood still (beyond its idle rate) for ${SETTLE_MS} ms (requests still in flight finished, batched audit writes landed), less its idle rate over that time, ÷ requests sent; "-" for the peers (no database)`,
  );
  L.push(
    `- peers: ${peerName} (in-memory adapter, ES256 JWT access tokens through a resource indicator, refresh-token rotation on) and bare graphql-yoga, in one child process; scopegate and its fixed-viewer twin in another`,
  );
  L.push("");
  L.push("## Goals", "", "| goal | database | measured | status |", "| --- | --- | --- | --- |");
  for (const g of goals) L.push(`| ${g.goal} | ${g.db} | ${g.measured} | **${g.status}** |`);
  if (!reports.some((r) => r.db === "PostgreSQL")) {
    L.push("", "PostgreSQL was not measured (BENCH_DATABASE_URL unset): its goals are not reported.");
  }
  const refreshEmbedded = reports.find((r) => r.db === "embedded")?.cases.find((c) => c.case.key === "refresh_token");
  if (refreshEmbedded) {
    L.push(
      "",
      `Rotating refresh on the embedded database (reported, no goal: its single connection bounds it): ${fmtRatio(pairedRatio(refreshEmbedded, 1))} ${peerName}.`,
    );
  }
  L.push("");

  L.push("## Ratios (scopegate ÷ baseline, req/s)", "");
  const dbs = reports.map((r) => r.db);
  L.push(`| case | baseline | ${dbs.join(" | ")} |`, `| --- | --- | ${dbs.map(() => "---").join(" | ")} |`);
  for (const [ci, c] of reports[0]!.cases.entries()) {
    for (let b = 1; b < c.case.targets.length; b++) {
      L.push(`| ${c.case.key} | ${c.case.targets[b]!.label} | ${reports.map((r) => fmtRatio(pairedRatio(r.cases[ci]!, b))).join(" | ")} |`);
    }
  }
  L.push("");

  for (const r of reports) {
    L.push(`## ${r.db}: ${r.label}`, "");
    L.push("| case | server | req/s | p50 ms | p99 ms | SQL/req | answers | errors | scopegate ÷ this |");
    L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const cr of r.cases) {
      for (const [i, t] of cr.case.targets.entries()) {
        const runs = cr.runs[i]!;
        const errors = sum(runs, (x) => x.result.errors);
        L.push(
          `| ${i === 0 ? cr.case.key : ""} | ${t.label} | ${fmt(median(runs.map((x) => x.result.okRps)))} | ${fmt(median(runs.map((x) => x.result.p50)), 1)} | ` +
            `${fmt(median(runs.map((x) => x.result.p99)), 1)} | ${t.countsSql ? fmt(sqlPerRequest(runs), 2) : "-"} | ${fmt(sum(runs, (x) => x.result.requests))} | ` +
            `${errors} | ${i === 0 ? "" : fmtRatio(pairedRatio(cr, i))} |`,
        );
      }
    }
    const firstErrors = r.cases.flatMap((cr) =>
      cr.runs.flatMap((runs, i) => {
        const bad = runs.find((x) => x.result.firstError);
        return bad ? [`- ${cr.case.key}, ${cr.case.targets[i]!.label}: ${bad.result.firstError}`] : [];
      }),
    );
    if (firstErrors.length) L.push("", "First error of each server that had any:", "", ...firstErrors);
    L.push("", `Per round (req/s, rounds 1 / 2 / 3):`, "");
    for (const cr of r.cases) {
      L.push(
        `- ${cr.case.key}: ${cr.case.targets.map((t, i) => `${t.label} ${cr.runs[i]!.map((x) => fmt(x.result.okRps)).join(" / ")}`).join("; ")}`,
      );
    }
    L.push(
      "",
      `Bursts at concurrency ${BURST_CONNECTIONS} (scopegate; ${BURST_CONNECTIONS * BURST_ANSWERS_PER_CONNECTION} answers or ${BURST_MAX_S} s each, after the rounds above):`,
      "",
    );
    L.push("| endpoint | answers | req/s | 5xx | errors | p99 ms | first error |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for (const b of r.bursts) {
      L.push(
        `| ${b.endpoint} | ${b.result.requests} | ${fmt(b.result.okRps)} | ${b.result.status5xx} | ${b.result.errors} | ${fmt(b.result.p99, 1)} | ${b.result.firstError?.replace(/\|/g, "\\|").slice(0, 160) ?? ""} |`,
      );
    }
    if (r.attack) {
      const a = r.attack;
      const ratios = attackRatios(a);
      const attacks = a.attack.reduce((n, x) => n + x.requests, 0);
      const refusals = a.attack.reduce((n, x) => n + x.ok, 0);
      L.push(
        "",
        `The alias attack: a protected read (${VICTIM_ITEMS} items) at ${VICTIM_RATE} req/s over ${VICTIM_CONNECTIONS} connections, alone and while another process sends ` +
          `${ATTACK_ALIASES} aliases of \`measurements(first: 100)\` at full speed over ${ATTACK_CONNECTIONS} connections (answered: ${a.refusal}); ` +
          `${refusals} of ${attacks} attack requests refused by a limit, ${fmt(median(a.attack.map((x) => x.okRps)))} refusals/s ` +
          `(the reference flood: ${fmt(median(a.flood.map((x) => x.okRps)))} answers/s):`,
        "",
        "| protected read | p50 ms | p99 ms | req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
      );
      for (const [label, runs] of [
        ["alone", a.alone],
        ["during the attack", a.attacked],
        ["during the worst admitted query, one token", a.worsted],
        ["during a `{ __typename }` flood (reference)", a.flooded],
      ] as const) {
        L.push(
          `| ${label} | ${fmt(medianLatency(runs.map((x) => x.p50)), 1)} | ${fmt(medianLatency(runs.map((x) => x.p99)), 1)} | ${fmt(median(runs.map((x) => x.okRps)))} | ${runs.reduce((n, x) => n + x.errors, 0)} |`,
        );
      }
      L.push(`| during the attack ÷ alone | ${fmtRatio(ratios.p50)} | ${fmtRatio(ratios.p99)} | | |`);
      L.push(`| during the attack ÷ during the flood | ${fmtRatio(ratios.p50VsFlood)} | ${fmtRatio(ratios.p99VsFlood)} | | |`);
      L.push(`| during the worst admitted query ÷ alone | ${fmtRatio(ratios.worstP50)} | ${fmtRatio(ratios.worstP99)} | | |`);
      L.push(
        "",
        `The worst admitted query (${WORST_ALIASES} aliases of \`measurements(first: 100) { edges { node { id } } }\`; ${a.worstSample}), one token at ${WORST_RATE} req/s over ${WORST_CONNECTIONS} connections ` +
          `to the twin with the default GraphQL rate limits, per round (answered / 429; the protected read's p50 / p99 ms): ` +
          a.worst
            .map((w, i) => `${w.statuses[200] ?? 0} / ${w.statuses[429] ?? 0}; ${fmt(a.worsted[i]!.p50, 1)} / ${fmt(a.worsted[i]!.p99, 1)}`)
            .join(" — ") +
          `; alone, per round: ${a.alone.map((x) => `${fmt(x.p50, 1)} / ${fmt(x.p99, 1)}`).join(" — ")}.`,
      );
    }
    if (r.notes.length) L.push("", ...r.notes.map((n) => `- ${n}`));
    L.push("");
  }

  L.push("## Memory soak", "");
  if (soak) {
    L.push("| database | case | answers | of | s | req/s | errors | RSS start MB | RSS end MB | RSS max MB | growth |");
    L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    L.push(
      `| ${soak.db} | ${soak.what} | ${soak.requests.toLocaleString("en-US")} | ${soak.target.toLocaleString("en-US")} | ${fmt(soak.durationS, 1)} | ${fmt(soak.okRps)} | ${soak.errors} | ` +
        `${MB(soak.rssStart)} | ${MB(soak.rssEnd)} | ${MB(soak.rssMax)} | ${(((soak.rssEnd - soak.rssStart) / soak.rssStart) * 100).toFixed(1)}% |`,
    );
    L.push(
      "",
      `RSS of the scopegate process after ${SOAK_WARMUP_S} s of warm-up, and at the end${soak.cutShort ? `; the soak stopped at its time cap (${SOAK_MAX_S} s) before ${soak.target.toLocaleString("en-US")} requests` : ""}.`,
    );
    if (soak.db === "embedded")
      L.push("On the embedded database the RSS includes PGlite's WebAssembly memory, which grows with the data (audit events).");
  } else {
    L.push("Not run.");
  }
  L.push("");
  L.push(...webhookDrainMarkdown(webhookReports));
  L.push("## Analysis", "");
  L.push(
    "<!-- PLACEHOLDER: to be written by the team. For each missed goal: what limits it (with a `node --cpu-prof` profile), what was removed, what remains. Not generated by the benchmark. -->",
  );
  L.push("");
  L.push("_To be written._", "");
  return L.join("\n");
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
  const cpus = os.cpus();
  console.log(`scopegate benchmark${QUICK ? " (BENCH_QUICK=1: a smoke test, numbers meaningless, RESULTS.md not written)" : ""}`);
  console.log(
    `node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? "cpu"}, load average ${startLoad.map((n) => n.toFixed(2)).join(" ")}`,
  );
  console.log(
    `load: autocannon here, servers in child processes; ${CONNECTIONS} connections, ${WARMUP_S} s warm-up, ${ROUNDS} alternating rounds of ${ROUND_S} s per case; hard limit ${HARD_LIMIT_S} s`,
  );
  if (ONLY) console.log(`BENCH_ONLY: ${[...ONLY].join(", ")}`);
  console.log(
    `databases: embedded${databaseUrl ? " and PostgreSQL (BENCH_DATABASE_URL)" : " only (set BENCH_DATABASE_URL=postgres://... to add PostgreSQL)"}`,
  );

  const peers = await Child.spawn("peers");
  try {
    const peerInfo = await peers.call<PeersInfo>("start");
    console.log(`peers: ${peerInfo.oidcName} at ${peerInfo.oidcUrl}, ${peerInfo.yogaName} at ${peerInfo.yogaUrl}`);
    const reports: DbReport[] = [];
    const webhookReports: WebhookDrainReport[] = [];
    let soak: Soak | undefined;
    // Everything but the webhook case runs on the main scopegate process; skip it when none of that is asked for.
    const mainParts = PARTS.some((k) => k !== "webhook_drain" && selected(k));
    const webhookCase = (dbName: string, url: string | undefined) =>
      webhookDrain(dbName, url, (role) => Child.spawn(role), {
        drainRounds: WEBHOOK_DRAIN_ROUNDS,
        latencyRounds: WEBHOOK_LATENCY_ROUNDS,
        latencyRoundS: WEBHOOK_LATENCY_ROUND_S,
        ...(CPU_PROF_DIR ? { profileDir: CPU_PROF_DIR } : {}),
      });
    // The soak runs once, on PostgreSQL when there is one (the database is
    // then another process, so the RSS is scopegate's own).
    if (mainParts) {
      const embedded = await benchDatabase(undefined, peers, peerInfo, !databaseUrl);
      reports.push(embedded.report);
      soak = embedded.soak;
    }
    if (selected("webhook_drain")) webhookReports.push(await webhookCase("embedded", undefined));
    if (databaseUrl) {
      if (mainParts) {
        const pgRun = await benchDatabase(databaseUrl, peers, peerInfo, true);
        reports.push(pgRun.report);
        soak = pgRun.soak;
      }
      if (selected("webhook_drain")) webhookReports.push(await webhookCase("PostgreSQL", databaseUrl));
    }
    if (ONLY) {
      // The webhook section as a full run would write it, to read or paste.
      if (webhookReports.length) console.log(`\n${webhookDrainMarkdown(webhookReports).join("\n")}`);
      console.log(`\nBENCH_ONLY=${[...ONLY].join(",")}: a partial run; no goals, RESULTS.md not written.`);
      console.log(`total run time ${fmt(elapsedS(), 1)} s`);
      return;
    }
    const goals = evaluateGoals(reports, soak);
    console.log("\n== Goals ==");
    for (const g of goals)
      console.log(`  ${g.status === "met" ? "met   " : g.status === "missed" ? "MISSED" : "PARTLY"}  [${g.db}] ${g.goal}: ${g.measured}`);
    const ratioLines = reports.flatMap((r) =>
      r.cases.flatMap((cr) =>
        cr.case.targets.slice(1).map((t, i) => `  [${r.db}] ${cr.case.key} vs ${t.label}: ${fmtRatio(pairedRatio(cr, i + 1))}`),
      ),
    );
    console.log(`\n== Ratios (scopegate ÷ baseline, req/s, median of rounds) ==\n${ratioLines.join("\n")}`);
    const md = markdown(reports, soak, goals, peerInfo.oidcName, elapsedS(), webhookReports);
    if (!QUICK) {
      const out = fileURLToPath(new URL("./RESULTS.md", import.meta.url));
      writeFileSync(out, md);
      console.log(`\nwrote ${out}`);
    }
    console.log(`total run time ${fmt(elapsedS(), 1)} s`);
  } finally {
    await peers.stop();
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error("bench failed:", err);
    await Promise.race([stopAll(), sleep(10_000)]);
    process.exit(1);
  },
);
