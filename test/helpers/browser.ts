/**
 * Real Chromium for browser tests, through playwright-core (no browser download:
 * it drives the system's Chromium).
 *
 *   import { describeBrowser, openBrowser } from "../helpers/browser.ts";
 *
 *   describeBrowser("sign-in in a browser", () => {
 *     let browser: TestBrowser;
 *     beforeAll(async () => { browser = await openBrowser(); });
 *     afterAll(async () => { await browser?.close(); });
 *     it("...", async () => {
 *       const page = await browser.newPage(server.url);   // fresh cookies per page
 *       await page.goto("/login");
 *     });
 *   });
 *
 * Where Chromium is not installed, describeBrowser's tests are reported as
 * skipped (never as passed) and the reason is printed. Where it is installed
 * but does not start, the tests fail.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { describe } from "vitest";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Like `command -v name`. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

function findChromium(): { path: string | null; reason: string | null } {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    return executable(configured)
      ? { path: configured, reason: null }
      : { path: null, reason: `CHROMIUM_PATH=${configured} is not an executable file` };
  }
  for (const name of ["chromium", "chromium-browser"]) {
    const found = onPath(name);
    if (found) return { path: found, reason: null };
  }
  return {
    path: null,
    reason: "Chromium is not installed (no `chromium` on PATH and no CHROMIUM_PATH); install it with `apt-get install -y chromium`",
  };
}

const found = findChromium();

/** The Chromium binary the browser tests use, or null when there is none. */
export const chromiumPath: string | null = found.path;
/** Why browser tests are skipped (null when they run). */
export const chromiumMissingReason: string | null = found.reason;

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-gpu",
  "--no-first-run",
  "--disable-sync",
];

let warned = false;

/**
 * `describe` for tests that need Chromium: skipped, with the reason printed,
 * when it is missing.
 */
export function describeBrowser(name: string, fn: () => void): void {
  // .ci/run installs Chromium: on CI a missing browser is a broken setup, not a skip.
  if (!chromiumPath && process.env.CI) {
    throw new Error(`CI is set but Chromium is missing: ${chromiumMissingReason}`);
  }
  if (!chromiumPath && !warned) {
    warned = true;
    console.warn(`[scopegate tests] browser tests SKIPPED: ${chromiumMissingReason}`);
  }
  describe.skipIf(!chromiumPath)(chromiumPath ? name : `${name} (skipped: ${chromiumMissingReason})`, fn);
}

export interface TestBrowser {
  browser: Browser;
  /**
   * A page in a new, isolated context (its own cookies); relative URLs in
   * page.goto() resolve against baseURL.
   */
  newPage(baseURL?: string): Promise<Page>;
  /** Closes every context and the browser. */
  close(): Promise<void>;
}

/** Launches headless Chromium. Throws when Chromium is missing: use describeBrowser. */
export async function openBrowser(options: { headless?: boolean } = {}): Promise<TestBrowser> {
  if (!chromiumPath) throw new Error(`cannot launch Chromium: ${chromiumMissingReason}`);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: options.headless ?? true,
    args: CHROMIUM_ARGS,
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(baseURL) {
      const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } });
      contexts.push(context);
      return context.newPage();
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}
