import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertClient } from "../../src/clients/clients.ts";
import { WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let web: WebClient;
let csrf: string;

beforeAll(async () => {
  server = await startTestServer();
  web = new WebClient(server.url);
  await web.signUp({ name: "Pia", email: "pia@example.com", password: "correct horse battery" });
  csrf = await web.csrfFrom("/logout");
});
afterAll(async () => {
  await server?.stop();
});

const UPDATE = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name birthDate } }";

describe("updateProfile (account session only)", () => {
  it("changes name and birth date, and clears the birth date with null", async () => {
    let { body } = await web.graphql(UPDATE, { csrf, variables: { input: { name: "  Pia Park ", birthDate: "1991-07-08" } } });
    expect(body?.data.updateProfile).toEqual({ name: "Pia Park", birthDate: "1991-07-08" });
    ({ body } = await web.graphql(UPDATE, { csrf, variables: { input: { birthDate: null } } }));
    expect(body?.data.updateProfile).toEqual({ name: "Pia Park", birthDate: null });
  });

  it("refuses bad input with BAD_USER_INPUT naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: "" }, "input.name"],
      [{ name: "x".repeat(101) }, "input.name"],
      [{ birthDate: "1991-13-40" }, "input.birthDate"],
      [{ birthDate: "08/07/1991" }, "input.birthDate"],
      [{ birthDate: "2999-01-01" }, "input.birthDate"],
    ];
    for (const [input, field] of cases) {
      const { res, body } = await web.graphql(UPDATE, { csrf, variables: { input } });
      expect(res.status).toBeLessThan(500);
      expect({ input, ext: body?.errors?.[0]?.extensions }).toEqual({ input, ext: { code: "BAD_USER_INPUT", field } });
    }
  });

  it("is never reachable with an OAuth token", async () => {
    const user = await server.db.prisma.user.findUniqueOrThrow({ where: { email: "pia@example.com" } });
    const { client, clientSecret } = await insertClient(server.db.prisma, {
      ownerId: user.id,
      name: "Own",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: ["http://localhost:3000/cb"],
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const issuer = new URL(server.issuer);
    const opts = { [oauth.allowInsecureRequests]: true } as const;
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: "oauth2" }));
    const c = { client_id: client.clientId };
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      c,
      await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(clientSecret!), new URLSearchParams(), opts),
    );
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens.access_token}` },
      body: JSON.stringify({ query: UPDATE, variables: { input: { name: "Mallory" } } }),
    });
    const body = await res.json();
    expect(body.data.updateProfile).toBeNull();
    expect(body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect((await server.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).name).toBe("Pia Park");
  });
});

describe("audit events pending at shutdown", () => {
  it("are written when the server closes", async () => {
    const own = await startTestServer();
    try {
      const prisma = own.db.prisma;
      const u = await prisma.user.create({ data: { email: "s@example.com", name: "S", passwordHash: "x" } });
      const { client, clientSecret } = await insertClient(prisma, {
        ownerId: u.id,
        name: "S",
        environment: "DEVELOPMENT",
        type: "CONFIDENTIAL",
        redirectUris: ["http://localhost:3000/cb"],
        scopes: ["data:read"],
      });
      const body = new URLSearchParams({ grant_type: "client_credentials" });
      const tok = await (
        await fetch(`${own.url}/v1/oauth/token`, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
          },
          body,
        })
      ).json();
      await fetch(`${own.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${tok.access_token}` },
        body: JSON.stringify({ query: "{ me { id } }" }),
      });
      await own.close(); // flushes the buffer before it returns
      expect(await prisma.auditEvent.count({ where: { action: "data.read", clientId: client.id } })).toBe(1);
    } finally {
      await own.stop();
    }
  });
});

describe("User.measurements filters", () => {
  it("of one type, recorded from `from` (inclusive) to `to` (exclusive), pages included; from must come before to", async () => {
    const me = await web.graphql("{ viewer { user { id } } }", { csrf });
    const userId = me.body!.data.viewer.user.id as string;
    const at = (h: number) => new Date(Date.UTC(2026, 10, 1, h));
    await server.db.prisma.measurement.createMany({
      data: [
        { userId, type: "HEART_RATE", value: 60, unit: "bpm", recordedAt: at(1) },
        { userId, type: "HEART_RATE", value: 61, unit: "bpm", recordedAt: at(2) },
        { userId, type: "STEPS", value: 500, unit: "count", recordedAt: at(2) },
        { userId, type: "HEART_RATE", value: 62, unit: "bpm", recordedAt: at(3) },
      ],
    });
    const Q = `query($type: MeasurementType, $from: DateTime, $to: DateTime, $first: Int, $after: String) { viewer { user {
      measurements(type: $type, from: $from, to: $to, first: $first, after: $after) { edges { node { value } } pageInfo { hasNextPage endCursor } } } } }`;
    const read = async (variables: Record<string, unknown>) => {
      const { body } = await web.graphql(Q, { csrf, variables });
      return body!;
    };
    const values = (b: any) => b.data.viewer.user.measurements.edges.map((e: any) => e.node.value);
    expect(values(await read({ type: "HEART_RATE", from: at(2).toISOString(), to: at(4).toISOString() }))).toEqual([62, 61]);
    expect(values(await read({ from: at(2).toISOString(), to: at(3).toISOString() })).sort()).toEqual([500, 61]);
    const first = await read({ type: "HEART_RATE", first: 2 });
    expect(values(first)).toEqual([62, 61]);
    const next = await read({ type: "HEART_RATE", first: 2, after: first.data.viewer.user.measurements.pageInfo.endCursor });
    expect(values(next)).toEqual([60]);
    const bad = await read({ from: at(3).toISOString(), to: at(3).toISOString() });
    expect(bad.errors?.[0]).toMatchObject({ message: "from must be before to.", extensions: { code: "BAD_USER_INPUT", field: "from" } });
  });
});
