// One security-header policy on every HTML answer (src/pages/security-headers.ts,
// docs/security-headers.md). The walk below takes its routes from the app's own
// route table, so a page added later is walked, and fails here without the headers,
// without anyone listing it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { AppDeps } from "../../src/context.ts";
import { createLogger } from "../../src/lib/log.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { STYLESHEET_URL } from "../../src/pages/assets.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { WebClient, hiddenInput } from "../helpers/http.ts";
import { authorizationUrl, discover, registerClient, signedInUser } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const ENV = { METRICS_TOKEN: "metrics-token-for-the-walk" };
const SOME_ID = "00000000-0000-4000-8000-000000000000";
const REDIRECT = "http://localhost:3000/callback";

/** Every method and path the app routes, with parameters filled in. */
function routeTable(): { method: string; path: string }[] {
  // Only the table is read: no request reaches these stand-in dependencies.
  const deps = {
    config: loadConfig({ ISSUER: "http://127.0.0.1:1", ...ENV }),
    logger: createLogger("silent", false),
    metrics: new Metrics(),
  };
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of createApp(deps as unknown as AppDeps).routes) {
    // "ALL" are middleware (app.use); OPTIONS answers are CORS preflights.
    if (r.method === "ALL" || r.method === "OPTIONS") continue;
    const path = r.path.replace(/\/:[A-Za-z_]\w*(\{[^}]*\})?\??/g, `/${SOME_ID}`).replace(/\*/g, "x");
    seen.set(`${r.method} ${path}`, { method: r.method, path });
  }
  return [...seen.values()];
}

/** Which named addition a path's HTML gets (strict when not listed). */
const ADDITIONS: Record<string, "scripts" | "graphiql" | "authorization"> = {
  "/developers": "scripts",
  "/graphql": "graphiql",
  "/v1/oauth/authorize": "authorization",
  "/login": "authorization",
  "/signup": "authorization",
};

/** The connector callback's pages: their URL carries the provider's authorization code. */
const CONNECTOR_CALLBACK = /^\/v1\/connectors\/oauth\/[^/]+\/callback$/;

function additionOf(path: string): (typeof ADDITIONS)[string] | "connectorCallback" | undefined {
  return ADDITIONS[path] ?? (CONNECTOR_CALLBACK.test(path) ? "connectorCallback" : undefined);
}

function directives(csp: string | null): Record<string, string[]> {
  if (!csp) return {};
  return Object.fromEntries(
    csp
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

interface Answer {
  what: string;
  path: string;
  res: Response;
  body: string;
}

/** The headers every HTML answer must carry, with its page's named addition. */
function expectPageHeaders({ what, path, res, body }: Answer) {
  const h = res.headers;
  const addition = additionOf(path);
  const csp = directives(h.get("content-security-policy"));
  expect(csp["frame-ancestors"], what).toEqual(["'none'"]);
  expect(csp["default-src"], what).toEqual(["'none'"]);
  expect(csp["base-uri"], what).toEqual(["'none'"]);
  expect(h.get("x-frame-options"), what).toBe("DENY");
  expect(h.get("x-content-type-options"), what).toBe("nosniff");
  expect(h.get("cache-control"), what).toBe("no-store");
  expect(h.get("referrer-policy"), what).toBe(
    addition === "authorization" || addition === "connectorCallback" ? "no-referrer" : "same-origin",
  );
  // Scripts only where named, from our origin only, never inline or eval.
  expect(csp["script-src"], what).toEqual(addition === "scripts" || addition === "graphiql" ? ["'self'"] : undefined);
  expect(csp["style-src"], what).toEqual(addition === "graphiql" ? ["'self'", "'unsafe-inline'"] : ["'self'"]);
  expect(csp["form-action"], what).toEqual(addition === "authorization" ? undefined : ["'self'"]);
  if (addition !== "authorization") expect(h.get("cross-origin-opener-policy"), what).toBe("same-origin");
  else expect(h.get("cross-origin-opener-policy"), what).toBeNull();
  if (addition !== "graphiql") {
    // What the policy would block must not be in the page: inline styles and inline scripts.
    expect(body, what).not.toMatch(/<style|\sstyle=/i);
    expect(body, what).not.toMatch(/<script(?![^>]*\bsrc=)/i);
    expect(body, what).toContain(`<link rel="stylesheet" href="${STYLESHEET_URL}">`);
  }
}

describe("security headers", () => {
  let server: TestServer;
  let signedIn: WebClient;
  let userId: string;
  const answers: Answer[] = [];

  async function record(client: WebClient, who: string, method: string, path: string) {
    const init: RequestInit = { method, headers: { accept: "text/html,application/xhtml+xml" } };
    if (method !== "GET" && method !== "HEAD") {
      init.headers = { ...init.headers, "content-type": "application/x-www-form-urlencoded" };
      init.body = "";
    }
    const res = await client.fetch(path, init);
    answers.push({
      what: `${method} ${path} (${who}) → ${res.status}`,
      path: new URL(path, server.url).pathname,
      res,
      body: await res.text(),
    });
  }

  const html = () => answers.filter((a) => /^text\/html/i.test(a.res.headers.get("content-type") ?? ""));

  beforeAll(async () => {
    server = await startTestServer(ENV);
    const user = await signedInUser(server);
    signedIn = user.web;
    userId = user.user.id;
    const anonymous = new WebClient(server.url);
    // Every route, signed out and signed in; form posts come without a form token,
    // so they are refused (and change nothing) wherever a form is checked.
    for (const { method, path } of routeTable()) {
      await record(anonymous, "signed out", method, path);
      await record(signedIn, "signed in", method, path);
    }
    // Pages that need a real request behind them: the consent page, the
    // authorization endpoint's error page, the sign-in form again after a refusal,
    // and what an unknown path answers.
    const { client } = await registerClient(server, userId, { environment: "DEVELOPMENT" });
    const req = await authorizationUrl(await discover(server), client.clientId, REDIRECT, "openid data:read");
    await record(signedIn, "signed in", "GET", req.url.pathname + req.url.search);
    await record(signedIn, "signed in", "GET", "/v1/oauth/authorize?client_id=sgc_nobody");
    await record(anonymous, "signed out", "POST", "/login");
    await record(anonymous, "signed out", "GET", "/no-such-page");
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("walks every page: the route table has them all, and each answers HTML", () => {
    const pages = new Set(html().map((a) => `${a.res.status} ${a.what.split(" (")[0]!.split("?")[0]}`));
    for (const expected of [
      "200 GET /",
      "200 GET /login",
      "200 GET /signup",
      "200 GET /logout",
      "200 GET /account",
      "200 GET /account/apps",
      "200 GET /account/activity",
      "200 GET /account/export",
      "200 GET /account/delete",
      `404 GET /account/apps/${SOME_ID}/revoke`,
      "200 GET /developers",
      "200 GET /graphql",
      "200 GET /v1/oauth/authorize",
      "400 GET /v1/oauth/authorize",
      "400 POST /v1/oauth/authorize",
      "403 POST /login",
      "403 POST /signup",
      "403 POST /logout",
      "403 POST /account/password",
      "403 POST /account/export",
      "403 POST /account/delete",
      `403 POST /account/apps/${SOME_ID}/revoke`,
      `403 POST /account/apps/${SOME_ID}/scopes`,
      // An unknown path is a page too; the connector callback's page is no-referrer.
      "404 GET /no-such-page",
      `404 GET /v1/connectors/oauth/${SOME_ID}/callback`,
    ]) {
      expect(pages, expected).toContain(expected);
    }
  });

  it("gives every HTML answer the strict policy, or its page's named addition", () => {
    expect(html().length).toBeGreaterThan(30);
    for (const answer of html()) expectPageHeaders(answer);
  });

  it("marks every other answer nosniff, so nothing is ever read as HTML", () => {
    const others = answers.filter((a) => !/^text\/html/i.test(a.res.headers.get("content-type") ?? ""));
    expect(others.length).toBeGreaterThan(10);
    for (const a of others) expect(a.res.headers.get("x-content-type-options"), a.what).toBe("nosniff");
  });

  it("serves the one stylesheet under its content hash, cached for good; another hash is 404", async () => {
    expect(STYLESHEET_URL).toMatch(/^\/assets\/pages\/[0-9a-f]{12}\/styles\.css$/);
    const res = await fetch(`${server.url}${STYLESHEET_URL}`, { headers: { "accept-encoding": "gzip" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(await res.text()).toContain(".badge.dev");
    const stale = await fetch(`${server.url}${STYLESHEET_URL.replace(/[0-9a-f]{12}/, "0".repeat(12))}`);
    expect(stale.status).toBe(404);
  });

  it("accepts a no-referrer page's own post (Origin: null, Sec-Fetch-Site: same-origin) and nothing else with Origin: null", async () => {
    const { email } = await signedInUser(server, "Nora");
    const post = async (site: string | null) => {
      const web = new WebClient(server.url);
      const form = await web.page("/login");
      const headers: Record<string, string> = { origin: "null" };
      if (site) headers["sec-fetch-site"] = site;
      return (
        await web.postForm(
          "/login",
          { csrf: hiddenInput(form.html, "csrf")!, return_to: "/", email, password: "correct horse battery staple" },
          headers,
        )
      ).res.status;
    };
    expect(await post("same-origin")).toBe(303);
    expect(await post("cross-site")).toBe(403);
    expect(await post("same-site")).toBe(403);
    expect(await post(null)).toBe(403);
  });
});

describeBrowser("pages under their policy in real Chromium", () => {
  let server: TestServer;
  let browser: TestBrowser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), openBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Console errors (CSP violations among them) and page crashes. */
  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${page.url()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
    return problems;
  }

  it("styles every page from the stylesheet with nothing blocked, and GraphiQL runs", async () => {
    const { email } = await signedInUser(server, "Ada");
    const owner = await server.db.prisma.user.findUniqueOrThrow({ where: { email } });
    const { client } = await registerClient(server, owner.id, { environment: "DEVELOPMENT" });
    const req = await authorizationUrl(await discover(server), client.clientId, REDIRECT, "openid data:read");

    const page = await browser.newPage(server.url);
    const problems = watch(page);
    await page.goto("/login");
    await page.fill("#f-email", email);
    await page.fill("#f-password", "correct horse battery staple");
    await page.click("button[type=submit]");
    await page.waitForURL(`${server.url}/`);
    for (const path of [
      "/",
      "/account",
      "/account/apps",
      "/account/activity",
      "/account/export",
      "/account/delete",
      "/developers",
      "/logout",
      req.url.pathname + req.url.search,
    ]) {
      await page.goto(path);
      // The stylesheet applied: the page background and the header's flex layout come from it.
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), path).toBe("rgb(246, 248, 250)");
      expect(await page.evaluate(() => getComputedStyle(document.querySelector("header")!).display), path).toBe("flex");
    }
    await page.goto("/graphql");
    await page.locator(".graphiql-container").first().waitFor();
    // The editor's workers and its first request (the schema) ran under the GraphiQL addition.
    await page.waitForLoadState("networkidle");
    expect(problems).toEqual([]);
  });

  it("cannot be framed by another site", async () => {
    const page = await browser.newPage();
    const refused: string[] = [];
    page.on("console", (m) => {
      if (/frame-ancestors/.test(m.text())) refused.push(m.text());
    });
    for (const path of ["/login", "/signup", "/", "/graphql"]) {
      await page.setContent(`<iframe src="${server.url}${path}"></iframe>`);
      await expect.poll(() => refused.length).toBeGreaterThan(0);
      refused.length = 0;
    }
  });
});
