/**
 * A child process of `npm run bench` that runs servers, so that no server
 * shares an event loop with the load generator (bench/run.ts). Role
 * "scopegate": scopegate and its fixed-viewer twin on one database. Role
 * "peers": oidc-provider and bare graphql-yoga. Role "attacker" is no server:
 * it sends the alias attack (bench/run.ts, aliasAttack). Roles
 * "webhook-scopegate", "webhook-receiver" and "webhook-sender" are the three
 * processes of the webhook_drain case (bench/webhook-drain.ts). The parent talks to it over
 * Node's IPC channel only (never through a route of the product): it asks for
 * set-up (refresh tokens to spend), counters (SQL statements, RSS) and stop.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import pg from "pg";

// Count every statement the servers send, before anything opens a connection:
// Prisma's pg adapter (for PGlite's socket too) ends in pg.Client#query.
let sqlStatements = 0;
{
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    sqlStatements++;
    return original.apply(this, args);
  };
}

export interface Stats {
  sql: number;
  rss: number;
  /** errors the peer reported through its own events (oidc-provider's server_error) */
  serverErrors: number;
}

export interface ScopegateInfo {
  url: string;
  fixedViewerUrl: string;
  /** the twin with the default GraphQL rate limits (the alias case's attacker) */
  limitedUrl: string;
  databaseLabel: string;
  clientId: string;
  clientSecret: string;
  measurements: number;
}

export interface WebhookScopegateInfo {
  url: string;
  databaseLabel: string;
  clientId: string;
  clientSecret: string;
}

export interface PeersInfo {
  oidcName: string;
  oidcUrl: string;
  clientId: string;
  clientSecret: string;
  opaqueResource: string;
  yogaName: string;
  yogaUrl: string;
}

type Handler = (args: unknown) => Promise<unknown> | unknown;
type Request = { id: number; op: string; args?: unknown };

const role = process.argv[2];
const handlers: Record<string, Handler> = {};
let stop: () => Promise<unknown> = async () => null;
let serverErrors = () => 0;

if (role === "scopegate") {
  const { startScopegate } = await import("./scopegate.ts");
  let sg: Awaited<ReturnType<typeof startScopegate>> | undefined;
  handlers.start = async (args) => {
    sg = await startScopegate((args as { databaseUrl?: string }).databaseUrl, { limitedTwin: true });
    stop = () => sg!.stop();
    const info: ScopegateInfo = {
      url: sg.server.url,
      fixedViewerUrl: sg.fixedViewerServer!.url,
      limitedUrl: sg.limitedServer!.url,
      databaseLabel: sg.databaseLabel,
      clientId: sg.clientId,
      clientSecret: sg.clientSecret,
      measurements: sg.measurements,
    };
    return info;
  };
  handlers.mintRefreshTokens = (count) => sg!.mintRefreshTokens(count as number);
  handlers.fixViewer = (token) => sg!.fixViewer(token as string);
} else if (role === "webhook-scopegate") {
  // The webhook_drain case's server (bench/webhook-drain.ts): one scopegate that delivers to a loopback receiver.
  const { startWebhookScopegate } = await import("./webhook-scopegate.ts");
  let ws: Awaited<ReturnType<typeof startWebhookScopegate>> | undefined;
  handlers.start = async (args) => {
    ws = await startWebhookScopegate((args as { databaseUrl?: string }).databaseUrl);
    stop = () => ws!.stop();
    const info: WebhookScopegateInfo = {
      url: ws.sg.server.url,
      databaseLabel: ws.sg.databaseLabel,
      clientId: ws.sg.clientId,
      clientSecret: ws.sg.clientSecret,
    };
    return info;
  };
  handlers.createEndpoint = (url) => ws!.createEndpoint(url as string);
  handlers.deleteEndpoint = (id) => ws!.deleteEndpoint(id as string);
  handlers.recordEvents = (count) => ws!.recordEvents(count as number);
  handlers.pending = () => ws!.pending();
} else if (role === "webhook-receiver") {
  const { startReceiver } = await import("./webhook-receiver.ts");
  const receiver = await startReceiver();
  stop = async () => {
    await receiver.stop();
    return null;
  };
  handlers.url = () => receiver.url;
  handlers.reset = (args) => receiver.reset(args as { holdMs: number; secret?: string });
  handlers.count = () => receiver.count();
  handlers.waitFor = (args) => {
    const { distinct, timeoutMs } = args as { distinct: number; timeoutMs: number };
    return receiver.waitFor(distinct, timeoutMs);
  };
} else if (role === "webhook-sender") {
  const { sendSigned } = await import("./webhook-receiver.ts");
  handlers.send = (args) => sendSigned(args as Parameters<typeof sendSigned>[0]);
} else if (role === "peers") {
  const { startOidcProvider } = await import("./peer.ts");
  const { startBaselineGraphQL } = await import("./baseline-graphql.ts");
  const { demoMeasurements } = await import("../src/seed/demo.ts");
  let peer: Awaited<ReturnType<typeof startOidcProvider>> | undefined;
  handlers.start = async () => {
    peer = await startOidcProvider();
    // Rows like scopegate's seeded ones, newest first, so that the answers are the same size.
    const rows = demoMeasurements("baseline-user")
      .sort((a, b) => b.recordedAt.getTime() - a.recordedAt.getTime())
      .slice(0, 100)
      .map(({ type, value, unit, recordedAt }) => ({ id: randomUUID(), type, value, unit, recordedAt }));
    const yoga = await startBaselineGraphQL(rows);
    serverErrors = () => peer!.serverErrors();
    stop = async () => {
      await Promise.all([peer!.stop(), yoga.stop()]);
      return null;
    };
    const info: PeersInfo = {
      oidcName: peer.name,
      oidcUrl: peer.url,
      clientId: peer.clientId,
      clientSecret: peer.clientSecret,
      opaqueResource: peer.opaqueResource,
      yogaName: yoga.name,
      yogaUrl: yoga.url,
    };
    return info;
  };
  handlers.mintRefreshTokens = (count) => peer!.mintRefreshTokens(count as number);
} else if (role === "attacker") {
  // Load from a process of its own, beside the parent's: the alias attack (or a flood of the
  // cheapest request, for reference) while the parent measures a normal read.
  const { checkAnsweredOrRateLimited, checkLimitRefusal, runLoad } = await import("./load.ts");
  handlers.attack = (args) => {
    const { url, headers, body, connections, durationS, expect, rate } = args as {
      url: string;
      headers: Record<string, string>;
      body: string;
      connections: number;
      durationS: number;
      /**
       * "refused": every answer must be a refusal (400 from the GraphQL limits; 429 if a rate limit answers first);
       * "answered or rate-limited": a 200 with data and no errors, or a 429 (the worst admitted query at one token's limits);
       * "answered": any 2xx
       */
      expect: "refused" | "answered or rate-limited" | "answered";
      /** requests per second over all connections; unset: as fast as answers come */
      rate?: number;
    };
    const spec =
      expect === "refused"
        ? { url, headers, body, check: checkLimitRefusal, okStatuses: [400, 429] }
        : expect === "answered or rate-limited"
          ? { url, headers, body, check: checkAnsweredOrRateLimited, okStatuses: [200, 429] }
          : { url, headers, body, check: () => null };
    return runLoad(spec, { connections, durationS, ...(rate ? { overallRate: rate } : {}) });
  };
} else {
  throw new Error(`bench/server-process.ts: unknown role ${String(role)}`);
}

// A CPU profile of this process between two moments the parent chooses (BENCH_CPU_PROF): what --cpu-prof
// records, without the set-up and the other phases around it.
let profiler: Session | undefined;
handlers.profileStart = async () => {
  profiler = new Session();
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
  return null;
};
handlers.profileStop = async (args) => {
  const { dir, name } = args as { dir: string; name: string };
  if (!profiler) throw new Error("profileStop without profileStart");
  const { profile } = await profiler.post("Profiler.stop");
  profiler.disconnect();
  profiler = undefined;
  mkdirSync(dir, { recursive: true });
  const file = path.resolve(dir, `${name}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return file;
};
handlers.stats = (): Stats => ({ sql: sqlStatements, rss: process.memoryUsage.rss(), serverErrors: serverErrors() });
handlers.stop = async () => {
  const problem = await stop();
  setImmediate(() => process.exit(0));
  return problem;
};

process.on("message", (message: Request) => {
  void (async () => {
    try {
      const handler = handlers[message.op];
      if (!handler) throw new Error(`unknown op ${message.op}`);
      process.send!({ id: message.id, result: (await handler(message.args)) ?? null });
    } catch (err) {
      process.send!({ id: message.id, error: (err as Error).stack ?? String(err) });
    }
  })();
});
// The parent went away (crashed, or was killed at its time limit): clean up what we created, then go.
process.on("disconnect", () => {
  const bye = setTimeout(() => process.exit(1), 5_000);
  bye.unref();
  void stop().finally(() => process.exit(0));
});
process.send!({ ready: true });
