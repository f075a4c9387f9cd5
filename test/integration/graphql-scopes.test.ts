import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { getSchema } from "../../src/graphql/schema.ts";
import { schemaRules, type FieldRule } from "../../src/graphql/scope-rules.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { demoMeasurements, seedDemoActivity } from "../../src/seed/demo.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const opts = { [oauth.allowInsecureRequests]: true } as const;
let server: TestServer;
let as: oauth.AuthorizationServer;
let clientId: string;
let clientSecret: string;
let alice: string;
let bob: string;
let bobMeasurementId: string;
const statements: string[] = [];

const SCOPE_SETS = ["", "profile:read", "data:read", "data:write", "profile:read data:read data:write"] as const;
const tokens = new Map<string, string>();

async function issue(scope: string): Promise<string> {
  const client = { client_id: clientId };
  const res = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(clientSecret),
    new URLSearchParams({ scope }),
    opts,
  );
  const t = await oauth.processClientCredentialsResponse(as, client, res);
  expect(t.scope ?? "").toBe(scope);
  return t.access_token;
}

async function gql(token: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { data: any; errors?: { message: string; path?: string[]; extensions: any }[] };
}

function admits(rule: FieldRule, scopes: string[]): boolean {
  if (rule.kind === "authenticated") return true;
  if (rule.kind === "scopes") return rule.scopes.some((s) => scopes.includes(s));
  return false;
}

function expectRefusal(body: Awaited<ReturnType<typeof gql>>, path: string[], rule: FieldRule) {
  const error = body.errors?.find((e) => JSON.stringify(e.path) === JSON.stringify(path));
  expect(error, `an error at ${path.join(".")}`).toBeTruthy();
  if (rule.kind === "scopes") {
    expect(error!.extensions).toEqual({ code: "INSUFFICIENT_SCOPE", requiredScopes: rule.scopes });
  } else {
    expect(error!.extensions.code).toBe("FORBIDDEN");
  }
}

beforeAll(async () => {
  server = await startTestServer({}, { onQuery: (sql) => statements.push(sql) });
  const prisma = server.db.prisma;
  const a = await signUp(prisma, { name: "Alice", email: "alice@example.com", password: "correct horse battery" });
  const b = await signUp(prisma, { name: "Bob", email: "bob@example.com", password: "correct horse battery" });
  if (!a.ok || !b.ok) throw new Error("signup");
  alice = a.user.id;
  bob = b.user.id;
  await prisma.user.update({ where: { id: alice }, data: { birthDate: new Date("1990-05-06") } });
  await prisma.measurement.createMany({ data: demoMeasurements(alice) });
  await prisma.measurement.createMany({ data: demoMeasurements(bob) });
  await seedDemoActivity(prisma, alice);
  bobMeasurementId = (await prisma.measurement.findFirstOrThrow({ where: { userId: bob } })).id;
  const c = await insertClient(prisma, {
    ownerId: alice,
    name: "Alice's backend",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/cb"],
    scopes: ["profile:read", "data:read", "data:write"],
  });
  clientId = c.client.clientId;
  clientSecret = c.clientSecret!;
  const issuer = new URL(server.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: "oauth2" }));
  for (const s of SCOPE_SETS) tokens.set(s, await issue(s));
});
afterAll(async () => {
  await server?.stop();
});

// One selection per User field; the test fails when the schema grows a field this list lacks.
const USER_FIELDS: Record<string, string> = {
  id: "",
  name: "",
  email: "",
  birthDate: "",
  measurements: "(first: 3) { edges { cursor node { id type value unit recordedAt } } pageInfo { hasNextPage endCursor } }",
  sessions: "{ id activity startedAt endedAt distanceMeters calories locations { id latitude longitude recordedAt } }",
  locations: "{ id latitude longitude recordedAt }",
};

describe("every field answers or refuses as its rule declares, for real tokens of each scope set", () => {
  const rules = schemaRules(getSchema());
  const rule = (type: string, field: string) => rules.find((r) => r.type === type && r.field === field)!.rule;

  it("covers every User field", () => {
    expect(Object.keys(USER_FIELDS).sort()).toEqual(
      rules
        .filter((r) => r.type === "User")
        .map((r) => r.field)
        .sort(),
    );
  });

  for (const scopeSet of SCOPE_SETS) {
    const scopes = scopeSet.split(" ").filter(Boolean);
    it(`User fields with scopes [${scopeSet}]`, async () => {
      for (const [field, selection] of Object.entries(USER_FIELDS)) {
        const body = await gql(tokens.get(scopeSet)!, `{ me { id ${field}${selection} } }`);
        const r = rule("User", field);
        expect(body.data.me.id).toBe(alice);
        if (admits(r, scopes)) {
          expect({ field, errors: body.errors }).toEqual({ field, errors: undefined });
          expect(body.data.me[field]).not.toBeNull();
        } else {
          expect({ field, value: body.data.me[field] }).toEqual({ field, value: null });
          expectRefusal(body, ["me", field], r);
        }
      }
    });

    it(`root fields and mutations with scopes [${scopeSet}]`, async () => {
      const token = tokens.get(scopeSet)!;
      const viewer = await gql(token, "{ viewer { user { id } } }");
      expect(viewer.data.viewer).toBeNull();
      expectRefusal(viewer, ["viewer"], rule("Query", "viewer"));

      const record = await gql(token, `mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id } }`, {
        input: { type: "HEART_RATE", value: 61, unit: "bpm", recordedAt: new Date().toISOString() },
      });
      if (admits(rule("Mutation", "recordMeasurement"), scopes)) {
        expect(record.errors).toBeUndefined();
        expect(record.data.recordMeasurement.id).toBeTruthy();
      } else {
        expect(record.data.recordMeasurement).toBeNull();
        expectRefusal(record, ["recordMeasurement"], rule("Mutation", "recordMeasurement"));
      }

      const profile = await gql(token, `mutation { updateProfile(input: { name: "Mallory" }) { id } }`);
      expect(profile.data.updateProfile).toBeNull();
      expectRefusal(profile, ["updateProfile"], rule("Mutation", "updateProfile"));

      const create = await gql(
        token,
        `mutation { createOAuthClient(input: { name: "x", environment: DEVELOPMENT, type: PUBLIC, redirectUris: ["https://x.example/cb"], scopes: ["data:read"] }) { clientSecret } }`,
      );
      expect(create.data.createOAuthClient).toBeNull();
      expectRefusal(create, ["createOAuthClient"], rule("Mutation", "createOAuthClient"));
    });
  }

  it("a write-only token gets the id of what it wrote, but not the data", async () => {
    const body = await gql(
      tokens.get("data:write")!,
      `mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id value } }`,
      {
        input: { type: "STEPS", value: 1200, unit: "count", recordedAt: new Date().toISOString() },
      },
    );
    expect(body.data.recordMeasurement.id).toBeTruthy();
    expect(body.data.recordMeasurement.value).toBeNull();
    expect(body.errors![0]!.extensions).toEqual({ code: "INSUFFICIENT_SCOPE", requiredScopes: ["data:read"] });
  });
});

describe("a token sees only its own user", () => {
  const all = () => tokens.get("profile:read data:read data:write")!;

  it("aliases and fragments all resolve to the token's user", async () => {
    const body = await gql(
      all(),
      `{ a: me { id email } b: me { ...F } } fragment F on User { id email measurements(first: 100) { edges { node { id } } } }`,
    );
    expect(body.data.a).toEqual({ id: alice, email: "alice@example.com" });
    expect(body.data.b.id).toBe(alice);
    const ids = body.data.b.measurements.edges.map((e: any) => e.node.id);
    const owners = await server.db.prisma.measurement.findMany({ where: { id: { in: ids } }, select: { userId: true } });
    expect(new Set(owners.map((o) => o.userId))).toEqual(new Set([alice]));
  });

  it("another user's measurement id cannot be updated or deleted, and answers like an unknown id", async () => {
    const input = { type: "HEART_RATE", value: 99, unit: "bpm", recordedAt: new Date().toISOString() };
    for (const id of [bobMeasurementId, "00000000-0000-0000-0000-000000000000"]) {
      const upd = await gql(
        all(),
        `mutation($id: ID!, $input: RecordMeasurementInput!) { updateMeasurement(id: $id, input: $input) { id } }`,
        { id, input },
      );
      expect(upd.data.updateMeasurement).toBeNull();
      expect(upd.errors![0]!.extensions.code).toBe("NOT_FOUND");
      const del = await gql(all(), `mutation($id: ID!) { deleteMeasurement(id: $id) { id } }`, { id });
      expect(del.data.deleteMeasurement).toBeNull();
      expect(del.errors![0]!.extensions.code).toBe("NOT_FOUND");
    }
    const untouched = await server.db.prisma.measurement.findUnique({ where: { id: bobMeasurementId } });
    expect(untouched?.userId).toBe(bob);
    expect(untouched?.value).not.toBe(99);
  });

  it("a cursor taken from another user's list only positions within the token user's own data", async () => {
    const bobRow = await server.db.prisma.measurement.findFirstOrThrow({ where: { userId: bob }, orderBy: { recordedAt: "desc" } });
    const cursor = Buffer.from(JSON.stringify([bobRow.recordedAt.toISOString(), bobRow.id])).toString("base64url");
    const body = await gql(all(), `query($after: String) { me { measurements(first: 100, after: $after) { edges { node { id } } } } }`, {
      after: cursor,
    });
    const ids = body.data.me.measurements.edges.map((e: any) => e.node.id);
    expect(ids).not.toContain(bobRow.id);
    const owners = await server.db.prisma.measurement.findMany({ where: { id: { in: ids } }, select: { userId: true } });
    expect(owners.every((o) => o.userId === alice)).toBe(true);
  });
});

describe("measurements", () => {
  const all = () => tokens.get("profile:read data:read data:write")!;
  const mutation = `mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id type value unit recordedAt } }`;

  it("pages newest first with opaque cursors", async () => {
    const first = await gql(
      all(),
      `{ me { measurements(first: 5) { edges { cursor node { id recordedAt } } pageInfo { hasNextPage endCursor } } } }`,
    );
    const page1 = first.data.me.measurements;
    expect(page1.edges).toHaveLength(5);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await gql(
      all(),
      `query($after: String) { me { measurements(first: 5, after: $after) { edges { node { id recordedAt } } } } }`,
      { after: page1.pageInfo.endCursor },
    );
    const times = [...page1.edges, ...second.data.me.measurements.edges].map((e: any) => Date.parse(e.node.recordedAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    const ids = new Set([...page1.edges, ...second.data.me.measurements.edges].map((e: any) => e.node.id));
    expect(ids.size).toBe(10);
  });

  it("refuses bad page arguments as BAD_USER_INPUT", async () => {
    for (const args of ["first: 0", "first: 101", "first: -1", 'after: "garbage"']) {
      const body = await gql(all(), `{ me { measurements(${args}) { pageInfo { hasNextPage } } } }`);
      expect(body.errors![0]!.extensions.code).toBe("BAD_USER_INPUT");
    }
  });

  it("checks recorded values: known type, finite value in range, matching unit, not in the future", async () => {
    const now = new Date().toISOString();
    const bad: [Record<string, unknown>, string][] = [
      [{ type: "HEART_RATE", value: 500, unit: "bpm", recordedAt: now }, "input.value"],
      [{ type: "HEART_RATE", value: 5, unit: "bpm", recordedAt: now }, "input.value"],
      [{ type: "STEPS", value: 10.5, unit: "count", recordedAt: now }, "input.value"],
      [{ type: "WEIGHT", value: 70, unit: "lb", recordedAt: now }, "input.unit"],
      [
        { type: "BODY_TEMPERATURE", value: 37, unit: "celsius", recordedAt: new Date(Date.now() + 3600_000).toISOString() },
        "input.recordedAt",
      ],
      [{ type: "OXYGEN_SATURATION", value: 101, unit: "percent", recordedAt: now }, "input.value"],
    ];
    for (const [input, field] of bad) {
      const body = await gql(all(), mutation, { input });
      expect({ input, data: body.data?.recordMeasurement ?? null }).toEqual({ input, data: null });
      expect({ input, ext: body.errors![0]!.extensions }).toEqual({ input, ext: { code: "BAD_USER_INPUT", field } });
    }
    // unknown enum value and non-finite numbers never reach the resolver
    const unknown = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${all()}` },
      body: JSON.stringify({ query: mutation, variables: { input: { type: "BLOOD_SUGAR", value: 5, unit: "mmol/L", recordedAt: now } } }),
    });
    expect(unknown.status).toBeLessThan(500);
    expect((await unknown.json()).errors.length).toBeGreaterThan(0);
    // a date without time or offset, or free text, is not a DateTime
    for (const recordedAt of ["2026-01-02", "Jan 2 2026", "2026-01-02T03:04:05"]) {
      const res = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${all()}` },
        body: JSON.stringify({ query: mutation, variables: { input: { type: "WEIGHT", value: 70, unit: "kg", recordedAt } } }),
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain("DateTime must be an ISO-8601 date and time with an offset");
    }
    const good = await gql(all(), mutation, { input: { type: "WEIGHT", value: 71.2, unit: "kg", recordedAt: now } });
    expect(good.errors).toBeUndefined();
    expect(good.data.recordMeasurement).toMatchObject({ type: "WEIGHT", value: 71.2, unit: "kg" });
  });

  it("updates and deletes its own measurements", async () => {
    const now = new Date().toISOString();
    const created = await gql(all(), mutation, { input: { type: "HEART_RATE", value: 70, unit: "bpm", recordedAt: now } });
    const id = created.data.recordMeasurement.id;
    const upd = await gql(
      all(),
      `mutation($id: ID!, $input: RecordMeasurementInput!) { updateMeasurement(id: $id, input: $input) { id value } }`,
      {
        id,
        input: { type: "HEART_RATE", value: 72, unit: "bpm", recordedAt: now },
      },
    );
    expect(upd.data.updateMeasurement).toEqual({ id, value: 72 });
    const del = await gql(all(), `mutation($id: ID!) { deleteMeasurement(id: $id) { id } }`, { id });
    expect(del.data.deleteMeasurement).toEqual({ id });
    expect(await server.db.prisma.measurement.findUnique({ where: { id } })).toBeNull();
  });
});

describe("audit and cost", () => {
  const all = () => tokens.get("profile:read data:read data:write")!;

  it("records reads (batched, within about a second) and writes (at once) with client and fields", async () => {
    const since = new Date();
    await gql(all(), "{ me { email measurements(first: 1) { edges { node { value } } } } }");
    const write = await gql(all(), `mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id } }`, {
      input: { type: "STEPS", value: 10, unit: "count", recordedAt: new Date().toISOString() },
    });
    const written = await server.db.prisma.auditEvent.findMany({ where: { action: "data.written", at: { gte: since } } });
    expect(written.map((e) => e.detail)).toContain("recordMeasurement: STEPS");
    expect(write.data.recordMeasurement.id).toBeTruthy();
    const client = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
    let reads: { detail: string | null; clientId: string | null; userId: string | null }[] = [];
    for (let i = 0; i < 30 && !reads.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      reads = await server.db.prisma.auditEvent.findMany({ where: { action: "data.read", at: { gte: since } } });
    }
    expect(reads[0]).toMatchObject({ clientId: client.id, userId: alice, detail: "fields: me{email,measurements}" });
  });

  it("reads 50 measurements with a constant number of SQL statements (no N+1)", async () => {
    const count = async (first: number) => {
      statements.length = 0;
      const body = await gql(
        all(),
        `{ me { id name measurements(first: ${first}) { edges { node { id type value unit recordedAt } } } } }`,
      );
      expect(body.data.me.measurements.edges).toHaveLength(first);
      const counted = statements.filter((s) => !/AuditEvent|UPDATE "public"."Grant"/.test(s));
      if (process.env.SHOW_SQL) console.log(counted);
      return counted.length;
    };
    const five = await count(5);
    const fifty = await count(50);
    expect(fifty).toBe(five);
    // the user (only because name is asked for) and the measurements: the token check sends none
    expect(fifty).toBeLessThanOrEqual(2);
  });

  it("checks a bearer token without a database statement (verified claims and revocations are in memory)", async () => {
    const token = all();
    await gql(token, "{ __typename }"); // the first use verifies and caches the JWT, and loads the client
    // Audit events are written in batches every half second: let the one under
    // way finish first, or its COMMIT lands among the statements counted below.
    await server.flushAudit();
    statements.length = 0;
    for (let i = 0; i < 5; i++) expect((await gql(token, "{ __typename }")).data).toEqual({ __typename: "Query" });
    expect(statements.filter((s) => !/AuditEvent|UPDATE "public"."Grant"/.test(s))).toEqual([]);
  });
});
