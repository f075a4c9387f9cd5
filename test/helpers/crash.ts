/**
 * Crash-safety harness (issue 12 item 7): users and clients seeded into a
 * database, a load of concurrent authorization-code flows (consent POSTs, code
 * redemptions, refresh rotations, refresh-token reuse that revokes a grant)
 * against a real server process, and the invariants checked after that process
 * was killed with SIGKILL and started again on the same database: by SQL and
 * through the API. Used by test/integration/crash*.test.ts.
 */
import { createHash } from "node:crypto";
import * as oauth from "oauth4webapi";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import type { Database } from "../../src/db/index.ts";
import { WebClient } from "./http.ts";
import type { Exit, ServerProcess } from "./process.ts";
import { authorizationUrl, checkboxes, insecure, location, PASSWORD, submitConsent } from "./oauth.ts";

export const CRASH_REDIRECT = "http://localhost:3000/callback";
const OWN_SCOPES = ["profile:read", "data:read", "data:write"];

export interface CrashClient {
  clientId: string;
  rowId: string;
  secret: string | null;
  scopes: string[];
}

export interface CrashFixture {
  users: { id: string; email: string }[];
  clients: CrashClient[];
}

/** Users (the last one is the one whose grants get revoked by refresh-token reuse) and clients of both types. */
export async function seedCrashFixture(db: Database, users = 4): Promise<CrashFixture> {
  const fixture: CrashFixture = { users: [], clients: [] };
  for (let i = 0; i < users; i++) {
    const email = `crash${i}-${Date.now()}@example.com`;
    const r = await signUp(db.prisma, { name: `Crash ${i}`, email, password: PASSWORD });
    if (!r.ok) throw new Error(`signUp: ${JSON.stringify(r.errors)}`);
    fixture.users.push({ id: r.user.id, email });
  }
  const shapes = [
    { type: "CONFIDENTIAL" as const, scopes: OWN_SCOPES },
    { type: "PUBLIC" as const, scopes: ["profile:read", "data:read"] },
    { type: "CONFIDENTIAL" as const, scopes: ["data:read", "data:write"] },
  ];
  for (const [i, s] of shapes.entries()) {
    const { client, clientSecret } = await insertClient(db.prisma, {
      ownerId: fixture.users[0]!.id,
      name: `Crash client ${i}`,
      environment: "PRODUCTION",
      type: s.type,
      redirectUris: [CRASH_REDIRECT],
      scopes: s.scopes,
    });
    fixture.clients.push({ clientId: client.clientId, rowId: client.id, secret: clientSecret, scopes: s.scopes });
  }
  return fixture;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const someOf = <T>(xs: readonly T[]): T[] => xs.filter(() => Math.random() < 0.5);
const pairKey = (userIdx: number, clientIdx: number) => `${userIdx}/${clientIdx}`;

/** The token endpoint's answer: status and parsed body (or a network failure, thrown). */
async function tokenRequest(baseUrl: string, client: CrashClient, fields: Record<string, string>) {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  const body = new URLSearchParams(fields);
  if (client.secret) headers.authorization = `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString("base64")}`;
  else body.set("client_id", client.clientId);
  const res = await fetch(`${baseUrl}/v1/oauth/token`, { method: "POST", headers, body: body.toString() });
  const json = (await res.json().catch(() => ({}))) as Record<string, string>;
  return { status: res.status, json };
}

interface Family {
  pair: string;
  clientIdx: number;
  /** the refresh token the client holds now */
  current: string;
  /** a rotation was sent and its answer never came: the client cannot know which token is live */
  pending: boolean;
}

interface Redeemed {
  clientIdx: number;
  code: string;
  verifier: string;
}

interface Revoked {
  pair: string;
  clientIdx: number;
  /** access tokens issued before the grant was revoked: refused from then on */
  accessTokens: string[];
  refreshToken: string;
}

/**
 * Concurrent authorization-code flows against one server. Workers on users
 * 0..n-2 consent (mostly with prompt=consent, ticking a random part of what
 * is new, so grants are created and widened concurrently), redeem the code and
 * rotate the refresh token a few times. Workers on the last user replay a
 * rotated refresh token, which revokes the grant. Everything the client saw
 * answered is recorded, so that what must have survived a crash is known.
 */
export class CrashLoad {
  private as!: oauth.AuthorizationServer;
  private readonly webs: WebClient[] = [];
  private stopped = false;
  private killedAt = Number.POSITIVE_INFINITY;
  private workers: Promise<void>[] = [];
  /** pair -> scopes whose consent POST got its redirect with a code */
  readonly consented = new Map<string, Set<string>>();
  readonly redeemed: Redeemed[] = [];
  readonly families: Family[] = [];
  readonly revoked: Revoked[] = [];
  /** answers that were wrong while the server was up (5xx, unexpected statuses, network errors before the kill) */
  readonly failures: string[] = [];
  flows = 0;
  rotations = 0;

  constructor(
    private baseUrl: string,
    readonly fixture: CrashFixture,
    readonly issuer: string,
  ) {}

  /** Discovery and one signed-in browser per user. */
  async prepare(): Promise<void> {
    const issuer = new URL(this.issuer);
    this.as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(new URL(this.baseUrl), { ...insecure, algorithm: "oauth2" }),
    );
    // Discovery names the issuer's host; requests go to where the server listens.
    this.webs.length = 0;
    for (const u of this.fixture.users) {
      const web = new WebClient(this.baseUrl);
      const { res } = await web.signIn({ email: u.email, password: PASSWORD });
      if (res.status !== 303) throw new Error(`sign-in of ${u.email} answered ${res.status}`);
      this.webs.push(web);
    }
  }

  start(workers: number): void {
    this.stopped = false;
    this.killedAt = Number.POSITIVE_INFINITY;
    const revokers = Math.max(1, Math.floor(workers / 6));
    this.workers = Array.from({ length: workers }, (_, i) => this.worker(i < revokers));
  }

  /**
   * Resolves once `flows` flows and a revocation have completed since start():
   * the server is warm, and every kind of write has been made at least once.
   */
  async warmedUp(flows: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    const from = this.flows;
    const revokedFrom = this.revoked.length;
    while (this.flows - from < flows || this.revoked.length === revokedFrom) {
      if (Date.now() > until) {
        throw new Error(
          `only ${this.flows - from} flows, ${this.revoked.length - revokedFrom} revocations in ${timeoutMs} ms: ${this.failures.join("; ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Call right after the kill: workers stop at their next step; errors from now on are the kill's. */
  markKilled(): void {
    this.killedAt = Date.now();
    this.stopped = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  /**
   * One crash: `workers` concurrent workers on `server` until the load is warm
   * and busy, then SIGKILL at a random moment of it. Returns how the process
   * ended and the failures seen while the server was up (both for the caller to assert).
   */
  async killUnderLoad(server: ServerProcess, workers: number): Promise<{ signal: Exit["signal"]; failures: string[] }> {
    await this.prepare();
    this.start(workers);
    // Warm and busy first, then a random moment of the load.
    await this.warmedUp(8);
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 1_300));
    server.child.kill("SIGKILL");
    this.markKilled();
    const { signal } = await server.exited;
    await this.stop();
    return { signal, failures: this.failures };
  }

  /**
   * After checkThroughApi: its refreshes spent the families' tokens, and its
   * code replays revoked what those codes issued. Consents stay: they must
   * survive every later crash too.
   */
  nextRound(): void {
    this.families.length = 0;
  }

  private fail(what: string): void {
    if (Date.now() < this.killedAt) this.failures.push(what);
  }

  private get normalUsers(): number {
    return this.fixture.users.length - 1;
  }

  private async worker(revoker: boolean): Promise<void> {
    while (!this.stopped) {
      try {
        if (revoker) await this.reuseFlow();
        else await this.consentFlow();
      } catch (err) {
        // A network error: the server died under the request (after the kill), or a real failure (before it).
        this.fail(`network error: ${(err as Error).message}`);
        if (this.stopped) return;
      }
    }
  }

  /** GET /authorize (and the consent POST when the page is shown); the code, or null. */
  private async authorize(
    userIdx: number,
    clientIdx: number,
    scope: string,
    prompt: string | null,
  ): Promise<{ code: string; verifier: string } | null> {
    const web = this.webs[userIdx]!;
    const client = this.fixture.clients[clientIdx]!;
    const req = await authorizationUrl(this.as, client.clientId, CRASH_REDIRECT, scope, { prompt, nonce: null });
    let res = await web.fetch(`/v1/oauth/authorize${req.url.search}`);
    let ticked: string[] | null = null;
    if (res.status === 200) {
      const html = await res.text();
      const choosable = checkboxes(html)
        .filter((b) => !b.disabled && b.value)
        .map((b) => b.value!);
      ticked = someOf(choosable);
      if (ticked.length === 0 && choosable.length) ticked = [pick(choosable)];
      res = (await submitConsent(web, html, { decision: "allow", ticked })).res;
    }
    if (res.status !== 302 && res.status !== 303) {
      this.fail(`authorize answered ${res.status}`);
      return null;
    }
    const callback = location(res, this.baseUrl);
    const code = callback.searchParams.get("code");
    if (!code || callback.searchParams.get("state") !== req.state) {
      this.fail(`authorize redirected without a code: ${callback.search}`);
      return null;
    }
    if (ticked && userIdx < this.normalUsers) {
      // The consent POST came back with its redirect: this consent must survive anything
      // (the last user's grants are revoked on purpose).
      const key = pairKey(userIdx, clientIdx);
      const set = this.consented.get(key) ?? new Set<string>();
      for (const s of ticked) set.add(s);
      this.consented.set(key, set);
    }
    return { code, verifier: req.verifier };
  }

  private async redeem(clientIdx: number, code: string, verifier: string) {
    const client = this.fixture.clients[clientIdx]!;
    const r = await tokenRequest(this.baseUrl, client, {
      grant_type: "authorization_code",
      code,
      redirect_uri: CRASH_REDIRECT,
      code_verifier: verifier,
    });
    if (r.status !== 200) {
      this.fail(`code exchange answered ${r.status} ${JSON.stringify(r.json)}`);
      return null;
    }
    this.redeemed.push({ clientIdx, code, verifier });
    return r.json;
  }

  private async consentFlow(): Promise<void> {
    const userIdx = Math.floor(Math.random() * this.normalUsers);
    const clientIdx = Math.floor(Math.random() * this.fixture.clients.length);
    const client = this.fixture.clients[clientIdx]!;
    const wanted = someOf(client.scopes);
    const scope = [...(wanted.length ? wanted : [pick(client.scopes)]), "offline_access"].join(" ");
    const issued = await this.authorize(userIdx, clientIdx, scope, Math.random() < 0.7 ? "consent" : null);
    if (!issued || this.stopped) return;
    const tokens = await this.redeem(clientIdx, issued.code, issued.verifier);
    if (!tokens?.refresh_token) return;
    const family: Family = { pair: pairKey(userIdx, clientIdx), clientIdx, current: tokens.refresh_token, pending: false };
    this.families.push(family);
    this.flows++;
    const rotations = Math.floor(Math.random() * 4);
    for (let i = 0; i < rotations && !this.stopped; i++) {
      family.pending = true;
      const r = await tokenRequest(this.baseUrl, client, { grant_type: "refresh_token", refresh_token: family.current });
      if (r.status !== 200 || !r.json.refresh_token) {
        family.pending = false;
        this.fail(`refresh answered ${r.status} ${JSON.stringify(r.json)}`);
        return;
      }
      family.current = r.json.refresh_token;
      family.pending = false;
      this.rotations++;
    }
  }

  /** Consent, redeem, rotate, then present the rotated token again: the grant is revoked. */
  private async reuseFlow(): Promise<void> {
    const userIdx = this.fixture.users.length - 1;
    const clientIdx = Math.floor(Math.random() * this.fixture.clients.length);
    const client = this.fixture.clients[clientIdx]!;
    const issued = await this.authorize(userIdx, clientIdx, [...client.scopes, "offline_access"].join(" "), "consent");
    if (!issued || this.stopped) return;
    const tokens = await this.redeem(clientIdx, issued.code, issued.verifier);
    if (!tokens?.refresh_token || this.stopped) return;
    const rotated = await tokenRequest(this.baseUrl, client, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    if (rotated.status !== 200) {
      // Another revoker's reuse on the same pair may have ended this grant meanwhile.
      if (rotated.status !== 400) this.fail(`refresh answered ${rotated.status} ${JSON.stringify(rotated.json)}`);
      return;
    }
    if (this.stopped) return;
    const reuse = await tokenRequest(this.baseUrl, client, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    if (reuse.status !== 400 || reuse.json.error !== "invalid_grant") {
      this.fail(`refresh-token reuse answered ${reuse.status} ${JSON.stringify(reuse.json)}`);
      return;
    }
    this.revoked.push({
      pair: pairKey(userIdx, clientIdx),
      clientIdx,
      accessTokens: [tokens.access_token!, rotated.json.access_token!],
      refreshToken: rotated.json.refresh_token!,
    });
  }

  // --- after the restart --------------------------------------------------

  /**
   * The invariants through the API, on the restarted server (`baseUrl`).
   * Returns what is wrong (empty when everything holds). Order matters: the
   * code replays at the end revoke what those codes issued.
   */
  async checkThroughApi(baseUrl: string): Promise<string[]> {
    this.baseUrl = baseUrl;
    const wrong: string[] = [];
    const health = await fetch(`${baseUrl}/healthz`);
    if (health.status !== 200) wrong.push(`/healthz answered ${health.status}`);
    await this.prepare();

    // Every completed consent is there: asking for what was consented skips the page...
    for (const [key, scopes] of this.consented) {
      const [userIdx, clientIdx] = key.split("/").map(Number) as [number, number];
      const req = await authorizationUrl(this.as, this.fixture.clients[clientIdx]!.clientId, CRASH_REDIRECT, [...scopes].join(" "), {
        nonce: null,
      });
      const res = await this.webs[userIdx]!.fetch(`/v1/oauth/authorize${req.url.search}`);
      if (res.status !== 302) {
        wrong.push(`consent of ${key} to ${[...scopes].join(" ")} lost: authorize answered ${res.status}`);
        continue;
      }
      // ...and the code it gives turns into a token carrying it.
      const code = location(res, baseUrl).searchParams.get("code");
      const r = await tokenRequest(baseUrl, this.fixture.clients[clientIdx]!, {
        grant_type: "authorization_code",
        code: code ?? "",
        redirect_uri: CRASH_REDIRECT,
        code_verifier: req.verifier,
      });
      const got = (r.json.scope ?? "").split(" ");
      if (r.status !== 200 || ![...scopes].every((s) => got.includes(s))) {
        wrong.push(`consent of ${key}: token answered ${r.status} scope "${r.json.scope}"`);
      }
    }

    // Every refresh token whose rotation the client saw answered still works once.
    for (const f of this.families) {
      if (f.pending) continue;
      const r = await tokenRequest(baseUrl, this.fixture.clients[f.clientIdx]!, { grant_type: "refresh_token", refresh_token: f.current });
      if (r.status !== 200) wrong.push(`refresh family of ${f.pair} broken: ${r.status} ${JSON.stringify(r.json)}`);
    }

    // A revoked grant stays revoked: its access tokens are refused, its refresh token too.
    for (const v of this.revoked) {
      for (const token of v.accessTokens) {
        const res = await fetch(`${baseUrl}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: "{ me { id } }" }),
        });
        if (res.status !== 401) wrong.push(`access token of the revoked grant ${v.pair} answered ${res.status}`);
      }
      const r = await tokenRequest(baseUrl, this.fixture.clients[v.clientIdx]!, {
        grant_type: "refresh_token",
        refresh_token: v.refreshToken,
      });
      if (r.status !== 400) wrong.push(`refresh token of the revoked grant ${v.pair} answered ${r.status}`);
    }

    // No code that gave the client its tokens can be redeemed again.
    for (const c of this.redeemed) {
      const r = await tokenRequest(baseUrl, this.fixture.clients[c.clientIdx]!, {
        grant_type: "authorization_code",
        code: c.code,
        redirect_uri: CRASH_REDIRECT,
        code_verifier: c.verifier,
      });
      if (r.status !== 400 || r.json.error !== "invalid_grant") wrong.push(`a redeemed code was accepted again: ${r.status}`);
    }
    return wrong;
  }

  /** The codes' hashes as stored, for SQL checks. */
  redeemedHashes(): string[] {
    return this.redeemed.map((c) => createHash("sha256").update(c.code).digest("base64url"));
  }
}

type Query = <T extends Record<string, unknown>>(sql: string, values?: unknown[]) => Promise<T[]>;

/**
 * The invariants by SQL: returns a description of each violation (empty when all hold).
 * `consented`: scopes each (user row id, client row id) completed a consent to.
 */
export async function checkDatabase(query: Query, load: CrashLoad): Promise<string[]> {
  const wrong: string[] = [];
  const expectNone = async (what: string, sql: string, values?: unknown[]) => {
    const rows = await query(sql, values);
    if (rows.length) wrong.push(`${what}: ${JSON.stringify(rows.slice(0, 5))}`);
  };
  await expectNone(
    "more than one live grant for a user and client",
    `SELECT "userId", "clientId", count(*)::int AS n FROM "Grant" WHERE "revokedAt" IS NULL GROUP BY 1, 2 HAVING count(*) > 1`,
  );
  await expectNone("a grant without scopes", `SELECT id FROM "Grant" WHERE cardinality(scopes) = 0`);
  await expectNone(
    "a grant without the audit event of its creation",
    `SELECT g.id FROM "Grant" g WHERE NOT EXISTS (SELECT 1 FROM "AuditEvent" a WHERE a."grantId" = g.id AND a.action = 'grant.created')`,
  );
  await expectNone(
    "a code that is not its grant's",
    `SELECT c.id FROM "AuthorizationCode" c JOIN "Grant" g ON g.id = c."grantId"
     WHERE c."userId" <> g."userId" OR c."clientId" <> g."clientId" OR NOT (c.scopes <@ g.scopes)`,
  );
  await expectNone(
    "a code that issued a token but is not marked used",
    `SELECT id FROM "AuthorizationCode" WHERE "accessTokenJti" IS NOT NULL AND "usedAt" IS NULL`,
  );
  await expectNone(
    "a refresh token wider than its grant",
    `SELECT t.id FROM "RefreshToken" t JOIN "Grant" g ON g.id = t."grantId" WHERE NOT (t.scopes <@ g.scopes)`,
  );
  await expectNone(
    "a refresh token whose code is missing, unused or was never exchanged",
    `SELECT t.id FROM "RefreshToken" t LEFT JOIN "AuthorizationCode" c ON c.id = t."codeId"
     WHERE c.id IS NULL OR c."usedAt" IS NULL OR c."accessTokenJti" IS NULL OR c."grantId" <> t."grantId"`,
  );
  await expectNone(
    "a refresh family with more than one live token",
    `SELECT "codeId", count(*)::int AS n FROM "RefreshToken" WHERE "rotatedAt" IS NULL AND "revokedAt" IS NULL GROUP BY 1 HAVING count(*) > 1`,
  );
  await expectNone(
    "a revoked grant without its change-feed event",
    `SELECT g.id FROM "Grant" g WHERE g."revokedAt" IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM "ChangeEvent" e WHERE e.kind = 'grant.revoked' AND e.subject = g.id)`,
  );
  await expectNone(
    "a grant.revoked event for a grant that is live",
    `SELECT e.seq::text FROM "ChangeEvent" e JOIN "Grant" g ON g.id = e.subject WHERE e.kind = 'grant.revoked' AND g."revokedAt" IS NULL`,
  );
  await expectNone(
    "a revoked grant with a live refresh token or an unused code",
    `SELECT g.id FROM "Grant" g WHERE g."revokedAt" IS NOT NULL AND (
       EXISTS (SELECT 1 FROM "RefreshToken" t WHERE t."grantId" = g.id AND t."revokedAt" IS NULL AND t."rotatedAt" IS NULL)
       OR EXISTS (SELECT 1 FROM "AuthorizationCode" c WHERE c."grantId" = g.id AND c."usedAt" IS NULL))`,
  );
  const hashes = load.redeemedHashes();
  if (hashes.length) {
    await expectNone(
      "a redeemed code that is missing or not marked used",
      `SELECT h FROM unnest($1::text[]) h WHERE NOT EXISTS (SELECT 1 FROM "AuthorizationCode" c WHERE c."codeHash" = h AND c."usedAt" IS NOT NULL)`,
      [hashes],
    );
  }
  for (const [key, scopes] of load.consented) {
    const [userIdx, clientIdx] = key.split("/").map(Number) as [number, number];
    const rows = await query<{ scopes: string[] }>(
      `SELECT scopes FROM "Grant" WHERE "userId" = $1 AND "clientId" = $2 AND "revokedAt" IS NULL`,
      [load.fixture.users[userIdx]!.id, load.fixture.clients[clientIdx]!.rowId],
    );
    const held = new Set(rows.flatMap((r) => r.scopes));
    const missing = [...scopes].filter((s) => !held.has(s));
    if (missing.length) wrong.push(`consent of ${key} lost in the database: ${missing.join(" ")} not in its live grant`);
  }
  return wrong;
}
