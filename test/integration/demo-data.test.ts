import { afterEach, describe, expect, it } from "vitest";
import { WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function signUpAndRead(s: TestServer) {
  const web = new WebClient(s.url);
  const { res } = await web.signUp({ name: "Nia New", email: `nia-${Date.now()}@example.com`, password: "correct horse battery" });
  expect(res.status).toBe(303);
  const csrf = await web.csrfFrom("/logout");
  const { body } = await web.graphql(
    "{ viewer { user { measurements(first: 100) { edges { node { type unit } } } sessions { activity locations { latitude } } locations { id } } } }",
    { csrf },
  );
  expect(body?.errors).toBeUndefined();
  return body!.data.viewer.user;
}

describe("demo data for new accounts", () => {
  it("with SEED_DEMO on, a new user starts with real-looking measurements, sessions and locations", async () => {
    server = await startTestServer({ SEED_DEMO: "true" });
    expect(server.seeded?.user.email).toBe("demo@scopegate.local");
    const user = await signUpAndRead(server);
    const types = new Set(user.measurements.edges.map((e: any) => e.node.type));
    expect(types).toEqual(new Set(["HEART_RATE", "STEPS", "WEIGHT", "BODY_TEMPERATURE", "RESPIRATION_RATE", "OXYGEN_SATURATION"]));
    for (const e of user.measurements.edges) {
      expect(e.node.unit).toBe(
        {
          HEART_RATE: "bpm",
          STEPS: "count",
          WEIGHT: "kg",
          BODY_TEMPERATURE: "celsius",
          RESPIRATION_RATE: "breaths/min",
          OXYGEN_SATURATION: "percent",
        }[e.node.type as string],
      );
    }
    expect(user.sessions.length).toBeGreaterThan(0);
    expect(user.sessions[0].locations.length).toBeGreaterThan(0);
    expect(user.locations.length).toBeGreaterThan(0);
  });

  it("with SEED_DEMO off, a new account is empty", async () => {
    server = await startTestServer({ SEED_DEMO: "false" });
    expect(server.seeded).toBeNull();
    const user = await signUpAndRead(server);
    expect(user.measurements.edges).toEqual([]);
    expect(user.sessions).toEqual([]);
    expect(user.locations).toEqual([]);
  });
});
