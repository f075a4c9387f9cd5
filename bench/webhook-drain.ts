/**
 * The webhook_drain case of `npm run bench` (issue 13: "a burst of 10,000
 * events drains at a rate reported by npm run bench", and "delivery never
 * slows the API"). Three child processes besides this one: scopegate
 * (role "webhook-scopegate": one server, WEBHOOKS_ALLOW_LOOPBACK=true, a short
 * poll interval, the default WEBHOOKS_CONCURRENCY), a receiver (node:http on
 * 127.0.0.1, 204, counting distinct webhook-id values) and the baseline's
 * sender. This process only sends the GraphQL load and reports.
 *
 * 1. The drain rate, in rounds against its baseline: EVENTS events recorded in
 *    one transaction in the server process (bench/webhook-scopegate.ts: the
 *    outbox holds the whole burst at the commit), timed from the commit to the
 *    last new id at the receiver; and the same receiver fed EVENTS signed POSTs
 *    of the same body size, at the same concurrency, one connection each, by a
 *    plain loop in the sender process. drain ÷ baseline. (Recording the burst
 *    through GraphQL took 116 s on the embedded database, the worker draining
 *    meanwhile: that measures the write path, not the drain; bench/README.md.)
 * 2. recordMeasurement's latency at a steady rate with no endpoint at all,
 *    with a receiver answering at once (deliveries flowing as fast as they
 *    come), and with one holding every answer SLOW_HOLD_MS (all of the
 *    worker's slots busy, a backlog growing), taking turns round by round.
 */
import { newWebhookSecret } from "../src/webhooks/signature.ts";
import { checkJwtAccessToken, requestOnce, runLoad, type LoadResult, type LoadSpec } from "./load.ts";
import type { Stats, WebhookScopegateInfo } from "./server-process.ts";
import type { ReceiverCount, SenderResult } from "./webhook-receiver.ts";

export const WEBHOOK_EVENTS = 10_000;
/** WEBHOOKS_CONCURRENCY's default (src/webhooks/delivery.ts): the baseline sends as many at once. */
export const WEBHOOK_CONCURRENCY = 16;
/** the latency rounds: a steady rate well below what the server answers, so that p50/p99 are what a caller feels */
const LATENCY_RATE = 100;
const LATENCY_CONNECTIONS = 8;
const SLOW_HOLD_MS = 2_000;
/** a drain that takes longer than this is reported (in the notes) as cut short */
const WAIT_MAX_MS = 240_000;

type Condition = "none" | "fast" | "slow";

export interface WebhookDrainSettings {
  /** drain and baseline, alternating */
  drainRounds: number;
  /** no endpoint, a fast and a slow receiver, in turns */
  latencyRounds: number;
  latencyRoundS: number;
  /** write a CPU profile of the server process for each drain round into this folder (BENCH_CPU_PROF) */
  profileDir?: string;
}

/** What bench/run.ts's Child offers. */
export interface BenchProcess {
  call<T>(op: string, args?: unknown, timeoutMs?: number): Promise<T>;
  stats(): Promise<Stats>;
  stop(ms?: number): Promise<string | null>;
}
export type SpawnWebhookProcess = (role: "webhook-scopegate" | "webhook-receiver" | "webhook-sender") => Promise<BenchProcess>;

export interface DrainRound {
  /** recording EVENTS events in one transaction */
  writeMs: number;
  /** from the commit until the receiver had every id */
  drainS: number;
  rate: number;
  /** requests the receiver got (more than EVENTS when some id came twice) */
  requests: number;
  distinct: number;
  /** statements the server process sent from the commit until the last id arrived, per event */
  sqlPerEvent: number;
  bodyBytes: number;
  verified: boolean | null;
}

export interface BaselineRound {
  s: number;
  rate: number;
  distinct: number;
  errors: number;
  firstError: string | null;
  bodyBytes: number;
}

export interface WebhookDrainReport {
  db: string;
  label: string;
  events: number;
  concurrency: number;
  drain: DrainRound[];
  baseline: BaselineRound[];
  /** recordMeasurement at a steady rate, per round; and how many deliveries reached the receiver during each measurement */
  latency: { none: LoadResult[]; fast: LoadResult[]; slow: LoadResult[]; delivered: { fast: number[]; slow: number[] } };
  notes: string[];
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "-";
const fmtRatio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "-");

/** Drain ÷ baseline, events/s: the median of the per-round ratios. */
export function drainRatio(r: WebhookDrainReport): number {
  return median(r.drain.map((d, i) => d.rate / (r.baseline[i]?.rate ?? Number.NaN)));
}

/** recordMeasurement with a slow (and, for reference, a fast) receiver ÷ with no endpoint: medians over rounds. */
export function latencyRatios(r: WebhookDrainReport): { p50: number; p99: number; fastP50: number; fastP99: number } {
  const m = (runs: LoadResult[], f: (x: LoadResult) => number) => median(runs.map(f));
  const p50 = (x: LoadResult) => x.p50;
  const p99 = (x: LoadResult) => x.p99;
  return {
    p50: m(r.latency.slow, p50) / m(r.latency.none, p50),
    p99: m(r.latency.slow, p99) / m(r.latency.none, p99),
    fastP50: m(r.latency.fast, p50) / m(r.latency.none, p50),
    fastP99: m(r.latency.fast, p99) / m(r.latency.none, p99),
  };
}

const RECORD = "mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id } }";

function checkRecorded(body: string): string | null {
  if (body.includes('"errors"')) return `GraphQL errors: ${body.slice(0, 200)}`;
  return body.includes('"recordMeasurement":{"id":"') ? null : `no measurement id in ${body.slice(0, 200)}`;
}

function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

export async function webhookDrain(
  dbName: string,
  databaseUrl: string | undefined,
  spawn: SpawnWebhookProcess,
  settings: WebhookDrainSettings,
): Promise<WebhookDrainReport> {
  console.log(
    `\n[${dbName}] webhook_drain: ${fmt(WEBHOOK_EVENTS)} measurement.created events to a receiver in another process ` +
      `(WEBHOOKS_CONCURRENCY ${WEBHOOK_CONCURRENCY}); baseline: the same receiver fed by a plain signed-POST loop`,
  );
  const procs: BenchProcess[] = [];
  const notes: string[] = [];
  try {
    const [sgChild, receiver, sender] = await Promise.all([spawn("webhook-scopegate"), spawn("webhook-receiver"), spawn("webhook-sender")]);
    procs.push(sgChild, receiver, sender);
    const sg = await sgChild.call<WebhookScopegateInfo>("start", { databaseUrl }, 180_000);
    const receiverUrl = await receiver.call<string>("url");
    console.log(`  scopegate ${sg.url} (${sg.databaseLabel}); receiver ${receiverUrl}`);

    // The owner's own data, through their client: client_credentials with data:write.
    const token = await requestOnce(
      `${sg.url}/v1/oauth/token`,
      { "content-type": "application/x-www-form-urlencoded", authorization: basic(sg.clientId, sg.clientSecret) },
      "grant_type=client_credentials&scope=data%3Aread+data%3Awrite",
    );
    const tokenProblem = token.status === 200 ? checkJwtAccessToken(token.body) : `HTTP ${token.status} ${token.body.slice(0, 200)}`;
    if (tokenProblem) throw new Error(`webhook_drain: client_credentials token: ${tokenProblem}`);
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    const record: LoadSpec = {
      url: `${sg.url}/graphql`,
      headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({
        query: RECORD,
        variables: { input: { type: "HEART_RATE", value: 72, unit: "bpm", recordedAt: new Date(Date.now() - 60_000).toISOString() } },
      }),
      check: checkRecorded,
    };
    const once = await requestOnce(record.url, record.headers, record.body!);
    const onceProblem = once.status === 200 ? checkRecorded(once.body) : `HTTP ${once.status} ${once.body.slice(0, 200)}`;
    if (onceProblem) throw new Error(`webhook_drain: recordMeasurement: ${onceProblem}`);

    let endpoint = await sgChild.call<{ id: string; secret: string }>("createEndpoint", receiverUrl);
    const waitAll = (what: string) =>
      receiver.call<ReceiverCount>("waitFor", { distinct: WEBHOOK_EVENTS, timeoutMs: WAIT_MAX_MS }, WAIT_MAX_MS + 10_000).then((c) => {
        if (c.distinct < WEBHOOK_EVENTS)
          notes.push(`${what}: the receiver had ${c.distinct} of ${WEBHOOK_EVENTS} ids after ${WAIT_MAX_MS / 1000} s.`);
        return c;
      });

    // ------------------------------------------------------------ 1. drain rate vs baseline, alternating
    const drain: DrainRound[] = [];
    const baseline: BaselineRound[] = [];
    const senderSecret = newWebhookSecret();
    const drainRound = async (round: number) => {
      await receiver.call("reset", { holdMs: 0, secret: endpoint.secret });
      const written = await sgChild.call<{ committedAt: number; writeMs: number; queued: number }>("recordEvents", WEBHOOK_EVENTS, 300_000);
      if (written.queued !== WEBHOOK_EVENTS)
        throw new Error(`webhook_drain: ${written.queued} deliveries queued for ${WEBHOOK_EVENTS} events`);
      // The drain only (the worker started at the commit, a millisecond or so earlier).
      if (settings.profileDir) await sgChild.call("profileStart");
      const before = await sgChild.stats();
      const c = await waitAll(`drain round ${round}`);
      const after = await sgChild.stats();
      if (settings.profileDir) {
        const file = await sgChild.call<string>("profileStop", { dir: settings.profileDir, name: `webhook-drain-${dbName}-round${round}` });
        notes.push(`CPU profile of the server process during drain round ${round}: ${file}`);
      }
      const drainS = ((c.lastAt ?? Number.NaN) - written.committedAt) / 1000;
      const r: DrainRound = {
        writeMs: written.writeMs,
        drainS,
        rate: c.distinct / drainS,
        requests: c.requests,
        distinct: c.distinct,
        sqlPerEvent: (after.sql - before.sql) / WEBHOOK_EVENTS,
        bodyBytes: c.meanBodyBytes,
        verified: c.verified,
      };
      drain.push(r);
      if (c.verified !== true)
        notes.push(`Drain round ${round}: the first delivery ${c.verified === false ? "did not verify" : "was not checked"}.`);
      console.log(
        `  round ${round}/${settings.drainRounds}  drain: ${fmt(r.distinct)} ids in ${fmt(drainS, 2)} s after the commit = ${fmt(r.rate)} events/s ` +
          `(${fmt(r.requests)} requests, ${fmt(r.sqlPerEvent, 2)} SQL/event, ${fmt(r.bodyBytes)} B bodies; recording them took ${fmt(written.writeMs / 1000, 1)} s` +
          `${c.verified === false ? "; the first did NOT verify" : ""})`,
      );
    };
    const baselineRound = async (round: number) => {
      await receiver.call("reset", { holdMs: 0, secret: senderSecret });
      const sent = await sender.call<SenderResult>(
        "send",
        { url: receiverUrl, count: WEBHOOK_EVENTS, concurrency: WEBHOOK_CONCURRENCY, secret: senderSecret },
        WAIT_MAX_MS,
      );
      const c = await receiver.call<ReceiverCount>("count");
      const s = ((c.lastAt ?? Number.NaN) - sent.startedAt) / 1000;
      const r: BaselineRound = {
        s,
        rate: c.distinct / s,
        distinct: c.distinct,
        errors: sent.errors,
        firstError: sent.firstError,
        bodyBytes: c.meanBodyBytes,
      };
      baseline.push(r);
      if (c.verified !== true)
        notes.push(`Baseline round ${round}: the first request ${c.verified === false ? "did not verify" : "was not checked"}.`);
      console.log(
        `  round ${round}/${settings.drainRounds}  baseline: ${fmt(r.distinct)} ids in ${fmt(s, 2)} s = ${fmt(r.rate)} events/s (${fmt(r.bodyBytes)} B bodies` +
          `${sent.errors ? `, ${sent.errors} errors (first: ${sent.firstError})` : ""}${c.verified === false ? "; the first did NOT verify" : ""})`,
      );
    };
    for (let round = 1; round <= settings.drainRounds; round++) {
      const steps = [drainRound, baselineRound];
      if (round % 2 === 0) steps.reverse();
      for (const step of steps) await step(round);
    }

    // ------------------------------------------------------------ 2. recordMeasurement latency: no endpoint, a fast and a slow receiver
    const latency: WebhookDrainReport["latency"] = { none: [], fast: [], slow: [], delivered: { fast: [], slow: [] } };
    const limits = { connections: LATENCY_CONNECTIONS, overallRate: LATENCY_RATE, durationS: settings.latencyRoundS };
    let previous: Condition | null = null;
    const condition = async (which: Condition, round: number) => {
      // Each condition from a clean start: no endpoint, so no backlog and (once the held attempts have ended) no delivery work left over.
      if (endpoint.id) {
        await sgChild.call("deleteEndpoint", endpoint.id);
        endpoint = { id: "", secret: "" };
        if (previous === "slow") await sleep(SLOW_HOLD_MS + 500);
      }
      previous = which;
      if (which !== "none") {
        await receiver.call("reset", { holdMs: which === "slow" ? SLOW_HOLD_MS : 0 });
        endpoint = await sgChild.call<{ id: string; secret: string }>("createEndpoint", receiverUrl);
        // A second of the same load first: with a slow receiver, every delivery slot is then taken by a held answer.
        await runLoad(record, { ...limits, durationS: 1 });
      }
      const before = await receiver.call<ReceiverCount>("count");
      const r = await runLoad(record, limits);
      const after = await receiver.call<ReceiverCount>("count");
      latency[which].push(r);
      if (which !== "none") latency.delivered[which].push(after.requests - before.requests);
      const label = {
        none: "no endpoint",
        fast: "receiver answering at once",
        slow: `receiver holding each answer ${SLOW_HOLD_MS / 1000} s`,
      }[which];
      console.log(
        `  round ${round}/${settings.latencyRounds}  ${label}: ${describe(r)}${which === "none" ? "" : `; ${fmt(after.requests - before.requests)} deliveries reached the receiver meanwhile`}`,
      );
    };
    console.log(
      `  recordMeasurement at ${LATENCY_RATE} req/s over ${LATENCY_CONNECTIONS} connections, ${settings.latencyRoundS} s a round: no endpoint at all, ` +
        `an endpoint whose receiver answers at once, and one whose receiver holds every answer ${SLOW_HOLD_MS / 1000} s`,
    );
    await runLoad(record, { ...limits, durationS: 1 }); // warm-up, discarded
    const conditions: Condition[] = ["none", "slow", "fast"];
    for (let round = 1; round <= settings.latencyRounds; round++) {
      // none slow fast, then slow fast none, ...: a drift in the machine's load weighs on each alike.
      for (let i = 0; i < conditions.length; i++) await condition(conditions[(i + round - 1) % conditions.length]!, round);
    }
    if (endpoint.id) await sgChild.call("deleteEndpoint", endpoint.id);

    const report: WebhookDrainReport = {
      db: dbName,
      label: sg.databaseLabel,
      events: WEBHOOK_EVENTS,
      concurrency: WEBHOOK_CONCURRENCY,
      drain,
      baseline,
      latency,
      notes,
    };
    const lr = latencyRatios(report);
    console.log(
      `  drain ${fmt(median(drain.map((d) => d.rate)))} events/s, baseline ${fmt(median(baseline.map((b) => b.rate)))} events/s: ` +
        `drain ÷ baseline ${fmtRatio(drainRatio(report))}; recordMeasurement with a slow receiver ÷ no endpoint: p50 ${fmtRatio(lr.p50)}, p99 ${fmtRatio(lr.p99)} ` +
        `(a fast receiver ÷ no endpoint: p50 ${fmtRatio(lr.fastP50)}, p99 ${fmtRatio(lr.fastP99)})`,
    );
    return report;
  } finally {
    for (const p of procs.reverse()) {
      const problem = await p.stop().catch((err: Error) => err.message);
      if (problem) console.error(`! stopping a webhook_drain process (${dbName}): ${problem}`);
    }
  }
}

function describe(r: LoadResult): string {
  return `p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, ${fmt(r.okRps)} req/s${r.errors ? `, ${r.errors} errors (first: ${r.firstError})` : ""}`;
}

/** The section of RESULTS.md. */
export function webhookDrainMarkdown(reports: WebhookDrainReport[]): string[] {
  if (!reports.length) return [];
  const L: string[] = ["## Webhook drain", ""];
  L.push(
    `${fmt(WEBHOOK_EVENTS)} measurement.created events to one endpoint whose receiver (node:http in another process, 204 at once) counts distinct \`webhook-id\` values; ` +
      `the worker at its default concurrency (${WEBHOOK_CONCURRENCY}). Drain: the events recorded in one transaction, timed from its commit to the last new id; ` +
      `baseline: the same receiver fed as many signed POSTs of the same size by a plain loop in another process, ${WEBHOOK_CONCURRENCY} at once, one connection each. ` +
      `recordMeasurement at ${LATENCY_RATE} req/s over ${LATENCY_CONNECTIONS} connections with no endpoint at all, with a receiver answering at once, ` +
      `and with one holding every answer ${SLOW_HOLD_MS / 1000} s.`,
    "",
  );
  L.push("| database | drain events/s | baseline events/s | drain ÷ baseline | SQL/event |", "| --- | ---: | ---: | ---: | ---: |");
  for (const r of reports) {
    L.push(
      `| ${r.db} | ${fmt(median(r.drain.map((d) => d.rate)))} | ${fmt(median(r.baseline.map((b) => b.rate)))} | ${fmtRatio(drainRatio(r))} | ` +
        `${fmt(median(r.drain.map((d) => d.sqlPerEvent)), 2)} |`,
    );
  }
  L.push("");
  L.push(
    "| database | recordMeasurement | p50 ms | p99 ms | req/s | errors | ÷ no endpoint, p50 / p99 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const r of reports) {
    const lr = latencyRatios(r);
    const row = (label: string, runs: LoadResult[], ratio: string) =>
      `| ${r.db} | ${label} | ${fmt(median(runs.map((x) => x.p50)), 1)} | ${fmt(median(runs.map((x) => x.p99)), 1)} | ` +
      `${fmt(median(runs.map((x) => x.okRps)))} | ${runs.reduce((n, x) => n + x.errors, 0)} | ${ratio} |`;
    L.push(row("no endpoint", r.latency.none, ""));
    L.push(row("receiver answering at once", r.latency.fast, `${fmtRatio(lr.fastP50)} / ${fmtRatio(lr.fastP99)}`));
    L.push(row(`receiver holding each answer ${SLOW_HOLD_MS / 1000} s`, r.latency.slow, `**${fmtRatio(lr.p50)} / ${fmtRatio(lr.p99)}**`));
  }
  L.push("");
  for (const r of reports) {
    const rounds = (runs: LoadResult[]) => runs.map((x) => fmt(x.p50, 1)).join(" / ");
    L.push(
      `- ${r.db}, per round: drain ${r.drain.map((d) => fmt(d.rate)).join(" / ")} events/s, baseline ${r.baseline.map((b) => fmt(b.rate)).join(" / ")} events/s; ` +
        `recordMeasurement p50 with no endpoint ${rounds(r.latency.none)} ms, fast receiver ${rounds(r.latency.fast)} ms, slow receiver ${rounds(r.latency.slow)} ms ` +
        `(deliveries reaching the slow receiver per round: ${r.latency.delivered.slow.join(" / ")}).`,
    );
    for (const n of r.notes) L.push(`- ${r.db}: ${n}`);
  }
  L.push("");
  return L;
}
