import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebClient, pageErrors } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await new WebClient(server.url).signUp({ name: "Tess", email: "tess@example.com", password: "correct horse battery" });
});
afterAll(async () => {
  await server?.stop();
});

describe("sign-in throttling", () => {
  it("refuses even the right password after 10 failures for the account, with Retry-After", async () => {
    const web = new WebClient(server.url);
    for (let i = 0; i < 10; i++) {
      const { res } = await web.signIn({ email: "tess@example.com", password: `wrong-${i}-password` });
      expect(res.status).toBe(401);
    }
    const { res, html } = await web.signIn({ email: "tess@example.com", password: "correct horse battery" });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(pageErrors(html).join(" ")).toMatch(/Too many failed sign-in attempts\. Try again in \d+ minutes?\./);
    expect(web.jar.get("sg_session")).toBeUndefined();
  });
});
