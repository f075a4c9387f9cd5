// The consent flow in real Chromium: sign in on the real /login page, see the
// consent page, click Allow (or Deny), land on the partner app's redirect URI.
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import type { Browser } from "playwright-core";
import { chromiumMissingReason, chromiumPath, describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { authorizationUrl, discover, exchangeCode, PASSWORD, registerClient, signedInUser } from "../helpers/oauth.ts";
import { REPO_ROOT } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SKIP_REASON = chromiumMissingReason ?? "";

let server: TestServer;
let browser: Browser;
let testBrowser: TestBrowser;
let as: oauth.AuthorizationServer;
/** the partner app's redirect URI: a tiny server on 127.0.0.1 that records what it receives */
let partner: Server;
let callback: string;
const received: string[] = [];
let email: string;
let userId: string;
let ownerId: string;

beforeAll(async () => {
  if (!chromiumPath) return;
  server = await startTestServer();
  as = await discover(server);
  partner = createServer((req, res) => {
    received.push(req.url ?? "");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Partner app</title><h1>Back in the partner app</h1>");
  });
  await new Promise<void>((r) => partner.listen(0, "127.0.0.1", r));
  callback = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/callback`;
  const owner = await signedInUser(server, "Developer");
  ownerId = owner.user.id;
  const user = await signedInUser(server, "Ada Lovelace");
  email = user.email;
  userId = user.user.id;
  testBrowser = await openBrowser();
  browser = testBrowser.browser;
});
afterAll(async () => {
  await testBrowser?.close();
  await new Promise((r) => (partner ? partner.close(r) : r(undefined)));
  await server?.stop();
});

async function client(input: Parameters<typeof registerClient>[2]): Promise<OAuthClient> {
  // A public client with a loopback redirect URI registered on another port: any port matches.
  return (await registerClient(server, ownerId, { redirectUris: ["http://127.0.0.1:9/callback"], ...input })).client;
}

describeBrowser("the consent page in Chromium", () => {
  it("signed out → /login → consent page → untick one scope → Allow → back at the app with a code", async (ctx) => {
    ctx.skip(!chromiumPath, SKIP_REASON);
    const app = await client({
      name: "Pulse Tracker Beta",
      environment: "DEVELOPMENT",
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const req = await authorizationUrl(as, app.clientId, callback, "openid profile:read data:read data:write");
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    try {
      await page.goto(req.url.href);
      // Signed out: the real sign-in page, which returns to the authorization request.
      await expect.poll(() => new URL(page.url()).pathname).toBe("/login");
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();

      await page.getByRole("heading", { name: "Pulse Tracker Beta wants to access your scopegate account" }).waitFor();
      expect(new URL(page.url()).pathname).toBe("/v1/oauth/authorize");
      await expect.poll(() => page.getByText("Development app", { exact: true }).isVisible()).toBe(true);
      expect(await page.getByText("This app is under development.").isVisible()).toBe(true);
      expect(await page.getByText("Know who you are (your scopegate user ID)").isVisible()).toBe(true);
      const profile = page.getByRole("checkbox", { name: /See your name, email address and date of birth/ });
      const read = page.getByRole("checkbox", { name: /Read your health measurements/ });
      const write = page.getByRole("checkbox", { name: /Add, change and delete your health measurements/ });
      for (const box of [profile, read, write]) expect(await box.isChecked()).toBe(true);
      expect(await page.getByRole("checkbox").count()).toBe(3); // openid has none

      mkdirSync(join(REPO_ROOT, "tmp"), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, "tmp", "consent.png"), fullPage: true });

      await write.uncheck();
      await page.getByRole("button", { name: "Allow" }).click();
      await page.waitForURL((u) => u.href.startsWith(callback));
      await page.getByRole("heading", { name: "Back in the partner app" }).waitFor();

      const params = oauth.validateAuthResponse(as, { client_id: app.clientId }, new URL(page.url()), req.state);
      expect(params.get("code")).toBeTruthy();
      expect(received.some((u) => u.includes(`state=${req.state}`))).toBe(true);

      const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId, clientId: app.id } });
      expect(grant.scopes.sort()).toEqual(["data:read", "openid", "profile:read"]);
      const tokens = await exchangeCode(as, { client_id: app.clientId }, oauth.None(), params, callback, req.verifier, req.nonce);
      expect(tokens.scope!.split(" ").sort()).toEqual(["data:read", "openid", "profile:read"]);
      expect(oauth.getValidatedIdTokenClaims(tokens)!.sub).toBe(userId);
    } finally {
      await context.close();
    }
  });

  it("signed in → consent page → Deny → back at the app with access_denied, nothing granted", async (ctx) => {
    ctx.skip(!chromiumPath, SKIP_REASON);
    const app = await client({ name: "Step Counter", environment: "PRODUCTION" });
    const req = await authorizationUrl(as, app.clientId, callback, "data:read");
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/login`);
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${server.url}/`);

      await page.goto(req.url.href);
      await page.getByRole("heading", { name: "Step Counter wants to access your scopegate account" }).waitFor();
      expect(await page.getByText("Development app").count()).toBe(0);
      await page.getByRole("button", { name: "Deny" }).click();
      await page.waitForURL((u) => u.href.startsWith(callback));

      const back = new URL(page.url());
      expect(back.searchParams.get("error")).toBe("access_denied");
      expect(back.searchParams.has("code")).toBe(false);
      expect(() => oauth.validateAuthResponse(as, { client_id: app.clientId }, back, req.state)).toThrow(
        expect.objectContaining({ error: "access_denied" }),
      );
      expect(await server.db.prisma.grant.count({ where: { clientId: app.id } })).toBe(0);
      expect(await server.db.prisma.authorizationCode.count({ where: { clientId: app.id } })).toBe(0);
    } finally {
      await context.close();
    }
  });
});
