/**
 * The two ends of the webhook_drain case (bench/webhook-drain.ts) that are not
 * scopegate, each run in a child process of its own (bench/server-process.ts,
 * roles "webhook-receiver" and "webhook-sender"), so that neither shares an
 * event loop with the server or with the parent's load generator.
 *
 * The receiver is what a partner runs: node:http on 127.0.0.1, answering 204
 * (at once, or after holding the answer for a while: a slow receiver), and
 * counting distinct webhook-id values. The sender is the baseline: a plain
 * loop that signs and POSTs bodies of the same size to the same receiver, one
 * new connection per request and a fixed number in flight, as the delivery
 * worker does (src/lib/guarded-fetch.ts connects anew each time, to the
 * address it has just checked).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { webhookBody } from "../src/webhooks/events.ts";
import { newWebhookId, signWebhook, webhookTimestamp } from "../src/webhooks/signature.ts";

/** Milliseconds since the epoch with sub-millisecond precision, comparable between processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface ReceiverCount {
  /** distinct webhook-id values since the last reset */
  distinct: number;
  /** requests since the last reset (a retry of one id counts again) */
  requests: number;
  /** when the first and the latest new id arrived (nowMs()); null before any */
  firstAt: number | null;
  lastAt: number | null;
  /** mean request body size */
  meanBodyBytes: number;
  /** the first request after the reset, checked with the standardwebhooks package against the secret given: null when no secret was given */
  verified: boolean | null;
  /** requests without a webhook-id */
  missingId: number;
}

export interface Receiver {
  url: string;
  /** Forgets what was counted; from now on answers after `holdMs` (0: at once), and checks the first request against `secret`. */
  reset(options: { holdMs: number; secret?: string }): void;
  count(): ReceiverCount;
  /** Resolves once `distinct` ids have arrived since the reset, or after timeoutMs with what arrived. */
  waitFor(distinct: number, timeoutMs: number): Promise<ReceiverCount>;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let ids = new Set<string>();
  let requests = 0;
  let bodyBytes = 0;
  let missingId = 0;
  let firstAt: number | null = null;
  let lastAt: number | null = null;
  let holdMs = 0;
  let checker: Webhook | null = null;
  let verified: boolean | null = null;
  let waiters: { distinct: number; resolve: () => void }[] = [];
  const held = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (checker && verified === null) chunks.push(c);
    });
    req.on("end", () => {
      requests++;
      bodyBytes += size;
      const id = req.headers["webhook-id"];
      if (typeof id !== "string" || !id) missingId++;
      else if (!ids.has(id)) {
        ids.add(id);
        lastAt = nowMs();
        firstAt ??= lastAt;
      }
      if (checker && verified === null) {
        try {
          checker.verify(Buffer.concat(chunks).toString("utf8"), req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
      }
      const answer = () => {
        if (!res.destroyed) res.writeHead(204).end();
      };
      if (holdMs > 0) {
        const t = setTimeout(() => {
          held.delete(t);
          answer();
        }, holdMs);
        held.add(t);
      } else answer();
      if (waiters.length) {
        const now = ids.size;
        const ready = waiters.filter((w) => w.distinct <= now);
        waiters = waiters.filter((w) => w.distinct > now);
        for (const w of ready) w.resolve();
      }
    });
  });
  // Every delivery comes on a connection of its own; keep the default backlog from refusing a burst of them.
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/scopegate`;

  const count = (): ReceiverCount => ({
    distinct: ids.size,
    requests,
    firstAt,
    lastAt,
    meanBodyBytes: requests ? bodyBytes / requests : 0,
    verified,
    missingId,
  });

  return {
    url,
    reset(options) {
      ids = new Set();
      requests = 0;
      bodyBytes = 0;
      missingId = 0;
      firstAt = null;
      lastAt = null;
      holdMs = options.holdMs;
      checker = options.secret ? new Webhook(options.secret) : null;
      verified = null;
    },
    count,
    async waitFor(distinct, timeoutMs) {
      if (ids.size < distinct) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, timeoutMs);
          function done() {
            clearTimeout(timer);
            waiters = waiters.filter((w) => w.resolve !== done);
            resolve();
          }
          waiters.push({ distinct, resolve: done });
        });
      }
      return count();
    },
    async stop() {
      for (const t of held) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface SenderResult {
  sent: number;
  /** answered 2xx */
  ok: number;
  errors: number;
  firstError: string | null;
  startedAt: number;
  endedAt: number;
  bodyBytes: number;
}

/**
 * The baseline: `count` POSTs of a measurement.created body (the shape and
 * size scopegate sends) to `url`, each with a new webhook-id and signed with
 * `secret` as the worker signs, `concurrency` in flight, a new connection for
 * each (agent: false, as guardedFetch).
 */
export async function sendSigned(args: { url: string; count: number; concurrency: number; secret: string }): Promise<SenderResult> {
  const target = new URL(args.url);
  const body = webhookBody(
    {
      type: "measurement.created",
      userId: "00000000-0000-4000-8000-000000000000",
      measurement: { id: "00000000-0000-4000-8000-000000000001", type: "HEART_RATE", value: 72, unit: "bpm", recordedAt: new Date() },
    },
    new Date(),
  );
  const bytes = Buffer.byteLength(body);
  let next = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | null = null;
  const one = () =>
    new Promise<void>((resolve) => {
      const headers = signWebhook({ id: newWebhookId(), timestamp: webhookTimestamp(), body, secrets: [args.secret] });
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          agent: false,
          headers: { ...headers, "content-type": "application/json", "content-length": String(bytes), "user-agent": "bench-sender" },
          timeout: 10_000,
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode! >= 200 && res.statusCode! < 300) ok++;
            else {
              errors++;
              firstError ??= `HTTP ${res.statusCode}`;
            }
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => {
        errors++;
        firstError ??= err.message;
        resolve();
      });
      req.end(body);
    });
  const startedAt = nowMs();
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (next < args.count) {
        next++;
        await one();
      }
    }),
  );
  return { sent: next, ok, errors, firstError, startedAt, endedAt: nowMs(), bodyBytes: bytes };
}
