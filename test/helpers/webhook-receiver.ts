import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** One request the receiver got. */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, any> };
  /** the secrets (of those the test gave) that verify it with the standardwebhooks package */
  verifiedWith: string[];
}

/**
 * A real webhook receiver on 127.0.0.1: records every request, checks its
 * signature with the `standardwebhooks` package against the secrets the test
 * gives it, and answers what the test says (a status, or holding the answer
 * until released).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** the status the next requests get */
  status = 204;
  /** while set, requests wait for release() before they are answered */
  private holding: (() => void)[] | null = null;
  private waiters: (() => void)[] = [];
  private secrets: string[] = [];
  private server: http.Server;
  url = "";

  private constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const headers = {
          "webhook-id": String(req.headers["webhook-id"] ?? ""),
          "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
          "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
        };
        const verifiedWith = this.secrets.filter((secret) => {
          try {
            new Webhook(secret).verify(body, headers);
            return true;
          } catch {
            return false;
          }
        });
        this.received.push({
          id: headers["webhook-id"],
          timestamp: headers["webhook-timestamp"],
          signature: headers["webhook-signature"],
          body,
          payload: JSON.parse(body),
          verifiedWith,
        });
        const answer = () => {
          if (!res.destroyed) res.writeHead(this.status).end();
        };
        if (this.holding) this.holding.push(answer);
        else answer();
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      });
    });
  }

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await new Promise<void>((resolve) => r.server.listen(0, "127.0.0.1", resolve));
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hooks/scopegate?token=do-not-log`;
    return r;
  }

  /** Secrets the signatures are checked against. */
  trust(...secrets: string[]): void {
    this.secrets.push(...secrets);
  }

  hold(): void {
    this.holding ??= [];
  }

  /** Answers being held right now. */
  get held(): number {
    return this.holding?.length ?? 0;
  }

  release(): void {
    const held = this.holding ?? [];
    this.holding = null;
    for (const answer of held) answer();
  }

  /** The requests so far of one event type (or all). */
  of(type?: string): ReceivedWebhook[] {
    return type ? this.received.filter((r) => r.payload.type === type) : this.received;
  }

  /** Resolves once `predicate` holds over what was received; rejects after `timeoutMs`. */
  async waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs = 10_000): Promise<ReceivedWebhook[]> {
    const end = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for webhooks; got ${JSON.stringify(this.received.map((r) => r.payload.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received;
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
