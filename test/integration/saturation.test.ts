// Saturation degrades, never breaks: with a pool of one connection and a short
// acquire bound, bursts of 64 concurrent requests get answers or 503s with
// Retry-After (in each surface's own error form), never a 500; and while the
// only connection is held, every endpoint that needs the database says 503.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { AUDIT_BUFFER_MAX } from "../../src/audit/buffer.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { signedInUser } from "../helpers/oauth.ts";
import type { WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const BURST = 64;

let server: TestServer;
let basic: string;
let accessToken: string;
let web: WebClient;

const MEASUREMENTS = "query Latest { me { measurements(first: 20) { edges { node { id value } } } } }";

function tokenRequest(body: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body).toString(),
  });
}

function introspect(token: string): Promise<Response> {
  return fetch(`${server.url}/v1/oauth/introspect`, {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
}

function graphql(query = MEASUREMENTS): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query }),
  });
}

const page = () => web.fetch("/account/apps");
const healthz = () => fetch(`${server.url}/healthz`);

interface Answer {
  status: number;
  retryAfter: string | null;
  body: string;
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
}

async function burst(send: () => Promise<Response>): Promise<Answer[]> {
  return Promise.all(Array.from({ length: BURST }, () => send().then(answer)));
}

/** No 5xx but 503; every 503 says when to retry. */
function expectDegradedNotBroken(answers: Answer[]): void {
  for (const a of answers) {
    if (a.status >= 500) {
      expect(a.status, a.body.slice(0, 300)).toBe(503);
      expect(a.retryAfter).toMatch(/^\d+$/);
    }
  }
}

function expectOAuthUnavailable(a: Answer): void {
  expect(a.status, a.body.slice(0, 300)).toBe(503);
  expect(a.retryAfter).toMatch(/^\d+$/);
  const body = JSON.parse(a.body) as { error: string; error_description: string };
  expect(body.error).toBe("temporarily_unavailable");
  expect(body.error_description).not.toMatch(/prisma|timeout exceeded|pg_|\bat \w+ \(/i);
}

function expectGraphQLUnavailable(a: Answer): void {
  expect(a.status, a.body.slice(0, 300)).toBe(503);
  expect(a.retryAfter).toMatch(/^\d+$/);
  const body = JSON.parse(a.body) as { errors: { message: string; extensions?: { code?: string } }[] };
  expect(body.errors.map((e) => e.extensions?.code)).toContain("SERVICE_UNAVAILABLE");
  expect(a.body).not.toMatch(/prisma|timeout exceeded|Unexpected error/i);
}

/** Runs `fn` while a transaction holds the server's only pooled connection. */
async function withPoolHeld(fn: () => Promise<void>): Promise<void> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let holding!: () => void;
  const held = new Promise<void>((r) => (holding = r));
  const tx = server.db.prisma
    .$transaction(
      async (t) => {
        await t.$queryRaw`SELECT 1`;
        holding();
        await released;
      },
      { timeout: 60_000 },
    )
    .catch(() => {});
  await held;
  try {
    await fn();
  } finally {
    release();
    await tx;
  }
}

beforeAll(async () => {
  server = await startTestServer({ DATABASE_POOL_MAX: "1", DATABASE_ACQUIRE_TIMEOUT_MS: "150" });
  const owner = await signUp(server.db.prisma, { name: "Owner", email: "owner@example.com", password: "correct horse battery" });
  if (!owner.ok) throw new Error("signup failed");
  const created = await insertClient(server.db.prisma, {
    ownerId: owner.user.id,
    name: "Backend",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/callback"],
    scopes: ["profile:read", "data:read"],
  });
  basic = `Basic ${Buffer.from(`${created.client.clientId}:${created.clientSecret}`).toString("base64")}`;
  const res = await tokenRequest({ grant_type: "client_credentials", scope: "data:read" });
  expect(res.status).toBe(200);
  accessToken = ((await res.json()) as { access_token: string }).access_token;
  ({ web } = await signedInUser(server));
});
afterAll(async () => {
  await server?.stop();
});

describe("while the only database connection is held", () => {
  it("each surface answers 503 with Retry-After in its own error form, and recovers once it is free", async () => {
    await withPoolHeld(async () => {
      // a refresh token and an opaque token can only be looked up in the database
      expectOAuthUnavailable(await answer(await tokenRequest({ grant_type: "refresh_token", refresh_token: "not-a-real-refresh-token" })));
      expectOAuthUnavailable(await answer(await introspect("an-opaque-token-to-look-up")));
      expectGraphQLUnavailable(await answer(await graphql()));
      const pageAnswer = await answer(await page());
      expect(pageAnswer.status).toBe(503);
      expect(pageAnswer.retryAfter).toMatch(/^\d+$/);
      const health = await answer(await healthz());
      expect(health.status).toBe(503);
      expect(health.retryAfter).toMatch(/^\d+$/);
    });
    expect((await tokenRequest({ grant_type: "refresh_token", refresh_token: "not-a-real-refresh-token" })).status).toBe(400);
    expect((await introspect("an-opaque-token-to-look-up")).status).toBe(200);
    expect((await graphql()).status).toBe(200);
    expect((await page()).status).toBe(200);
    expect((await healthz()).status).toBe(200);
  });

  it("a burst of 64 at each endpoint gets only answers and 503s, never another 5xx", async () => {
    await withPoolHeld(async () => {
      const token = await burst(() => tokenRequest({ grant_type: "refresh_token", refresh_token: "not-a-real-refresh-token" }));
      expectDegradedNotBroken(token);
      for (const a of token.filter((x) => x.status === 503)) expectOAuthUnavailable(a);
      const intro = await burst(() => introspect("an-opaque-token-to-look-up"));
      expectDegradedNotBroken(intro);
      for (const a of intro.filter((x) => x.status === 503)) expectOAuthUnavailable(a);
      const gql = await burst(() => graphql());
      expectDegradedNotBroken(gql);
      for (const a of gql.filter((x) => x.status === 503)) expectGraphQLUnavailable(a);
      expectDegradedNotBroken(await burst(page));
      expectDegradedNotBroken(await burst(healthz));
    });
  });
});

describe("bursts of 64 concurrent requests on a pool of one", () => {
  it("token endpoint (client_credentials)", async () => {
    const answers = await burst(() => tokenRequest({ grant_type: "client_credentials", scope: "data:read" }));
    expectDegradedNotBroken(answers);
    for (const a of answers.filter((x) => x.status === 503)) expectOAuthUnavailable(a);
    for (const a of answers.filter((x) => x.status < 500)) expect(a.status, a.body.slice(0, 200)).toBe(200);
  });

  it("introspection", async () => {
    const answers = await burst(() => introspect(accessToken));
    expectDegradedNotBroken(answers);
    for (const a of answers.filter((x) => x.status === 503)) expectOAuthUnavailable(a);
    for (const a of answers.filter((x) => x.status < 500)) expect(JSON.parse(a.body)).toMatchObject({ active: true });
  });

  it("/graphql", async () => {
    const answers = await burst(() => graphql());
    expectDegradedNotBroken(answers);
    for (const a of answers.filter((x) => x.status === 503)) expectGraphQLUnavailable(a);
    for (const a of answers.filter((x) => x.status < 500)) expect(a.status, a.body.slice(0, 200)).toBe(200);
  });

  it("a signed-in page and /healthz", async () => {
    for (const answers of [await burst(page), await burst(healthz)]) {
      expectDegradedNotBroken(answers);
      for (const a of answers.filter((x) => x.status < 500)) expect(a.status).toBe(200);
    }
  });
});

describe("while the audit buffer is full", () => {
  it("a bearer request to /graphql and the token endpoint answer 503 with Retry-After, no event is dropped, and both answer again once it is written", async () => {
    // Stopping writes what is pending and stops the timer: from here the buffer only fills.
    await server.audit.stop();
    try {
      for (let i = server.audit.pending(); i < AUDIT_BUFFER_MAX; i++) server.audit.push({ action: "data.read", detail: "filler" });
      expectGraphQLUnavailable(await answer(await graphql()));
      expectOAuthUnavailable(await answer(await tokenRequest({ grant_type: "client_credentials", scope: "data:read" })));
      expect(server.audit.pending()).toBe(AUDIT_BUFFER_MAX);
    } finally {
      await server.audit.flush();
      server.audit.start();
    }
    expect(await server.db.prisma.auditEvent.count({ where: { detail: "filler" } })).toBe(AUDIT_BUFFER_MAX);
    expect((await graphql()).status).toBe(200);
    expect((await tokenRequest({ grant_type: "client_credentials", scope: "data:read" })).status).toBe(200);
  });
});
