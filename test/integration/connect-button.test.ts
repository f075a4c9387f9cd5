/**
 * The "Connect with scopegate" button kit (src/pages/brand.ts, docs/branding.md):
 * how the server serves each SVG (type, caching, a policy under which no
 * script can run, embeddable from other origins), and the kit in use on the
 * example partner app in real Chromium: the button's accessible name, the
 * image loaded from scopegate, a visible focus ring from the keyboard, and the
 * button leading into scopegate's sign-in and consent.
 *
 * Without Chromium the browser tests are skipped, with the reason, never passed.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { CONNECT_BUTTONS, connectButtonPath, connectButtonSvg } from "../../src/pages/brand.ts";
import { startPartnerApp, type PartnerApp } from "../../examples/partner-app/server.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { freePort, startTestServer, type TestServer } from "../helpers/server.ts";

const PASSWORD = "correct horse battery staple";

describe("the button kit over HTTP", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(CONNECT_BUTTONS.map((b) => [connectButtonPath(b.name), b.name]))(
    "serves %s as an immutable SVG that cannot run script and that other sites may show",
    async (path, name) => {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      const h = res.headers;
      expect(h.get("content-type")).toBe("image/svg+xml");
      expect(h.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const csp = h.get("content-security-policy") ?? "";
      expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
      expect(csp).toMatch(/(^|; )sandbox(;|$)/);
      expect(csp).not.toMatch(/script-src|unsafe/);
      expect(h.get("x-content-type-options")).toBe("nosniff");
      expect(h.get("cross-origin-resource-policy")).toBe("cross-origin");
      expect(h.get("set-cookie")).toBeNull();
      expect(await res.text()).toBe(connectButtonSvg(name));

      const head = await fetch(`${server.url}${path}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-type")).toBe("image/svg+xml");
      expect(await head.text()).toBe("");
    },
  );

  it("answers 404 for a button or a version it does not have", async () => {
    for (const path of [
      "/brand/v1/connect-button-blue.svg",
      "/brand/v0/connect-button-dark.svg",
      "/brand/v1/",
      "/brand/connect-button-dark.svg",
    ]) {
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
    }
  });
});

describeBrowser("the connect button on the example partner app, in Chromium", () => {
  let server: TestServer;
  let app: PartnerApp;
  let browser: TestBrowser;
  let page: Page;
  const email = "kit.user@example.com";
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    const created = await signUp(server.db.prisma, { name: "Kit User", email, password: PASSWORD });
    if (!created.ok) throw new Error(`signUp failed: ${JSON.stringify(created.errors)}`);
    // The app on localhost, scopegate on 127.0.0.1: the image comes from another origin, as on a partner's site.
    const port = await freePort();
    const redirectUri = `http://localhost:${port}/callback`;
    const { client, clientSecret } = await insertClient(server.db.prisma, {
      ownerId: created.user.id,
      name: "Kit Example App",
      environment: "DEVELOPMENT",
      type: "CONFIDENTIAL",
      redirectUris: [redirectUri],
      scopes: ["profile:read", "data:read", "data:write"],
    });
    app = await startPartnerApp({
      issuer: server.issuer,
      clientId: client.clientId,
      clientSecret: clientSecret!,
      port,
      redirectUri,
      log: () => {},
    });
    browser = await openBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    // A CSP violation (say the image blocked by the app's img-src) is a console error.
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await app?.close().catch(() => {});
    await server?.stop();
  });

  it("is a button named 'Connect with scopegate' showing scopegate's SVG at its full size", async () => {
    await page.goto(app.url);
    const button = page.getByRole("button", { name: "Connect with scopegate", exact: true });
    expect(await button.count()).toBe(1);
    // The name comes from the image's alt text; the image is the button's only content.
    expect(await button.ariaSnapshot()).toBe('- button "Connect with scopegate":\n  - img "Connect with scopegate"');
    const img = await button.locator("img").evaluate((i: HTMLImageElement) => ({
      complete: i.complete,
      width: i.naturalWidth,
      height: i.naturalHeight,
      src: i.currentSrc,
    }));
    expect(img).toEqual({ complete: true, width: 248, height: 48, src: `${server.issuer}/brand/v1/connect-button-dark.svg` });
    const box = await button.boundingBox();
    expect(box!.width).toBeGreaterThanOrEqual(248);
    expect(box!.height).toBeGreaterThanOrEqual(48);
    expect(consoleErrors).toEqual([]);
  });

  it("shows a focus ring when reached with the keyboard", async () => {
    const button = page.getByRole("button", { name: "Connect with scopegate", exact: true });
    expect(await button.evaluate((b) => getComputedStyle(b).outlineStyle)).toBe("none");
    // The button is the page's first focusable element.
    await page.keyboard.press("Tab");
    const ring = await button.evaluate((b) => {
      const s = getComputedStyle(b);
      return {
        focused: document.activeElement === b && b.matches(":focus-visible"),
        outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
        offset: s.outlineOffset,
        shadow: s.boxShadow,
      };
    });
    expect(ring).toEqual({
      focused: true,
      outline: "solid 3px rgb(27, 31, 36)",
      offset: "2px",
      shadow: "rgb(255, 255, 255) 0px 0px 0px 2px",
    });
  });

  it("leads into scopegate's authorization flow: sign-in, then consent naming the app, then back connected", async () => {
    // From the keyboard, as the focus test left it.
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.origin === new URL(server.issuer).origin && u.pathname === "/login");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/v1/oauth/authorize");
    expect(await page.getByRole("heading", { level: 1 }).innerText()).toContain("Kit Example App");
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${app.url}/`);
    expect(await page.locator("body").innerText()).toContain("Connected.");
    expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe("Connected to scopegate as Kit User");
    expect(consoleErrors).toEqual([]);
  });
});
