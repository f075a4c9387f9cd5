import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { currentKind } from "../helpers/kinds.ts";
import { REPO_ROOT } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SCREENSHOT_DIR = join(REPO_ROOT, "tmp");

describeBrowser("accounts in real Chromium: sign up, sign out, sign in, GraphiQL", () => {
  let server: TestServer;
  let browser: TestBrowser;
  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), openBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Every URL the page (and its workers) asked for, and every console error or page crash. */
  function watch(page: Page) {
    const requests: string[] = [];
    const problems: string[] = [];
    page.context().on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    return { requests, problems };
  }

  const signedInLine = (page: Page) => page.locator("main").getByText(/You are signed in as/);

  it("signs up, signs out, signs in by the labelled fields, then queries viewer in GraphiQL", async () => {
    const page = await browser.newPage(server.url);
    const seen = watch(page);
    const email = `browser-${Date.now()}@example.com`;
    const password = "a long browser password";

    // Sign up.
    await page.goto("/signup");
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toMatch(/Create your scopegate account/);
    await page.getByLabel("Name").fill("Bea Browser");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${server.url}/`);
    await expect(signedInLine(page).textContent()).resolves.toContain(email);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Hello, Bea Browser");

    // The session cookie is HttpOnly and SameSite=Lax in the browser's own jar.
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "sg_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax", secure: false, path: "/" });
    expect(await page.evaluate(() => document.cookie)).not.toContain("sg_session");

    // Sign out with the header button.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${server.url}/login`);
    expect((await page.context().cookies()).some((c) => c.name === "sg_session")).toBe(false);
    await page.goto("/");
    await expect(signedInLine(page).count()).resolves.toBe(0);

    // A wrong password shows the message on the page.
    await page.goto("/login");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toBe("That email and password don't match an account.");
    await expect(page.getByLabel("Email").inputValue()).resolves.toBe(email);

    // The sign-in page, as a user sees it (looked at by hand when this test was written).
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.goto("/login");
    await page.screenshot({ path: join(SCREENSHOT_DIR, `browser-sign-in-${currentKind()}.png`), fullPage: true });

    // Sign in.
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${server.url}/`);
    await expect(signedInLine(page).textContent()).resolves.toContain(email);

    // GraphiQL renders from local assets, and its own requests carry the CSRF token.
    const introspection = page.waitForResponse((r) => r.url() === `${server.url}/graphql` && r.request().method() === "POST");
    await page.goto("/graphql");
    const schemaResponse = await introspection;
    expect(schemaResponse.status()).toBe(200);
    expect(await schemaResponse.text()).toContain("__schema");
    await page.locator(".graphiql-container").first().waitFor();
    const configuredToken = (await page.content()).match(/X-CSRF-Token\\?"\s*:\s*\\?"([\w-]{20,})/)?.[1];
    expect(configuredToken).toBeTruthy();
    expect(schemaResponse.request().headers()["x-csrf-token"]).toBe(configuredToken);

    // Type the query into the editor and run it, as a person would. (The editor
    // closes brackets by itself, so only the opening half is typed.)
    await page.locator(".graphiql-query-editor .monaco-editor").first().click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("{ viewer { user { email");
    const editorText = async (selector: string) => (await page.locator(selector).innerText()).replace(/\u00a0/g, " ");
    await expect
      .poll(() => editorText(".graphiql-query-editor .view-lines"), { timeout: 10_000 })
      .toMatch(/^\{ viewer \{ user \{ email\s*\}\s*\}\s*\}$/);
    const run = page.waitForResponse((r) => r.url() === `${server.url}/graphql` && (r.request().postData() ?? "").includes("viewer"));
    await page.waitForTimeout(300); // let the suggestion popup settle, then dismiss it
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Enter");
    const result = await run;
    expect(result.status()).toBe(200);
    expect(await result.json()).toEqual({ data: { viewer: { user: { email } } } });
    await expect.poll(() => editorText(".graphiql-response"), { timeout: 10_000 }).toContain(`"email": "${email}"`);

    // The same from the page's own script context with that token; without it, refused.
    const fromPage = await page.evaluate(async (token) => {
      const call = async (headers: Record<string, string>) => {
        const res = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ query: "{ viewer { user { email } } }" }),
        });
        return { status: res.status, body: await res.json() };
      };
      return { withToken: await call({ "X-CSRF-Token": token! }), without: await call({}) };
    }, configuredToken);
    expect(fromPage.withToken).toEqual({ status: 200, body: { data: { viewer: { user: { email } } } } });
    expect(fromPage.without.status).toBe(403);

    // Nothing was fetched from another host: GraphiQL's script, styles and workers are our own files.
    const origin = new URL(server.url).origin;
    const foreign = seen.requests.filter((u) => {
      if (u.startsWith("data:")) return false;
      const url = new URL(u.startsWith("blob:") ? u.slice(5) : u);
      return url.origin !== origin;
    });
    expect(foreign).toEqual([]);
    const assets = seen.requests.filter((u) => u.startsWith(`${origin}/assets/graphiql/`)).map((u) => u.split("/").pop());
    expect(assets).toEqual(expect.arrayContaining(["graphiql.js", "graphiql.css", "boot.js"]));
    expect(assets.some((a) => a?.endsWith(".worker.js"))).toBe(true);
    // No script errors and no failed loads, except the two refusals this test asked for.
    const expected = [/status of 401 .*\/login\)$/, /status of 403 .*\/graphql\)$/];
    expect(seen.problems.filter((p) => !expected.some((re) => re.test(p)))).toEqual([]);
  }, 120_000);
});
