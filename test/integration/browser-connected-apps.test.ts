// The whole story of issue 7 in real Chromium, with JavaScript switched off (the
// account pages are plain forms): a partner app (oauth4webapi) connects, reads
// health data through GraphQL; the user sees it under /account/apps and, with
// the fields it read, under /account/activity; the user revokes it on the page;
// the partner's next GraphQL request gets 401 and its next refresh invalid_grant.
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { currentKind } from "../helpers/kinds.ts";
import { authorizationUrl, discover, exchangeCode, insecure, PASSWORD, registerClient } from "../helpers/oauth.ts";
import { REPO_ROOT } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SCREENSHOT_DIR = join(REPO_ROOT, "tmp");

describeBrowser("connected apps and activity in real Chromium", () => {
  let server: TestServer;
  let browser: TestBrowser;
  let as: oauth.AuthorizationServer;
  /** the partner app's redirect URI: a tiny server on 127.0.0.1 */
  let partner: Server;
  let callback: string;
  let developerId: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), openBrowser()]);
    as = await discover(server);
    partner = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>Pulse Tracker</title><h1>Back in Pulse Tracker</h1>");
    });
    await new Promise<void>((r) => partner.listen(0, "127.0.0.1", r));
    callback = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/callback`;
    const dev = await signUp(server.db.prisma, { name: "Developer", email: `dev-${Date.now()}@example.com`, password: PASSWORD });
    if (!dev.ok) throw new Error("developer sign-up failed");
    developerId = dev.user.id;
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await new Promise((r) => (partner ? partner.close(r) : r(undefined)));
    await server?.stop();
  });

  /** A page with JavaScript off, in its own cookie jar. */
  async function noScriptPage(): Promise<Page> {
    const context = await browser.browser.newContext({
      baseURL: server.url,
      javaScriptEnabled: false,
      viewport: { width: 1100, height: 800 },
    });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  async function newUser(name: string) {
    const email = `${name.toLowerCase()}-${Date.now()}@example.com`;
    const created = await signUp(server.db.prisma, { name, email, password: PASSWORD });
    if (!created.ok) throw new Error("sign-up failed");
    const now = Date.now();
    await server.db.prisma.measurement.createMany({
      data: [
        { userId: created.user.id, type: "HEART_RATE", value: 62, unit: "bpm", recordedAt: new Date(now - 3_600_000) },
        { userId: created.user.id, type: "STEPS", value: 8421, unit: "count", recordedAt: new Date(now - 7_200_000) },
        { userId: created.user.id, type: "WEIGHT", value: 71.8, unit: "kg", recordedAt: new Date(now - 86_400_000) },
      ],
    });
    return { email, userId: created.user.id };
  }

  /** The partner's side: register, send the browser to authorize, take the code, exchange it. */
  async function connectInBrowser(page: Page, user: { email: string }, opts: { name: string; environment?: "DEVELOPMENT" | "PRODUCTION" }) {
    const { client, clientSecret } = await registerClient(server, developerId, {
      name: opts.name,
      environment: opts.environment ?? "PRODUCTION",
      type: "CONFIDENTIAL",
      redirectUris: [callback],
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const oc: oauth.Client = { client_id: client.clientId };
    const auth = oauth.ClientSecretPost(clientSecret!);
    const req = await authorizationUrl(as, client.clientId, callback, "openid offline_access profile:read data:read");
    await page.goto(req.url.href);
    if (new URL(page.url()).pathname === "/login") {
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
    }
    await page.getByRole("heading", { name: `${opts.name} wants to access your scopegate account` }).waitFor();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL((u) => u.href.startsWith(callback));
    const params = oauth.validateAuthResponse(as, oc, new URL(page.url()), req.state);
    const tokens = await exchangeCode(as, oc, auth, params, callback, req.verifier, req.nonce);
    return { client, oc, auth, tokens };
  }

  async function partnerGraphQL(token: string, query: string) {
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, challenge: res.headers.get("www-authenticate"), body: (await res.json()) as any };
  }

  it("connect, read, see it under Connected apps and Activity, revoke on the page: the partner is locked out", async () => {
    const user = await newUser("Ada");
    const page = await noScriptPage();

    // 1. The partner app connects through the consent page.
    const pulse = await connectInBrowser(page, user, { name: "Pulse Tracker" });
    expect(pulse.tokens.scope).toBe("openid offline_access profile:read data:read");

    // 2. It reads the user's data.
    const read = await partnerGraphQL(
      pulse.tokens.access_token,
      "{ me { name measurements(first: 3) { edges { node { type value } } } } }",
    );
    expect(read.status).toBe(200);
    expect(read.body.data.me.name).toBe("Ada");
    expect(read.body.data.me.measurements.edges).toHaveLength(3);

    // A second app, from a developer still building it, connected too.
    await connectInBrowser(page, user, { name: "Sleep Lab", environment: "DEVELOPMENT" });

    // 3. The user sees both under Connected apps.
    await page.goto("/account/apps");
    await page.getByRole("heading", { name: "Connected apps", level: 1 }).waitFor();
    const card = page.locator("section.card", { has: page.getByText("Pulse Tracker", { exact: true }) });
    await expect(card.getByText("Production app").isVisible()).resolves.toBe(true);
    const can = card.getByRole("list", { name: "What Pulse Tracker can do" });
    await expect(can.getByText("Read your health measurements").isVisible()).resolves.toBe(true);
    await expect(can.getByText("See your name, email address and date of birth").isVisible()).resolves.toBe(true);
    await expect(card.locator(".app-meta").textContent()).resolves.toMatch(/Connected just now · Last used just now/);
    const sleep = page.locator("section.card", { has: page.getByText("Sleep Lab", { exact: true }) });
    await expect(sleep.getByText("Development app").isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SCREENSHOT_DIR, `account-apps-${currentKind()}.png`), fullPage: true });

    // 4. ... and under Activity, which fields Pulse Tracker read (reads are recorded within about a second).
    await page.goto("/account/activity");
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator("tr", { hasText: "Data read" }).count();
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
    const readRow = page.locator("tr", { hasText: "Data read" }).first();
    await expect(readRow.textContent()).resolves.toContain("Pulse Tracker");
    await expect(readRow.textContent()).resolves.toContain("me{name,measurements}");
    const grant = await server.db.prisma.grant.findFirstOrThrow({ where: { userId: user.userId, clientId: pulse.client.id } });
    await expect(readRow.locator("td.grant code").getAttribute("title")).resolves.toBe(grant.id);
    // Filter by app: the GET form, no script needed.
    await page.getByLabel("App").selectOption({ label: "Pulse Tracker" });
    await page.getByRole("button", { name: "Show" }).click();
    await page.waitForURL((u) => u.searchParams.get("app") === pulse.client.clientId);
    const apps = await page.locator("td.app").allTextContents();
    expect(apps.length).toBeGreaterThan(0);
    expect(apps.every((a) => a.includes("Pulse Tracker"))).toBe(true);

    // 5. The user revokes Pulse Tracker, confirming on the next page.
    await page.goto("/account/apps");
    await page.getByRole("link", { name: "Revoke Pulse Tracker" }).click();
    await page.getByRole("heading", { name: "Revoke access for Pulse Tracker?" }).waitFor();
    await page.getByRole("button", { name: "Revoke access" }).click();
    await page.waitForURL((u) => u.pathname === "/account/apps" && u.searchParams.has("revoked"));
    await expect(page.getByRole("status").textContent()).resolves.toBe("Pulse Tracker no longer has access to your account.");
    await expect(page.locator("section.card", { has: page.getByText("Pulse Tracker", { exact: true }) }).count()).resolves.toBe(0);
    await expect(page.getByText("Sleep Lab", { exact: true }).isVisible()).resolves.toBe(true);

    // 6. The partner's very next request fails, and so does its refresh.
    const after = await partnerGraphQL(pulse.tokens.access_token, "{ me { name } }");
    expect(after.status).toBe(401);
    expect(after.challenge).toContain('error="invalid_token"');
    const refresh = await oauth.refreshTokenGrantRequest(as, pulse.oc, pulse.auth, pulse.tokens.refresh_token!, insecure);
    const refused = await oauth.processRefreshTokenResponse(as, pulse.oc, refresh).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(oauth.ResponseBodyError);
    expect((refused as oauth.ResponseBodyError).error).toBe("invalid_grant");

    // 7. The activity log tells the story, newest first.
    await page.goto("/account/activity");
    const actions = await page.locator("td.what .action").allTextContents();
    expect(actions[0]).toBe("Access revoked");
    expect(actions).toEqual(expect.arrayContaining(["Access granted", "Token issued", "Data read", "Access revoked"]));
    await expect(page.locator("tr", { hasText: "Access revoked" }).first().textContent()).resolves.toContain(
      "Revoked by the user under Connected apps",
    );
    await page.screenshot({ path: join(SCREENSHOT_DIR, `account-activity-${currentKind()}.png`), fullPage: true });
  });

  it("narrows an app's permissions on the page without disconnecting it", async () => {
    const user = await newUser("Bea");
    const page = await noScriptPage();
    const app = await connectInBrowser(page, user, { name: "Step Counter" });

    await page.goto("/account/apps");
    const card = page.locator("section.card", { has: page.getByText("Step Counter", { exact: true }) });
    await card.getByText("Change permissions").click(); // <details>: opens without script
    await card.getByRole("checkbox", { name: /See your name, email address and date of birth/ }).uncheck();
    await card.getByRole("button", { name: "Save permissions" }).click();
    await page.waitForURL((u) => u.searchParams.has("updated"));
    await expect(page.getByRole("status").textContent()).resolves.toBe("Permissions for Step Counter were updated.");
    const narrowed = page.locator("section.card", { has: page.getByText("Step Counter", { exact: true }) });
    const can = narrowed.getByRole("list", { name: "What Step Counter can do" });
    await expect(can.textContent()).resolves.not.toContain("See your name");
    await expect(can.getByText("Read your health measurements").isVisible()).resolves.toBe(true);

    // The token that carried profile:read stops; a refresh keeps the app connected without it.
    expect((await partnerGraphQL(app.tokens.access_token, "{ me { id } }")).status).toBe(401);
    const next = await oauth.processRefreshTokenResponse(
      as,
      app.oc,
      await oauth.refreshTokenGrantRequest(as, app.oc, app.auth, app.tokens.refresh_token!, insecure),
    );
    expect(next.scope).toBe("openid offline_access data:read");
    const r = await partnerGraphQL(next.access_token, "{ me { name measurements(first: 1) { edges { node { value } } } } }");
    expect(r.body.errors[0].extensions.code).toBe("INSUFFICIENT_SCOPE");
    expect(r.body.data.me.measurements.edges).toHaveLength(1);
  });
});
