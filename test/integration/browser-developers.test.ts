// The /developers page in real Chromium: sign in, create a client, copy its
// secret from the clipboard, get a client_credentials token with oauth4webapi,
// rotate the secret in the page (the old one then fails), revoke the client in
// the page (its token then fails on the next GraphQL request).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { currentKind } from "../helpers/kinds.ts";
import { discover, insecure, PASSWORD } from "../helpers/oauth.ts";
import { REPO_ROOT } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SCREENSHOT_DIR = join(REPO_ROOT, "tmp");

describeBrowser("the /developers page in real Chromium", () => {
  let server: TestServer;
  let browser: TestBrowser;
  let as: oauth.AuthorizationServer;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), openBrowser()]);
    as = await discover(server);
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  /** A page whose context may read and write the clipboard (the Copy buttons write to it). */
  async function clipboardPage(): Promise<Page> {
    const context = await browser.browser.newContext({
      baseURL: server.url,
      viewport: { width: 1280, height: 900 },
      permissions: ["clipboard-read", "clipboard-write"],
    });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  /** Console errors (CSP violations among them) and page crashes. */
  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    return problems;
  }

  const clipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());

  async function ccToken(clientId: string, secret: string) {
    const client = { client_id: clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams(), insecure);
    return oauth.processClientCredentialsResponse(as, client, res);
  }

  /** oauth4webapi rejects a 401 with its WWW-Authenticate challenge: Basic, error="invalid_client". */
  async function expectInvalidClient(attempt: Promise<unknown>) {
    const err = await attempt.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = err as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]?.parameters.error).toBe("invalid_client");
  }

  async function meStatus(token: string): Promise<number> {
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "{ me { id } }" }),
    });
    return res.status;
  }

  it("creates a client, copies its secret, rotates it and revokes the client", { timeout: 90_000 }, async () => {
    const email = `dev-${Date.now()}@example.com`;
    const created = await signUp(server.db.prisma, { name: "Dana Developer", email, password: PASSWORD });
    if (!created.ok) throw new Error("sign-up failed");
    const page = await clipboardPage();
    const problems = watch(page);

    // Signed out: /developers sends us to sign in, then back.
    await page.goto("/developers");
    await page.waitForURL((u) => u.pathname === "/login");
    expect(new URL(page.url()).searchParams.get("return_to")).toBe("/developers");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/developers");
    await page.getByRole("heading", { name: "Developers", level: 1 }).waitFor();
    await page.getByText("No clients yet.").waitFor();

    // Validation errors appear next to the field at fault.
    await page.getByLabel("Redirect URIs", { exact: true }).fill("http://localhost:3000/callback");
    await page.getByRole("button", { name: "Create client" }).click();
    const nameError = page.locator("#err-name");
    await nameError.waitFor();
    expect(await nameError.textContent()).toBe("Must not be empty");
    expect(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("true");

    await page.getByLabel("Name", { exact: true }).fill("Backend sync");
    await page.getByLabel("Redirect URIs", { exact: true }).fill("http://partner.example/callback");
    await page.getByRole("button", { name: "Create client" }).click();
    const uriError = page.locator("#err-redirectUris");
    await uriError.waitFor();
    expect(await uriError.textContent()).toMatch(/^Redirect URI http:\/\/partner.example\/callback may use plain http only for localhost/);
    expect(await nameError.isHidden()).toBe(true);
    expect(await page.getByLabel("Redirect URIs", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.locator("#create-form").screenshot({ path: join(SCREENSHOT_DIR, `developers-error-${currentKind()}.png`) });

    // Create: a confidential development client.
    await page.getByLabel("Redirect URIs", { exact: true }).fill("http://localhost:3000/callback\nhttp://127.0.0.1:3000/callback");
    await page.getByRole("button", { name: "Create client" }).click();
    const panel = page.locator("#secret-panel");
    await panel.waitFor();
    expect(await panel.getByText("Copy it now: you will not see this again.").isVisible()).toBe(true);
    expect(await uriError.isHidden()).toBe(true);

    // The new client is in the list with its details.
    const card = page.locator("li.client", { hasText: "Backend sync" });
    await card.waitFor();
    const cardText = await card.innerText();
    for (const expected of [
      "Development",
      "Confidential",
      "http://localhost:3000/callback",
      "http://127.0.0.1:3000/callback",
      "profile:read",
      "data:read",
      "Created",
    ]) {
      expect(cardText).toContain(expected);
    }
    expect(cardText).not.toContain("Revoked");

    // Copy the secret (clipboard) and the client ID.
    await panel.getByRole("button", { name: "Copy the client secret" }).click();
    await expect.poll(() => clipboard(page)).toMatch(/^sgs_/);
    const secret = await clipboard(page);
    expect(await page.locator("#secret-value").textContent()).toBe(secret);
    await card.getByRole("button", { name: /Copy the client ID/ }).click();
    await expect.poll(() => clipboard(page)).toMatch(/^sgc_/);
    const clientId = await clipboard(page);
    expect(await card.getAttribute("data-client-id")).toBe(clientId);
    expect(cardText).toContain(secret.slice(-4)); // the hint

    const row = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
    expect(row).toMatchObject({ ownerId: created.user.id, name: "Backend sync", environment: "DEVELOPMENT", type: "CONFIDENTIAL" });

    await page.screenshot({ path: join(SCREENSHOT_DIR, `developers-${currentKind()}.png`), fullPage: true });

    // The copied secret works for client_credentials.
    const first = await ccToken(clientId, secret);
    expect(await meStatus(first.access_token)).toBe(200);

    // Shown once: after "Done" and a reload, the secret is nowhere on the page.
    await page.getByRole("button", { name: "Done, I saved it" }).click();
    expect(await panel.isHidden()).toBe(true);
    await page.reload();
    expect(await page.content()).not.toContain(secret);

    // Rotate, behind a confirmation dialog: Cancel first changes nothing.
    await page.locator("li.client", { hasText: "Backend sync" }).getByRole("button", { name: "Rotate secret…" }).click();
    const rotateDialog = page.getByRole("dialog", { name: /Rotate the secret of Backend sync/ });
    await rotateDialog.waitFor();
    await rotateDialog.getByRole("button", { name: "Cancel" }).click();
    await rotateDialog.waitFor({ state: "hidden" });
    expect((await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } })).secretHash).toBe(row.secretHash);

    await page.locator("li.client", { hasText: "Backend sync" }).getByRole("button", { name: "Rotate secret…" }).click();
    await rotateDialog.waitFor();
    expect(await rotateDialog.getByLabel("Keep the current secret working for").inputValue()).toBe("0");
    await page.screenshot({ path: join(SCREENSHOT_DIR, `developers-rotate-${currentKind()}.png`) });
    await rotateDialog.getByRole("button", { name: "Rotate secret" }).click();
    await rotateDialog.waitFor({ state: "hidden" });
    await panel.waitFor();
    await panel.getByRole("button", { name: "Copy the client secret" }).click();
    await expect.poll(() => clipboard(page)).not.toBe(clientId);
    const rotated = await clipboard(page);
    expect(rotated).toMatch(/^sgs_/);
    expect(rotated).not.toBe(secret);
    expect(await page.locator("li.client", { hasText: "Backend sync" }).innerText()).toContain(rotated.slice(-4));

    // No grace period: the old secret fails at once, the new one works.
    await expectInvalidClient(ccToken(clientId, secret));
    const token = await ccToken(clientId, rotated);
    expect(await meStatus(token.access_token)).toBe(200);

    // Revoke, behind a confirmation dialog.
    await page.locator("li.client", { hasText: "Backend sync" }).getByRole("button", { name: "Revoke…" }).click();
    const revokeDialog = page.getByRole("dialog", { name: /Revoke Backend sync/ });
    await revokeDialog.waitFor();
    await revokeDialog.getByRole("button", { name: "Revoke client" }).click();
    await revokeDialog.waitFor({ state: "hidden" });
    const revokedCard = page.locator("li.client", { hasText: "Backend sync" });
    await revokedCard.locator(".badge.revoked").waitFor();
    const revokedText = await revokedCard.innerText();
    expect(revokedText).toMatch(/Revoked\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(revokedText).toContain("no longer accepted");
    expect(await revokedCard.getByRole("button", { name: "Revoke…" }).count()).toBe(0);
    expect(await revokedCard.getByRole("button", { name: "Rotate secret…" }).count()).toBe(0);
    expect(await page.getByRole("status").textContent()).toContain("Backend sync was revoked");

    // The token fails on its next GraphQL request; the client can no longer get one.
    expect(await meStatus(token.access_token)).toBe(401);
    await expectInvalidClient(ccToken(clientId, rotated));

    await page.screenshot({ path: join(SCREENSHOT_DIR, `developers-revoked-${currentKind()}.png`), fullPage: true });
    expect(problems).toEqual([]);
  });

  it("shows an error from the server in the dialog and keeps it open", { timeout: 60_000 }, async () => {
    const email = `dev2-${Date.now()}@example.com`;
    const created = await signUp(server.db.prisma, { name: "Sam", email, password: PASSWORD });
    if (!created.ok) throw new Error("sign-up failed");
    const page = await clipboardPage();
    const problems = watch(page);
    await page.goto("/login?return_to=/developers");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/developers");

    // A public client: no secret, and no Rotate button.
    await page.getByLabel("Name", { exact: true }).fill("Phone app");
    await page.getByRole("radio", { name: /Public/ }).check();
    await page.getByLabel("Redirect URIs", { exact: true }).fill("com.example.phone:/callback");
    await page.getByRole("button", { name: "Create client" }).click();
    const card = page.locator("li.client", { hasText: "Phone app" });
    await card.waitFor();
    expect(await page.locator("#secret-panel").isHidden()).toBe(true);
    expect(await page.getByRole("status").textContent()).toContain("Public clients have no secret");
    expect(await card.getByRole("button", { name: "Rotate secret…" }).count()).toBe(0);

    // The client disappears under the page (deleted elsewhere): the dialog shows the server's answer and stays open.
    const { clientId } = await server.db.prisma.oAuthClient.findFirstOrThrow({ where: { ownerId: created.user.id } });
    await server.db.prisma.oAuthClient.delete({ where: { clientId } });
    await card.getByRole("button", { name: "Revoke…" }).click();
    const dialog = page.getByRole("dialog", { name: /Revoke Phone app/ });
    await dialog.getByRole("button", { name: "Revoke client" }).click();
    const error = dialog.getByRole("alert");
    await error.waitFor();
    expect(await error.textContent()).toBe("OAuth client not found.");
    expect(await dialog.isVisible()).toBe(true);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(problems).toEqual([]);
  });
});
