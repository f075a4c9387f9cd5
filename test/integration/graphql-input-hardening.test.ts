// Crafted GraphQL input gets the protocol's own refusal, never a 500 or a silent
// rewrite: impossible dates (issue 12: 30 February was rolled over to 2 March)
// and home-made cursors (they could reach the database).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoMeasurements } from "../../src/seed/demo.ts";
import { signedInUser, registerClient } from "../helpers/oauth.ts";
import type { WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let token: string;
let web: WebClient;
let csrf: string;
let userId: string;

type Body = { data?: any; errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[] };

async function bearer(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Body };
}

beforeAll(async () => {
  server = await startTestServer();
  const signedIn = await signedInUser(server, "Ada");
  web = signedIn.web;
  userId = signedIn.user.id;
  csrf = await web.csrfFrom("/logout");
  await server.db.prisma.measurement.createMany({ data: demoMeasurements(userId) });
  const { client, clientSecret } = await registerClient(server, userId, {
    type: "CONFIDENTIAL",
    environment: "DEVELOPMENT",
    scopes: ["profile:read", "data:read", "data:write"],
  });
  const res = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "profile:read data:read data:write" }),
  });
  token = ((await res.json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await server?.stop();
});

const RECORD = "mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id recordedAt } }";
const UPDATE = "mutation($id: ID!, $input: RecordMeasurementInput!) { updateMeasurement(id: $id, input: $input) { id } }";
const IMPOSSIBLE = ["2025-02-30T08:00:00Z", "2025-02-29T08:00:00Z", "2025-04-31T08:00:00Z", "2025-06-01T24:00:00Z", "2025-02-30T08:00Z"];

describe("impossible dates", () => {
  it("refuses a recordedAt that does not exist (as a variable or inline), and stores nothing", async () => {
    const before = await server.db.prisma.measurement.count({ where: { userId } });
    for (const recordedAt of IMPOSSIBLE) {
      const input = { type: "HEART_RATE", value: 70, unit: "bpm", recordedAt };
      const asVariable = await bearer(RECORD, { input });
      expect({ recordedAt, status: asVariable.status }).toEqual({ recordedAt, status: 400 });
      expect(asVariable.body.errors?.[0]?.message).toContain(`DateTime must be a date and time that exists; ${recordedAt} does not.`);
      const inline = await bearer(
        `mutation { recordMeasurement(input: { type: HEART_RATE, value: 70, unit: "bpm", recordedAt: "${recordedAt}" }) { id } }`,
      );
      // Inline, it is a validation error, like any literal that does not fit its type (docs/graphql.md).
      expect(inline.status).toBeLessThan(500);
      expect(inline.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(inline.body.errors?.[0]?.message).toContain("does not");
      expect(inline.body.data?.recordMeasurement ?? null).toBeNull();
    }
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before);
  });

  it("refuses one in updateMeasurement and leaves the reading as it was", async () => {
    const row = await server.db.prisma.measurement.findFirstOrThrow({ where: { userId } });
    const { status, body } = await bearer(UPDATE, {
      id: row.id,
      input: { type: row.type, value: row.value, unit: row.unit, recordedAt: "2024-02-30T10:00:00Z" },
    });
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toContain("does not");
    expect((await server.db.prisma.measurement.findUniqueOrThrow({ where: { id: row.id } })).recordedAt).toEqual(row.recordedAt);
  });

  it("still takes real dates, a leap day and a time without seconds included", async () => {
    for (const [recordedAt, stored] of [
      ["2024-02-29T08:00:00Z", "2024-02-29T08:00:00.000Z"],
      ["2025-03-01T07:12+01:00", "2025-03-01T06:12:00.000Z"],
    ]) {
      const { status, body } = await bearer(RECORD, { input: { type: "HEART_RATE", value: 70, unit: "bpm", recordedAt } });
      expect(status).toBe(200);
      expect(body.data.recordMeasurement.recordedAt).toBe(stored);
    }
  });

  it("refuses a birthDate that does not exist with BAD_USER_INPUT on input.birthDate, and keeps the old one", async () => {
    const UPDATE_PROFILE = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { birthDate } }";
    let { body } = await web.graphql(UPDATE_PROFILE, { csrf, variables: { input: { birthDate: "2000-02-29" } } });
    expect(body?.data.updateProfile).toEqual({ birthDate: "2000-02-29" });
    for (const birthDate of ["2001-02-29", "1990-02-30", "1990-04-31", "1900-02-29"]) {
      ({ body } = await web.graphql(UPDATE_PROFILE, { csrf, variables: { input: { birthDate } } }));
      expect({ birthDate, data: body?.data?.updateProfile ?? null }).toEqual({ birthDate, data: null });
      expect(body?.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.birthDate" });
      expect(body?.errors?.[0]?.message).toBe("birthDate must be a date that exists (there is no 29 February 2001).");
    }
    const user = await server.db.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.birthDate?.toISOString()).toBe("2000-02-29T00:00:00.000Z");
  });
});

describe("home-made cursors", () => {
  const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
  const HOME_MADE = [
    b64(["2026-02-30T00:00:00.000Z", "00000000-0000-0000-0000-000000000000"]),
    b64(["+275760-09-13T00:00:00.000Z", "00000000-0000-0000-0000-000000000000"]),
    b64(["-271821-04-20T00:00:00.000Z", "00000000-0000-0000-0000-000000000000"]),
    b64(["2026-01-01T00:00:00.000Z", "a\u0000b"]),
    b64(["2026-01-01T00:00:00.000Z", "\ud800"]),
    b64(["2026-01-01T00:00:00.000Z", "x".repeat(5000)]),
    b64(["2026-01-01T00:00:00.000Z", ["nested"]]),
    b64({ at: "2026-01-01T00:00:00.000Z" }),
    b64("[".repeat(5000)),
    b64("1e999"),
    "\u0000",
    "%%%",
    "x".repeat(20_000),
  ];

  it("answers BAD_USER_INPUT on after for me.measurements, never a 500", async () => {
    for (const after of HOME_MADE) {
      const { status, body } = await bearer("query($after: String) { me { measurements(first: 5, after: $after) { edges { cursor } } } }", {
        after,
      });
      expect(status, after.slice(0, 40)).toBeLessThan(500);
      if (status === 200) {
        expect(body.data.me.measurements, after.slice(0, 40)).toBeNull();
        expect(body.errors?.[0]?.extensions, after.slice(0, 40)).toEqual({ code: "BAD_USER_INPUT", field: "after" });
      } else {
        // refused before execution (a NUL in the variables)
        expect(status).toBe(400);
        expect(body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      }
    }
  });

  it("answers BAD_USER_INPUT on after for viewer.auditLog, never a 500", async () => {
    const LOG = "query($after: String) { viewer { auditLog(first: 5, after: $after) { edges { cursor } } } }";
    for (const after of HOME_MADE) {
      const { res, body } = await web.graphql(LOG, { csrf, variables: { after } });
      expect(res.status, after.slice(0, 40)).toBeLessThan(500);
      if (res.status === 200) {
        expect(body?.errors?.[0]?.extensions, after.slice(0, 40)).toEqual({ code: "BAD_USER_INPUT", field: "after" });
      }
    }
  });

  it("keeps accepting the cursors it hands out, and those of the format it always had", async () => {
    const first = await bearer(
      "{ me { measurements(first: 3) { edges { cursor node { id recordedAt } } pageInfo { endCursor hasNextPage hasPreviousPage startCursor } } } }",
    );
    const page = first.body.data.me.measurements;
    expect(page.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false, startCursor: page.edges[0].cursor });
    const third = page.edges[2].node;
    const handWritten = b64([new Date(third.recordedAt).toISOString(), third.id]);
    expect(handWritten).toBe(page.pageInfo.endCursor);
    const next = await bearer(
      "query($after: String) { me { measurements(first: 3, after: $after) { edges { node { id } } pageInfo { hasPreviousPage } } } }",
      {
        after: handWritten,
      },
    );
    expect(next.body.errors).toBeUndefined();
    expect(next.body.data.me.measurements.pageInfo.hasPreviousPage).toBe(true);
    expect(next.body.data.me.measurements.edges).toHaveLength(3);
  });
});
