// /account/connections in real Chromium (issue 14): a user of one scopegate (the
// consumer) links their account at another scopegate instance (the provider,
// "Acme Health") through the provider's real sign-in and consent pages, sees the
// link on the page, hits an error page by replaying the callback, and
// disconnects. The provider runs at http://localhost:<port> and the consumer at
// http://127.0.0.1:<port>: cookies ignore ports, so two servers on one host
// would share (and overwrite) each other's session cookies in one browser.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { currentKind } from "../helpers/kinds.ts";
import { PASSWORD, registerClient } from "../helpers/oauth.ts";
import { REPO_ROOT } from "../helpers/process.ts";
import { freePort, startTestServer, type TestServer } from "../helpers/server.ts";

const SCREENSHOT_DIR = join(REPO_ROOT, "tmp");
/** The consumer's name at the provider, as the provider's consent page shows it. */
const CLIENT_NAME = "Consumer Health";

describeBrowser("linked accounts (/account/connections) in real Chromium", () => {
  let provider: TestServer;
  let consumer: TestServer;
  let browser: TestBrowser;
  /** the provider's issuer, as the consumer's CONNECTORS_FILE and the browser name it */
  let providerUrl: string;
  let callback: string;
  let dir: string;
  const contexts: BrowserContext[] = [];

  async function newUser(server: TestServer, name: string) {
    const email = `${name.toLowerCase().replace(/\W+/g, "-")}-${Date.now()}@example.com`;
    const created = await signUp(server.db.prisma, { name, email, password: PASSWORD });
    if (!created.ok) throw new Error("sign-up failed");
    return { email, id: created.user.id };
  }

  beforeAll(async () => {
    const providerPort = await freePort();
    providerUrl = `http://localhost:${providerPort}`;
    [provider, browser] = await Promise.all([startTestServer({ ISSUER: providerUrl }, { port: providerPort }), openBrowser()]);

    // The consumer's port first: its callback is registered at the provider before it starts.
    const consumerPort = await freePort();
    callback = `http://127.0.0.1:${consumerPort}/v1/connectors/oauth/acme/callback`;
    const developer = await newUser(provider, "Acme developer");
    const { client, clientSecret } = await registerClient(provider, developer.id, {
      name: CLIENT_NAME,
      type: "CONFIDENTIAL",
      environment: "DEVELOPMENT",
      redirectUris: [callback],
      scopes: ["data:read"],
    });
    dir = mkdtempSync(join(tmpdir(), "scopegate-browser-connections-"));
    const file = join(dir, "connectors.json");
    writeFileSync(
      file,
      JSON.stringify({
        providers: [
          {
            slug: "acme",
            name: "Acme Health",
            issuer: providerUrl,
            clientId: client.clientId,
            clientSecret,
            scopes: ["openid", "offline_access", "data:read"],
            allowInsecureLoopback: true,
          },
        ],
      }),
    );
    consumer = await startTestServer({ CONNECTORS_FILE: file }, { port: consumerPort });
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await consumer?.stop();
    await provider?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function newPage(): Promise<Page> {
    const context = await browser.browser.newContext({ baseURL: consumer.url, viewport: { width: 1100, height: 800 } });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  /** Console errors (CSP violations among them) and page crashes. */
  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${page.url()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
    return problems;
  }

  async function signIn(page: Page, email: string) {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  it("connects through the provider's sign-in and consent, shows the link, refuses a replayed callback, and disconnects", async () => {
    const ada = await newUser(consumer, "Ada");
    const adaAtAcme = await newUser(provider, "Ada at Acme");
    const page = await newPage();
    const problems = watch(page);
    const acme = () => page.locator("section.card", { has: page.getByText("Acme Health", { exact: true }) });

    // Signed out: the page sends us to the consumer's own sign-in, then back.
    await page.goto("/account/connections");
    await page.waitForURL((u) => u.pathname === "/login");
    await signIn(page, ada.email);
    await page.waitForURL((u) => u.pathname === "/account/connections");
    await page.getByRole("heading", { name: "Linked accounts", level: 1 }).waitFor();
    expect(
      await page
        .getByRole("navigation", { name: "Your account" })
        .getByRole("link", { name: "Linked accounts" })
        .getAttribute("aria-current"),
    ).toBe("page");
    const before = await acme().innerText();
    expect(before).toContain("Not connected");
    expect(before).toMatch(/Will ask for\s+openid offline_access data:read/);
    expect(await acme().getByRole("button", { name: "Disconnect Acme Health" }).count()).toBe(0);

    // Connect: the provider's real sign-in page, then its consent page.
    await acme().getByRole("link", { name: "Connect Acme Health", exact: true }).click();
    await page.waitForURL((u) => u.origin === providerUrl && u.pathname === "/login");
    await signIn(page, adaAtAcme.email);
    await page.getByRole("heading", { name: `${CLIENT_NAME} wants to access your scopegate account` }).waitFor();
    const callbackRequest = page.waitForRequest((r) => r.url().startsWith(callback));
    await page.getByRole("button", { name: "Allow" }).click();
    const callbackUrl = (await callbackRequest).url();
    await page.waitForURL((u) => u.origin === consumer.url && u.pathname === "/account/connections");

    // Back on the consumer: connected, with what the provider granted.
    expect(await page.getByRole("status").textContent()).toBe("Acme Health is connected.");
    const linked = await acme().innerText();
    expect(linked).toContain("Connected");
    expect(linked).toMatch(/Scopes granted\s+.*data:read/);
    expect(linked).toMatch(/Connected\s+just now/);
    expect(linked).toMatch(/Last refreshed\s+Not yet/);
    expect(await acme().getByRole("link", { name: "Reconnect Acme Health", exact: true }).isVisible()).toBe(true);
    const row = await consumer.db.prisma.providerConnection.findFirstOrThrow({ where: { userId: ada.id } });
    expect(row).toMatchObject({ provider: "acme", status: "active", subject: adaAtAcme.id });
    await page.screenshot({ path: join(SCREENSHOT_DIR, `account-connections-${currentKind()}.png`), fullPage: true });

    // The same callback again: a readable error page with the endpoint's status, and a way back.
    const replay = await page.goto(callbackUrl);
    expect(replay?.status()).toBe(400);
    await page.getByRole("heading", { name: "Could not connect", level: 1 }).waitFor();
    expect(await page.getByRole("alert").textContent()).toBe(
      "This connection request is unknown or was already used. Start connecting again.",
    );
    // (Chromium logs every 4xx document as a console error: that one was expected.)
    const expected = problems.findIndex((p) => p.startsWith(callbackUrl) && p.includes("status of 400"));
    expect(expected).toBeGreaterThanOrEqual(0);
    problems.splice(expected, 1);
    await page.getByRole("link", { name: "Back to linked accounts" }).click();
    await page.waitForURL((u) => u.pathname === "/account/connections" && u.search === "");
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: ada.id } })).toBe(1);

    // The provider itself has no providers configured, and says so (Ada is signed in there too, on its own host).
    await page.goto(`${providerUrl}/account/connections`);
    await page.getByText("No providers are configured on this scopegate, so there is nothing to connect.").waitFor();

    // Disconnect: revoked at the provider, gone here, in the activity log.
    await page.goto("/account/connections");
    await acme().getByRole("button", { name: "Disconnect Acme Health" }).click();
    await page.waitForURL((u) => u.pathname === "/account/connections" && u.searchParams.get("disconnected") === "acme");
    expect(await page.getByRole("status").textContent()).toBe("Acme Health is disconnected.");
    expect(await acme().innerText()).toContain("Not connected");
    expect(await acme().getByRole("link", { name: "Connect Acme Health", exact: true }).isVisible()).toBe(true);
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: ada.id } })).toBe(0);
    await page.goto("/account/activity");
    const actions = await page.locator("td.what .action").allTextContents();
    expect(actions.slice(0, 2)).toEqual(["Account unlinked", "Account linked"]);
    expect(await page.locator("tr", { hasText: "Account unlinked" }).first().textContent()).toContain("revoked at the provider");

    expect(problems).toEqual([]);
  });
  it("shows a link that needs reconnecting and one to a provider no longer offered; a stale tab's Disconnect gets a 404", async () => {
    const bo = await newUser(consumer, "Bo");
    const now = Date.now();
    // As the connectors leave them: Acme refused a refresh; "retired" was removed from CONNECTORS_FILE since.
    await consumer.db.prisma.providerConnection.createMany({
      data: [
        {
          userId: bo.id,
          provider: "acme",
          status: "needs_reconnect",
          scopes: ["data:read"],
          accessToken: "not-a-sealed-token",
          connectedAt: new Date(now - 3 * 86_400_000),
          lastRefreshedAt: new Date(now - 86_400_000),
        },
        { userId: bo.id, provider: "retired", status: "active", scopes: ["read"], accessToken: "not-a-sealed-token" },
      ],
    });
    const page = await newPage();
    const problems = watch(page);
    await page.goto("/login?return_to=/account/connections");
    await signIn(page, bo.email);
    await page.waitForURL((u) => u.pathname === "/account/connections");
    const card = (name: string) => page.locator("section.card", { has: page.getByText(name, { exact: true }) });

    const acme = await card("Acme Health").innerText();
    expect(acme).toContain("Needs reconnecting");
    expect(acme).toContain("Acme Health refused to renew scopegate's access to your account there.");
    expect(acme).toMatch(/Connected\s+3 days ago/);
    expect(acme).toMatch(/Last refreshed\s+yesterday/);
    expect(await card("Acme Health").getByRole("link", { name: "Reconnect Acme Health", exact: true }).isVisible()).toBe(true);
    const retired = card("retired");
    expect(await retired.innerText()).toContain("No longer offered on this scopegate");
    expect(await retired.getByRole("link").count()).toBe(0);

    // A second tab, left open on the list.
    const stale = await page.context().newPage();
    await stale.goto("/account/connections");

    await retired.getByRole("button", { name: "Disconnect retired" }).click();
    await page.waitForURL((u) => u.searchParams.get("disconnected") === "retired");
    expect(await page.getByRole("status").textContent()).toBe("The account is disconnected.");
    await card("Acme Health").getByRole("button", { name: "Disconnect Acme Health" }).click();
    await page.waitForURL((u) => u.searchParams.get("disconnected") === "acme");
    expect(await page.getByRole("status").textContent()).toBe("Acme Health is disconnected.");
    expect(await consumer.db.prisma.providerConnection.count({ where: { userId: bo.id } })).toBe(0);
    // Neither was revoked at a provider: one is not configured, and the other's token was never a real one.
    const trail = await consumer.db.prisma.auditEvent.findMany({ where: { userId: bo.id, action: "connection.removed" } });
    expect(trail.map((e) => e.detail).sort()).toEqual([
      expect.stringMatching(/^Acme Health \(acme\): disconnected by the user; revoking at the provider failed/),
      "retired (retired): disconnected by the user; not revoked at the provider (it is no longer configured)",
    ]);

    // The stale tab still offers Disconnect: the page says the link is gone, with 404.
    const staleAcme = stale.locator("section.card", { has: stale.getByText("Acme Health", { exact: true }) });
    const [answer] = await Promise.all([
      stale.waitForResponse((r) => r.url().endsWith("/account/connections/acme/disconnect")),
      staleAcme.getByRole("button", { name: "Disconnect Acme Health" }).click(),
    ]);
    expect(answer.status()).toBe(404);
    expect(await stale.getByRole("alert").textContent()).toBe("Acme Health is not connected to your account.");
    expect(await staleAcme.innerText()).toContain("Not connected");
    expect(problems).toEqual([]);
  });
});
