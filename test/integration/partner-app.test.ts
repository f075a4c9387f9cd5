/**
 * The partner-app example (examples/partner-app) against a real scopegate,
 * driven in real Chromium: "Connect with scopegate" -> scopegate's sign-in ->
 * consent "Allow" -> the user's data on the example's page, with the latest
 * measurements (data:read); recording a heart-rate reading (data:write), with
 * scopegate's BAD_USER_INPUT shown next to the field and the form's CSRF token
 * enforced; then "Refresh token" (the refresh token rotates) and "Disconnect"
 * (the grant is revoked), "Deny" (access_denied), unticked scopes (fields
 * shown as not shared, no measurements without data:read, no form without
 * data:write), and that no token or secret ever shows up in a URL or in the
 * app's log.
 * The effects are checked in scopegate's database too, not only on the page.
 *
 * Without Chromium the tests are skipped, with the reason, never passed
 * (describeBrowser).
 */
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import type { MeasurementType } from "../../src/generated/prisma/client.ts";
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
let grantIdOfFirstConnection: string;
const appLog: string[] = [];
const requestedUrls: string[] = [];

/** The page's visible text (pages are server-rendered: complete once loaded). */
function bodyText(): Promise<string> {
  return page.locator("body").innerText();
}

/** The measurements table's rows as shown: [recorded, type, value]. */
async function measurementRows(): Promise<string[][]> {
  const rows = await page.getByTestId("measurements").locator("tbody tr").all();
  return Promise.all(rows.map(async (r) => (await r.locator("td").allInnerTexts()).map((t) => t.trim())));
}

const HOUR = 3600 * 1000;
/** The user's readings, newest first: the page shows the first 10 of them. */
const SEEDED: { type: MeasurementType; value: number; unit: string; shown: string; label: string }[] = [
  { type: "WEIGHT", value: 72.4, unit: "kg", shown: "72.4 kg", label: "Weight" },
  { type: "STEPS", value: 8200, unit: "count", shown: "8200 count", label: "Steps" },
  ...Array.from({ length: 10 }, (_, i) => ({
    type: "HEART_RATE" as const,
    value: 62 + i,
    unit: "bpm",
    shown: `${62 + i} bpm`,
    label: "Heart rate",
  })),
];

async function grants() {
  return server.db.prisma.grant.findMany({
    where: { userId, clientId: clientRowId },
    include: { refreshTokens: { orderBy: { createdAt: "asc" } } },
    orderBy: { createdAt: "asc" },
  });
}

describeBrowser("examples/partner-app in Chromium", () => {
  beforeAll(async () => {
    server = await startTestServer();
    const created = await signUp(server.db.prisma, { name: NAME, email: EMAIL, password: PASSWORD });
    if (!created.ok) throw new Error(`signUp failed: ${JSON.stringify(created.errors)}`);
    userId = created.user.id;
    const seededAt = Date.now() - HOUR;
    await server.db.prisma.measurement.createMany({
      data: SEEDED.map((m, i) => ({ userId, type: m.type, value: m.value, unit: m.unit, recordedAt: new Date(seededAt - i * HOUR) })),
    });

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
      // data:write too: the example records a heart-rate reading.
      scopes: ["profile:read", "data:read", "data:write"],
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
    expect(body).toContain("openid offline_access profile:read data:read data:write");
    // No birth date on this account: the field is shown as not set, not as an error.
    expect(await page.locator("tr", { hasText: "Birth date" }).innerText()).toContain("not set");

    const [grant, ...more] = await grants();
    expect(more).toHaveLength(0);
    expect(grant!.revokedAt).toBeNull();
    expect([...grant!.scopes].sort()).toEqual(["data:read", "data:write", "offline_access", "openid", "profile:read"]);
    grantIdOfFirstConnection = grant!.id;
    expect(grant!.refreshTokens).toHaveLength(1);
    // Access tokens are not stored; the refresh token remembers the one issued with it (for code-reuse revocation).
    expect(grant!.refreshTokens[0]!.accessTokenJti).toMatch(/^[0-9a-f-]{36}$/);
    // The partner's cookie is HttpOnly and on its own host; scopegate's session is on scopegate's.
    const cookies = await context.cookies();
    const sid = cookies.find((c) => c.name === "partner_sid");
    expect(sid).toMatchObject({ domain: "localhost", httpOnly: true, sameSite: "Lax" });
    expect(cookies.find((c) => c.name === "sg_session")?.domain).toBe("127.0.0.1");
  });

  it("shows the latest measurements (me.measurements(first: 10)), newest first", async () => {
    const rows = await measurementRows();
    expect(rows).toHaveLength(10);
    expect(rows.map((r) => r[2])).toEqual(SEEDED.slice(0, 10).map((m) => m.shown));
    expect(rows.map((r) => r[1])).toEqual(SEEDED.slice(0, 10).map((m) => m.label));
    // The two oldest are not on the page; the page says there are more.
    const table = await page.getByTestId("measurements").innerText();
    expect(table).not.toContain(SEEDED[10]!.shown);
    expect(table).not.toContain(SEEDED[11]!.shown);
    expect(await bodyText()).toContain("scopegate has more");
    // Read with the access token: scopegate's audit trail (written in batches) names the field.
    await expect
      .poll(async () => {
        const reads = await server.db.prisma.auditEvent.findMany({
          where: { userId, action: "data.read", grantId: grantIdOfFirstConnection },
        });
        return reads.some((e) => e.detail?.includes("measurements"));
      })
      .toBe(true);
  });

  it("records a heart-rate reading with recordMeasurement (data:write), and lists it first", async () => {
    await page.getByLabel("Heart rate (bpm)").fill("58");
    await page.getByRole("button", { name: "Record reading" }).click();
    await page.waitForURL(`${app.url}/`);

    expect(await bodyText()).toContain("Recorded a heart rate of 58 bpm.");
    const rows = await measurementRows();
    expect(rows).toHaveLength(10);
    expect(rows[0]!.slice(1)).toEqual(["Heart rate", "58 bpm"]);
    // Still the 10 latest: the oldest of them dropped off.
    expect(rows.map((r) => r[2])).toEqual(["58 bpm", ...SEEDED.slice(0, 9).map((m) => m.shown)]);
    // The form is empty again, with no error.
    expect(await page.getByLabel("Heart rate (bpm)").inputValue()).toBe("");
    expect(await page.locator(".field-error").count()).toBe(0);

    const stored = await server.db.prisma.measurement.findMany({ where: { userId, value: 58 } });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ type: "HEART_RATE", unit: "bpm" });
    expect(Math.abs(stored[0]!.recordedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(await bodyText()).toContain(`stored it as measurement ${stored[0]!.id}`);
    // Written under this connection's grant, and audited as such.
    const writes = await server.db.prisma.auditEvent.findMany({ where: { userId, action: "data.written" } });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ clientId: clientRowId, grantId: grantIdOfFirstConnection });
  });

  it("a reading scopegate refuses: the BAD_USER_INPUT message is shown next to the field, and nothing is stored", async () => {
    const before = await server.db.prisma.measurement.count({ where: { userId } });
    await page.getByLabel("Heart rate (bpm)").fill("300");
    await page.getByRole("button", { name: "Record reading" }).click();
    await page.waitForURL(`${app.url}/`);

    const input = page.getByLabel("Heart rate (bpm)");
    // scopegate's own message (extensions.field = input.value), tied to the input.
    const error = page.locator("#heart-rate-error");
    expect(await error.innerText()).toBe("HEART_RATE must be between 20 and 250 bpm.");
    expect(await input.getAttribute("aria-invalid")).toBe("true");
    expect(await input.getAttribute("aria-describedby")).toBe("heart-rate-error");
    // The error sits beside the field, inside the form; the typed value is kept.
    expect(await page.locator("form.record .field").filter({ has: input }).locator("#heart-rate-error").count()).toBe(1);
    expect(await input.inputValue()).toBe("300");
    expect(await bodyText()).not.toContain("Recorded a heart rate");
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before);

    // Shown once: the next page has a clean form.
    await page.reload();
    expect(await page.locator("#heart-rate-error").count()).toBe(0);
    expect(await page.getByLabel("Heart rate (bpm)").getAttribute("aria-invalid")).toBeNull();
  });

  it("the record form needs its CSRF token: a post without it, or with another, is refused and records nothing", async () => {
    const before = await server.db.prisma.measurement.count({ where: { userId } });
    // Same browser, same partner_sid cookie: only the form's token is missing or wrong.
    const missing = await context.request.post(`${app.url}/measurements`, { form: { value: "61" }, maxRedirects: 0 });
    expect(missing.status()).toBe(403);
    const wrong = await context.request.post(`${app.url}/measurements`, { form: { value: "61", csrf: "not-the-token" }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before);
    // The form on the page carries the token, and it works.
    const token = await page.locator('form[action="/measurements"] input[name="csrf"]').getAttribute("value");
    expect(token).toBeTruthy();
    const ok = await context.request.post(`${app.url}/measurements`, { form: { value: "61", csrf: token! }, maxRedirects: 0 });
    expect(ok.status()).toBe(303);
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before + 1);
    await page.goto(app.url);
    expect(await bodyText()).toContain("Recorded a heart rate of 61 bpm.");
  });

  it("a value that is not a number is caught by the app itself, next to the field, and never sent", async () => {
    const before = await server.db.prisma.measurement.count({ where: { userId } });
    const writesBefore = await server.db.prisma.auditEvent.count({ where: { userId, action: "data.written" } });
    // The browser's number input would not take text: post the form as a script would.
    const token = await page.locator('form[action="/measurements"] input[name="csrf"]').getAttribute("value");
    const res = await context.request.post(`${app.url}/measurements`, { form: { value: "<b>fast</b>", csrf: token! }, maxRedirects: 0 });
    expect(res.status()).toBe(303);
    await page.goto(app.url);
    expect(await page.locator("#heart-rate-error").innerText()).toBe("Enter the heart rate as a number, for example 72.");
    expect(await page.getByLabel("Heart rate (bpm)").inputValue()).toBe("");
    expect(await page.content()).not.toContain("<b>fast");
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before);
    expect(await server.db.prisma.auditEvent.count({ where: { userId, action: "data.written" } })).toBe(writesBefore);
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
    expect(second!.accessTokenJti).not.toBe(first!.accessTokenJti);
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
    // Its access tokens end through the change feed's grant.revoked.
    expect(await server.db.prisma.changeEvent.count({ where: { kind: "grant.revoked", subject: grant!.id } })).toBe(1);
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
    expect(body).toContain("openid offline_access data:read data:write");
    expect(body).not.toContain("profile:read data:read");
    // The data scopes are still granted: the measurements and the form are there.
    expect((await measurementRows()).length).toBe(10);
    expect(await page.getByRole("button", { name: "Record reading" }).isVisible()).toBe(true);
    // me.id needs no scope; name and email come back null with a scope error.
    expect(await page.locator("tr", { hasText: "User ID" }).innerText()).toContain(userId);
    for (const field of ["Name", "Email", "Birth date"]) {
      // INSUFFICIENT_SCOPE names the scope that would open the field.
      expect(await page.locator("tr", { hasText: field }).first().innerText()).toContain("not shared with this app (needs profile:read)");
    }
    expect(body).not.toContain(EMAIL);
    expect(body).not.toContain(NAME);

    const live = (await grants()).filter((g) => g.revokedAt === null);
    expect(live).toHaveLength(1);
    expect([...live[0]!.scopes].sort()).toEqual(["data:read", "data:write", "offline_access", "openid"]);

    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.waitForURL(`${app.url}/`);
    expect(await bodyText()).toContain("Disconnected.");
    expect((await grants()).every((g) => g.revokedAt !== null)).toBe(true);
  });

  it("without data:read no measurements are asked for, and without data:write there is no form", async () => {
    await page.getByRole("button", { name: "Connect with scopegate" }).click();
    await page.waitForURL((u) => u.pathname === "/v1/oauth/authorize");
    await page.getByRole("checkbox", { name: /data:read/ }).uncheck();
    await page.getByRole("checkbox", { name: /data:write/ }).uncheck();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${app.url}/`);

    const body = await bodyText();
    expect(body).toContain("Connected.");
    expect(body).toContain("openid offline_access profile:read");
    expect(body).not.toMatch(/data:read data:write|offline_access profile:read data:/);
    expect(await page.locator("tr", { hasText: "Email" }).innerText()).toContain(EMAIL);
    const card = await page.locator("#measurements").innerText();
    expect(card).toContain("not shared with this app (needs data:read)");
    expect(card).toContain("Recording a reading needs data:write");
    expect(await page.getByTestId("measurements").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Record reading" }).count()).toBe(0);

    // The app did not even ask: the only read under this grant is the profile.
    const live = (await grants()).filter((g) => g.revokedAt === null);
    expect(live).toHaveLength(1);
    const readsUnderGrant = () => server.db.prisma.auditEvent.findMany({ where: { action: "data.read", grantId: live[0]!.id } });
    // Read events are written in batches, within about a second.
    await expect.poll(async () => (await readsUnderGrant()).length).toBeGreaterThan(0);
    for (const e of await readsUnderGrant()) {
      expect(e.detail).toContain("me{");
      expect(e.detail).not.toContain("measurements");
    }

    // A post to the form anyway (say from an old tab) is refused by the app itself, not sent.
    const before = await server.db.prisma.measurement.count({ where: { userId } });
    const token = await page.locator('form[action="/disconnect"] input[name="csrf"]').getAttribute("value");
    await context.request.post(`${app.url}/measurements`, { form: { value: "70", csrf: token! }, maxRedirects: 0 });
    expect(await server.db.prisma.measurement.count({ where: { userId } })).toBe(before);
    await page.goto(app.url);
    expect(await bodyText()).toContain("Recording a reading needs data:write, which this connection was not granted.");

    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.waitForURL(`${app.url}/`);
    expect(await bodyText()).toContain("Disconnected.");
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
    // The log did see the callback and the record form (by path only).
    expect(appLog).toContain("GET /callback 303");
    expect(appLog).toContain("POST /measurements 303");
    expect(appLog).toContain("recording refused: BAD_USER_INPUT on input.value");
  });
});
