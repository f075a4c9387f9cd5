/**
 * The partner-app example (examples/partner-app) against a real scopegate,
 * driven in real Chromium: "Connect with scopegate" -> scopegate's sign-in ->
 * consent "Allow" -> the user's data on the example's page; then "Refresh
 * token" (the refresh token rotates) and "Disconnect" (the grant is revoked),
 * "Deny" (access_denied), an unticked scope (fields shown as not shared), and
 * that no token or secret ever shows up in a URL or in the app's log.
 * The effects are checked in scopegate's database too, not only on the page.
 *
 * Without Chromium the tests are skipped, with the reason, never passed
 * (describeBrowser).
 */
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/auth/accounts.ts";
import { insertClient } from "../../src/oauth/clients.ts";
import { startPartnerApp, type PartnerApp } from "../../examples/partner-app/server.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { freePort, startTestServer, type TestServer } from "../helpers/server.ts";

const PASSWORD = "correct horse battery staple";
const NAME = "Grace Partner-Test";
const EMAIL = "grace.partner@example.com";

let server: TestServer;
let app: PartnerApp;
let browser: TestBrowser;
let context: BrowserContext;
let page: Page;
let userId: string;
let clientRowId: string;
let clientSecret: string;
const appLog: string[] = [];
const requestedUrls: string[] = [];

/** The page's visible text (pages are server-rendered: complete once loaded). */
function bodyText(): Promise<string> {
  return page.locator("body").innerText();
}

async function grants() {
  return server.db.prisma.grant.findMany({
    where: { userId, clientId: clientRowId },
    include: { refreshTokens: { orderBy: { createdAt: "asc" } }, accessTokens: { orderBy: { createdAt: "asc" } } },
    orderBy: { createdAt: "asc" },
  });
}

describeBrowser("examples/partner-app in Chromium", () => {
  beforeAll(async () => {
    server = await startTestServer();
    const created = await signUp(server.db.prisma, { name: NAME, email: EMAIL, password: PASSWORD });
    if (!created.ok) throw new Error(`signUp failed: ${JSON.stringify(created.errors)}`);
    userId = created.user.id;

    // The example on a free port, on another host name than scopegate (localhost
    // vs 127.0.0.1), as a real partner would be: the two never see each other's cookies.
    const port = await freePort();
    const redirectUri = `http://localhost:${port}/callback`;
    const client = await insertClient(server.db.prisma, {
      ownerId: userId,
      name: "Example Partner App",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: [redirectUri],
      scopes: ["profile:read", "data:read"],
    });
    clientRowId = client.client.id;
    clientSecret = client.clientSecret!;
    app = await startPartnerApp({
      issuer: server.issuer,
      clientId: client.client.clientId,
      clientSecret,
      port,
      redirectUri,
      log: (line) => appLog.push(line),
    });

    browser = await openBrowser();
    page = await browser.newPage();
    context = page.context();
    page.setDefaultTimeout(10_000);
    page.on("request", (req) => requestedUrls.push(req.url()));
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await app?.close().catch(() => {});
    await server?.stop();
  });

  it("connects: Connect with scopegate -> sign in -> Allow -> the user's data on the app's page", async () => {
    await page.goto(app.url);
    await page.getByRole("button", { name: "Connect with scopegate" }).click();

    // scopegate's sign-in page, on scopegate's origin.
    await page.waitForURL((u) => u.origin === new URL(server.issuer).origin && u.pathname === "/login");
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();

    // The consent page names the app and the scopes it asked for.
    await page.waitForURL((u) => u.pathname === "/v1/oauth/authorize");
    expect(await page.getByRole("heading", { level: 1 }).innerText()).toContain("Example Partner App");
    expect(await bodyText()).toContain("profile:read");
    await page.getByRole("button", { name: "Allow" }).click();

    // Back on the example, which exchanged the code, validated the id_token and called GraphQL.
    await page.waitForURL(`${app.url}/`);
    const body = await bodyText();
    expect(body).toContain("Connected.");
    expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe(`Connected to scopegate as ${NAME}`);
    expect(await page.locator("tr", { hasText: "Email" }).innerText()).toContain(EMAIL);
    expect(await page.getByTestId("id-token-sub").innerText()).toBe(userId);
    expect(body).toContain("openid offline_access profile:read data:read");
    // No birth date on this account: the field is shown as not set, not as an error.
    expect(await page.locator("tr", { hasText: "Birth date" }).innerText()).toContain("not set");

    const [grant, ...more] = await grants();
    expect(more).toHaveLength(0);
    expect(grant!.revokedAt).toBeNull();
    expect([...grant!.scopes].sort()).toEqual(["data:read", "offline_access", "openid", "profile:read"]);
    expect(grant!.refreshTokens).toHaveLength(1);
    expect(grant!.accessTokens).toHaveLength(1);
    // The partner's cookie is HttpOnly and on its own host; scopegate's session is on scopegate's.
    const cookies = await context.cookies();
    const sid = cookies.find((c) => c.name === "partner_sid");
    expect(sid).toMatchObject({ domain: "localhost", httpOnly: true, sameSite: "Lax" });
    expect(cookies.find((c) => c.name === "sg_session")?.domain).toBe("127.0.0.1");
  });

  it("Refresh token: a new access token, and the refresh token rotates (the old one is spent)", async () => {
    const before = await page.getByTestId("refresh-token-fingerprint").textContent();
    const accessBefore = await page.getByTestId("access-token-fingerprint").textContent();
    await page.getByRole("button", { name: "Refresh token" }).click();
    await page.waitForURL(`${app.url}/`);

    const body = await bodyText();
    expect(body).toContain("Token refreshed.");
    expect(body).toContain("The refresh token rotated");
    const after = await page.getByTestId("refresh-token-fingerprint").textContent();
    const accessAfter = await page.getByTestId("access-token-fingerprint").textContent();
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    expect(accessAfter).not.toBe(accessBefore);
    expect(body).toContain(`${before} → ${after}`);
    expect(body).toContain("refreshed 1 time(s)");
    // The new access token works: the data is still there.
    expect(await page.locator("tr", { hasText: "Email" }).innerText()).toContain(EMAIL);

    const [grant] = await grants();
    expect(grant!.revokedAt).toBeNull();
    expect(grant!.refreshTokens).toHaveLength(2);
    const [first, second] = grant!.refreshTokens;
    expect(first!.rotatedAt).not.toBeNull();
    expect(second!.rotatedAt).toBeNull();
    expect(second!.revokedAt).toBeNull();
    expect(grant!.accessTokens).toHaveLength(2);
  });

  it("Disconnect: revokes the grant at scopegate, and the old access token is refused at once", async () => {
    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.waitForURL(`${app.url}/`);
    const body = await bodyText();
    expect(body).toContain("Disconnected.");
    expect(body).toContain("scopegate revoked the refresh token");
    expect(body).toContain("the old access token is now refused (401 invalid_token)");
    expect(await page.getByRole("button", { name: "Connect with scopegate" }).isVisible()).toBe(true);
    expect(body).not.toContain(EMAIL);

    const [grant] = await grants();
    expect(grant!.revokedAt).not.toBeNull();
    expect(grant!.refreshTokens.every((t) => t.revokedAt !== null)).toBe(true);
    expect(grant!.accessTokens.every((t) => t.revokedAt !== null)).toBe(true);
  });

  it("Deny on the consent page comes back as access_denied, and nothing is granted", async () => {
    await page.getByRole("button", { name: "Connect with scopegate" }).click();
    // Still signed in at scopegate; the grant was revoked, so consent is asked again.
    await page.waitForURL((u) => u.pathname === "/v1/oauth/authorize");
    await page.getByRole("button", { name: "Deny" }).click();
    await page.waitForURL(`${app.url}/`);
    expect(await bodyText()).toContain("You did not allow the connection (access_denied).");
    expect(await page.getByRole("button", { name: "Connect with scopegate" }).isVisible()).toBe(true);
    const all = await grants();
    expect(all.every((g) => g.revokedAt !== null)).toBe(true);
  });

  it("a scope the user unticks: GraphQL leaves those fields out and the page says they were not shared", async () => {
    await page.getByRole("button", { name: "Connect with scopegate" }).click();
    await page.waitForURL((u) => u.pathname === "/v1/oauth/authorize");
    await page.getByRole("checkbox", { name: /profile:read/ }).uncheck();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${app.url}/`);

    const body = await bodyText();
    expect(body).toContain("Connected.");
    expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe("Connected to scopegate");
    expect(body).toContain("openid offline_access data:read");
    expect(body).not.toContain("profile:read data:read");
    // me.id needs no scope; name and email come back null with a scope error.
    expect(await page.locator("tr", { hasText: "User ID" }).innerText()).toContain(userId);
    for (const field of ["Name", "Email", "Birth date"]) {
      // INSUFFICIENT_SCOPE names the scope that would open the field.
      expect(await page.locator("tr", { hasText: field }).first().innerText()).toContain(
        "not shared with this app (needs profile:read)",
      );
    }
    expect(body).not.toContain(EMAIL);
    expect(body).not.toContain(NAME);

    const live = (await grants()).filter((g) => g.revokedAt === null);
    expect(live).toHaveLength(1);
    expect([...live[0]!.scopes].sort()).toEqual(["data:read", "offline_access", "openid"]);

    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.waitForURL(`${app.url}/`);
    expect(await bodyText()).toContain("Disconnected.");
    expect((await grants()).every((g) => g.revokedAt !== null)).toBe(true);
  });

  it("never puts a token or the client secret in a URL or a log line", async () => {
    expect(requestedUrls.length).toBeGreaterThan(5);
    expect(appLog.length).toBeGreaterThan(5);
    // Tokens as they travel: JWTs start with eyJ; the refresh token and secret are named.
    const forbidden = [/eyJ[\w-]+\.[\w-]+\./, /access_token/i, /refresh_token=/i, /id_token=/i, /client_secret/i];
    for (const url of requestedUrls) {
      for (const re of forbidden) expect(url, url).not.toMatch(re);
      expect(url).not.toContain(clientSecret);
      expect(url).not.toContain(encodeURIComponent(clientSecret));
    }
    for (const line of appLog) {
      for (const re of forbidden) expect(line).not.toMatch(re);
      expect(line).not.toContain(clientSecret);
      expect(line).not.toMatch(/code=|state=|[?]/);
    }
    // The log did see the callback (by path only).
    expect(appLog).toContain("GET /callback 303");
  });
});
