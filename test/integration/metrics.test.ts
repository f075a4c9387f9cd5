// GET /metrics: Prometheus text for Authorization: Bearer <METRICS_TOKEN> only,
// 404 while METRICS_TOKEN is unset; labels are route patterns, grant types,
// refusal reasons and capped GraphQL operation names, never raw paths or tokens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { GRAPHQL_OPERATION_LABEL_CAP, OTHER_OPERATION } from "../../src/metrics/metrics.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

describe("without METRICS_TOKEN", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("/metrics is the ordinary 404, with or without a bearer token", async () => {
    for (const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/metrics`, { headers });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found", error_description: "No route for GET /metrics" });
    }
  });
});

describe("with METRICS_TOKEN", () => {
  let server: TestServer;
  let basic: string;
  let accessToken: string;

  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    return parseExposition(await res.text());
  };

  const token = (body: Record<string, string>, authorization = basic) =>
    fetch(`${server.url}/v1/oauth/token`, {
      method: "POST",
      headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(body).toString(),
    });

  beforeAll(async () => {
    server = await startTestServer({ METRICS_TOKEN });
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
    const res = await token({ grant_type: "client_credentials", scope: "profile:read" });
    expect(res.status).toBe(200);
    accessToken = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses a missing or wrong token with 401 and a Bearer challenge", async () => {
    const none = await fetch(`${server.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer /);
    for (const authorization of [`Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`, `Basic ${METRICS_TOKEN}`, "Bearer"]) {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(await res.text()).not.toContain("scopegate_");
    }
  });

  it("answers the right token with Prometheus text: requests by route pattern, pool use, revocation lag", async () => {
    await fetch(`${server.url}/healthz`);
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const samples = parseExposition(await res.text());
    expect(
      find(samples, "scopegate_http_requests_total", { route: "/healthz", method: "GET", status: "200" })?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      find(samples, "scopegate_http_request_duration_seconds_count", { route: "/healthz", method: "GET" })?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      find(samples, "scopegate_http_request_duration_seconds_bucket", { route: "/healthz", le: "+Inf" })?.value,
    ).toBeGreaterThanOrEqual(1);
    const poolMax = find(samples, "scopegate_db_pool_max_connections", {})?.value;
    expect(poolMax).toBe(server.db.kind === "embedded" ? 1 : 10);
    expect(find(samples, "scopegate_db_pool_connections", {})?.value).toBeGreaterThanOrEqual(0);
    expect(find(samples, "scopegate_db_pool_idle_connections", {})?.value).toBeGreaterThanOrEqual(0);
    expect(find(samples, "scopegate_db_pool_waiting", {})?.value).toBeGreaterThanOrEqual(0);
    expect(find(samples, "scopegate_revocation_view_lag_seconds", {})).toBeDefined();
    expect(find(samples, "process_resident_memory_bytes", {})?.value).toBeGreaterThan(0);
  });

  it("labels requests by route pattern, never by the raw path, its query or a token in it", async () => {
    const secret = "Zq9secretvalue";
    await fetch(`${server.url}/account/apps/${secret}/revoke?code=${secret}`);
    await fetch(`${server.url}/no/such/${secret}`);
    await fetch(`${server.url}/graphql`, { headers: { authorization: `Bearer ${secret}.${secret}.${secret}` } });
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await res.text();
    expect(text).not.toContain(secret);
    const samples = parseExposition(text);
    expect(find(samples, "scopegate_http_requests_total", { route: "/account/apps/:grantId/revoke", method: "GET" })).toBeDefined();
    // an unknown path is answered by the catch-all: one series for all of them
    expect(find(samples, "scopegate_http_requests_total", { route: "/*", method: "GET", status: "404" })).toBeDefined();
    expect(find(samples, "scopegate_refusals_total", { route: "/graphql", reason: "invalid_token" })?.value).toBeGreaterThanOrEqual(1);
  });

  it("counts tokens issued by grant type, and refusals by OAuth error code", async () => {
    const before = find(await scrape(), "scopegate_oauth_tokens_issued_total", { grant_type: "client_credentials" })?.value ?? 0;
    expect(before).toBeGreaterThanOrEqual(1); // the one beforeAll got
    expect((await token({ grant_type: "client_credentials" })).status).toBe(200);
    expect((await token({ grant_type: "client_credentials" }, `Basic ${Buffer.from("nobody:wrong").toString("base64")}`)).status).toBe(401);
    expect((await token({ grant_type: "password" })).status).toBe(400);
    const samples = await scrape();
    expect(find(samples, "scopegate_oauth_tokens_issued_total", { grant_type: "client_credentials" })?.value).toBe(before + 1);
    expect(find(samples, "scopegate_refusals_total", { route: "/v1/oauth/token", reason: "invalid_client" })?.value).toBe(1);
    expect(find(samples, "scopegate_refusals_total", { route: "/v1/oauth/token", reason: "unsupported_grant_type" })?.value).toBe(1);
  });

  it(`keeps at most ${GRAPHQL_OPERATION_LABEL_CAP} GraphQL operation names as labels and folds the rest into ${OTHER_OPERATION}`, async () => {
    const send = (query: string) =>
      fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query }),
      });
    for (let i = 0; i < 60; i++) {
      const res = await send(`query Op${i} { me { id } }`);
      expect(res.status).toBe(200);
    }
    expect((await send("{ me { id } }")).status).toBe(200);
    const samples = await scrape();
    const operations = new Set(samples.filter((s) => s.name === "scopegate_graphql_operations_total").map((s) => s.labels.operation!));
    expect(operations.has(OTHER_OPERATION)).toBe(true);
    expect(operations.has("(anonymous)")).toBe(true);
    const named = [...operations].filter((o) => /^Op\d+$/.test(o));
    expect(named.length).toBe(GRAPHQL_OPERATION_LABEL_CAP);
    expect(operations.size).toBeLessThanOrEqual(GRAPHQL_OPERATION_LABEL_CAP + 3); // + (other), (anonymous), (none)
    const first = find(samples, "scopegate_graphql_operations_total", { operation: "Op0", status: "200" });
    expect(first?.value).toBe(1);
    expect(find(samples, "scopegate_graphql_operation_duration_seconds_count", { operation: "Op0" })?.value).toBe(1);
    expect(find(samples, "scopegate_graphql_operations_total", { operation: OTHER_OPERATION, status: "200" })?.value).toBe(
      60 - GRAPHQL_OPERATION_LABEL_CAP,
    );
  });
});
