// The Webhooks section of /developers in real Chromium, against a real receiver
// on 127.0.0.1: add an endpoint (an http://example.com URL is refused in the
// page), see its signing secret once, get a delivery of the user's own
// measurement (signature checked with the standardwebhooks package), watch a
// failing receiver's deliveries fail with its status and error, resend one
// once it recovers, see an attempt in flight, disable, edit, rotate (both
// secrets sign) and delete.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { BrowserContext, Locator } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { describeBrowser, openBrowser, type TestBrowser } from "../helpers/browser.ts";
import { PASSWORD } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface Received {
  headers: Record<string, string>;
  body: string;
}

/** A webhook receiver: records each request and answers `status`, or holds the answers while `held` is set. */
class Receiver {
  readonly received: Received[] = [];
  status = 200;
  held: (() => void)[] | null = null;
  readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const h = (name: string) => String(req.headers[name] ?? "");
      this.received.push({
        headers: {
          "webhook-id": h("webhook-id"),
          "webhook-timestamp": h("webhook-timestamp"),
          "webhook-signature": h("webhook-signature"),
        },
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const answer = () => res.writeHead(this.status).end();
      if (this.held) this.held.push(answer);
      else answer();
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const answer of held) answer();
  }

  /** Whether this secret verifies the request, the way a receiver checks it. */
  static verifies(r: Received, secret: string): boolean {
    try {
      new Webhook(secret).verify(r.body, r.headers);
      return true;
    } catch {
      return false;
    }
  }
}

describeBrowser("the Webhooks section of /developers in real Chromium", () => {
  let server: TestServer;
  let browser: TestBrowser;
  const receiver = new Receiver();
  let hookUrl: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, browser, hookUrl] = await Promise.all([
      startTestServer({
        WEBHOOKS_ALLOW_LOOPBACK: "true",
        WEBHOOKS_POLL_INTERVAL: "50ms",
        WEBHOOKS_RETRY_SCHEDULE: "100ms",
        // Long enough that a held answer is still an attempt in flight when the page looks.
        WEBHOOKS_TIMEOUT: "20s",
      }),
      openBrowser(),
      receiver.listen(),
    ]);
  });
  afterAll(async () => {
    receiver.release();
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it("adds an endpoint, shows deliveries and failures, resends, disables, edits, rotates and deletes", { timeout: 60_000 }, async () => {
    const email = `hooks-${Date.now()}@example.com`;
    const created = await signUp(server.db.prisma, { name: "Hana Hooks", email, password: PASSWORD });
    if (!created.ok) throw new Error("sign-up failed");
    const context = await browser.browser.newContext({
      baseURL: server.url,
      viewport: { width: 1280, height: 900 },
      permissions: ["clipboard-read", "clipboard-write"],
    });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    const page = await context.newPage();
    // Console errors (CSP violations among them), page crashes, and any alert()/confirm() box.
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("dialog", (d) => {
      problems.push(`${d.type()} box: ${d.message()}`);
      void d.dismiss();
    });
    const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
    const prisma = server.db.prisma;

    await page.goto("/login?return_to=/developers");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/developers");
    await page.getByText("Webhooks belong to a client: create one first.").waitFor();

    // A client registered with data:read only: profile.updated is not offered.
    const createForm = page.locator("#create-form");
    await createForm.getByLabel("Name", { exact: true }).fill("Pulse sync");
    await createForm.getByLabel("Redirect URIs", { exact: true }).fill("http://localhost:3000/callback");
    await createForm.getByRole("checkbox", { name: /profile:read/ }).uncheck();
    await createForm.getByRole("button", { name: "Create client" }).click();
    await page.getByRole("button", { name: "Done, I saved it" }).click();

    const hooks = page.locator("#webhooks").getByRole("region", { name: "Pulse sync" });
    await hooks.waitFor();
    expect(await hooks.getByRole("checkbox", { name: /measurement\.created/ }).isChecked()).toBe(false);
    expect(await hooks.getByRole("checkbox", { name: /grant\.revoked/ }).isChecked()).toBe(true);
    expect(await hooks.getByRole("checkbox", { name: /profile\.updated/ }).count()).toBe(0);
    expect(await hooks.innerText()).toContain("Not available to this client: profile.updated (needs profile:read)");

    // https only (or loopback http here): the server's refusal appears next to the field, as an alert.
    const urlField = hooks.getByLabel("Endpoint URL");
    await urlField.fill("http://example.com/hook");
    await hooks.getByRole("checkbox", { name: /measurement\.created/ }).check();
    await hooks.getByRole("button", { name: "Add endpoint" }).click();
    const refusal = hooks.getByRole("alert");
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/^A webhook URL must be https/);
    expect(await urlField.getAttribute("aria-invalid")).toBe("true");
    expect(await prisma.webhookEndpoint.count()).toBe(0);

    // Added: the signing secret is shown once, with a Copy button.
    await urlField.fill(hookUrl);
    await hooks.getByRole("button", { name: "Add endpoint" }).click();
    const panel = page.getByRole("region", { name: /^Signing secret for / });
    await panel.waitFor();
    expect(await panel.getByRole("heading").textContent()).toBe(`Signing secret for ${hookUrl}`);
    expect(await panel.getByText("Copy it now: you will not see this again.").isVisible()).toBe(true);
    await panel.getByRole("button", { name: "Copy the signing secret" }).click();
    await expect.poll(clipboard).toMatch(/^whsec_/);
    const secret = await clipboard();
    expect(await refusal.count()).toBe(0);
    expect(await urlField.inputValue()).toBe("");

    const endpoint = hooks.locator("li.endpoint", { hasText: hookUrl });
    await endpoint.waitFor();
    let text = await endpoint.innerText();
    for (const expected of [
      "Enabled",
      "measurement.created",
      "grant.revoked",
      "grant.narrowed",
      `…${secret.slice(-4)}`,
      "No deliveries yet.",
    ]) {
      expect(text).toContain(expected);
    }
    const stored = await prisma.webhookEndpoint.findFirstOrThrow({ where: { url: hookUrl } });
    expect(stored.secret).not.toContain(secret.slice("whsec_".length));

    // Shown once: after "Done" and a reload, the secret is nowhere on the page.
    await panel.getByRole("button", { name: "Done, I saved it" }).click();
    expect(await panel.isHidden()).toBe(true);
    await page.reload();
    expect(await page.content()).not.toContain(secret);

    /** Records a measurement through GraphQL with the account session (and the page's CSRF token). */
    async function recordMeasurement(value: number): Promise<void> {
      const result = await page.evaluate(async (value) => {
        const res = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", "x-csrf-token": document.getElementById("developers")?.dataset.csrf ?? "" },
          body: JSON.stringify({
            query: "mutation($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { id } }",
            variables: { input: { type: "HEART_RATE", value, unit: "bpm", recordedAt: new Date().toISOString() } },
          }),
        });
        return res.json();
      }, value);
      expect(result).toMatchObject({ data: { recordMeasurement: { id: expect.any(String) } } });
    }
    /** The nth request the receiver got (waits for it). */
    async function request(n: number): Promise<Received> {
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(n);
      return receiver.received[n - 1]!;
    }
    const status = (id: string) => prisma.webhookDelivery.findUnique({ where: { id } }).then((d) => d?.status);
    const row = (id: string): Locator => endpoint.locator(`tr[data-delivery-id="${id}"]`);
    /** A delivery's row as a list of its cells' text. */
    const cells = async (id: string) => (await row(id).locator("td").allInnerTexts()).map((s) => s.trim());

    // Delivered: the receiver verifies the signature with the secret the page showed.
    await recordMeasurement(72);
    const first = await request(1);
    expect(Receiver.verifies(first, secret)).toBe(true);
    expect(JSON.parse(first.body)).toMatchObject({
      type: "measurement.created",
      data: { userId: created.user.id, measurement: { value: 72 } },
    });
    const firstId = first.headers["webhook-id"]!;
    await expect.poll(() => status(firstId), { timeout: 10_000 }).toBe("delivered");
    await page.reload();
    expect((await cells(firstId)).slice(1, 6)).toEqual(["Delivered", "1", "200", "—", "—"]);

    // The receiver fails: retried once (the schedule has one retry), then failed, and the endpoint is marked failing.
    receiver.status = 500;
    await recordMeasurement(73);
    const failing = await request(2);
    const failingId = failing.headers["webhook-id"]!;
    await expect.poll(() => status(failingId), { timeout: 10_000 }).toBe("failed");
    await page.reload();
    expect((await cells(failingId)).slice(1, 6)).toEqual(["Failed", "2", "500", "The receiver answered HTTP 500.", "—"]);
    expect(await endpoint.locator(".failing").innerText()).toMatch(
      new RegExp(
        `^Failing since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC: measurement\\.created ${failingId}: The receiver answered HTTP 500\\. \\(after 2 attempts\\)$`,
      ),
    );

    // It recovers: Resend sends the same webhook-id again, and the endpoint is no longer failing.
    receiver.status = 200;
    await row(failingId)
      .getByRole("button", { name: /^Resend/ })
      .click();
    await page.getByRole("status").filter({ hasText: "is being sent again" }).waitFor();
    await expect.poll(() => status(failingId), { timeout: 10_000 }).toBe("delivered");
    expect(receiver.received.filter((r) => r.headers["webhook-id"] === failingId)).toHaveLength(3);
    await page.reload();
    expect((await cells(failingId)).slice(1, 6)).toEqual(["Delivered", "3", "200", "—", "—"]);
    expect(await endpoint.locator(".failing").count()).toBe(0);

    // An attempt in flight: shown as sending now; resending it is refused, in the endpoint's alert.
    receiver.held = [];
    await recordMeasurement(74);
    const inFlightId = (await request(5)).headers["webhook-id"]!;
    await page.reload();
    expect((await cells(inFlightId)).slice(1, 6)).toEqual(["Sending", "1", "—", "—", "now"]);
    await row(inFlightId)
      .getByRole("button", { name: /^Resend/ })
      .click();
    const busy = endpoint.getByRole("alert");
    await busy.waitFor();
    expect(await busy.textContent()).toBe("This delivery is being attempted right now; try again in a moment.");
    receiver.release();
    await expect.poll(() => status(inFlightId), { timeout: 10_000 }).toBe("delivered");

    // Disable and enable again.
    await endpoint.getByRole("button", { name: "Disable" }).click();
    await endpoint.getByRole("button", { name: "Enable" }).waitFor();
    expect(await endpoint.locator(".endpoint-head").innerText()).toContain("Disabled");
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: stored.id } })).enabled).toBe(false);
    await endpoint.getByRole("button", { name: "Enable" }).click();
    await endpoint.getByRole("button", { name: "Disable" }).waitFor();
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: stored.id } })).enabled).toBe(true);

    // Edit: the dialog offers the client's event types; a refused URL keeps it open with the reason.
    await endpoint.getByRole("button", { name: "Edit…" }).click();
    const edit = page.getByRole("dialog", { name: `Edit the endpoint ${hookUrl}` });
    await edit.waitFor();
    expect(await edit.getByLabel("Endpoint URL").inputValue()).toBe(hookUrl);
    expect(await edit.getByRole("checkbox", { name: /measurement\.created/ }).isChecked()).toBe(true);
    expect(await edit.getByRole("checkbox", { name: /measurement\.deleted/ }).isChecked()).toBe(false);
    expect(await edit.getByRole("checkbox", { name: /profile\.updated/ }).count()).toBe(0);
    await edit.getByLabel("Endpoint URL").fill("http://example.com/hook");
    await edit.getByRole("button", { name: "Save changes" }).click();
    const editError = edit.getByRole("alert");
    await editError.waitFor();
    expect(await editError.textContent()).toMatch(/^A webhook URL must be https/);
    await edit.getByLabel("Endpoint URL").fill(hookUrl);
    await edit.getByRole("checkbox", { name: /measurement\.deleted/ }).check();
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "hidden" });
    await endpoint.getByText("measurement.deleted").waitFor();
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: stored.id } })).eventTypes).toEqual([
      "measurement.created",
      "measurement.deleted",
      "grant.revoked",
      "grant.narrowed",
    ]);

    // Rotate: a new secret shown once; the old one keeps signing beside it for 24 hours.
    await endpoint.getByRole("button", { name: "Rotate secret…" }).click();
    const rotate = page.getByRole("dialog", { name: `Rotate the signing secret of ${hookUrl}?` });
    await rotate.waitFor();
    expect(await rotate.innerText()).toContain("keeps signing beside it for 24 hours");
    await rotate.getByRole("button", { name: "Rotate secret" }).click();
    await rotate.waitFor({ state: "hidden" });
    await panel.waitFor();
    expect(await panel.innerText()).toMatch(/The previous secret keeps signing beside it until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    await panel.getByRole("button", { name: "Copy the signing secret" }).click();
    await expect.poll(clipboard).not.toBe(secret);
    const rotated = await clipboard();
    expect(rotated).toMatch(/^whsec_/);
    text = await endpoint.innerText();
    expect(text).toContain(`…${rotated.slice(-4)}`);
    expect(text).toContain("the previous secret also signs until");
    await recordMeasurement(75);
    const afterRotation = await request(6);
    expect(Receiver.verifies(afterRotation, rotated)).toBe(true);
    expect(Receiver.verifies(afterRotation, secret)).toBe(true);

    // Delete, behind a confirmation: the endpoint and its deliveries go, and so does the secret on screen.
    await endpoint.getByRole("button", { name: "Delete…" }).click();
    const remove = page.getByRole("dialog", { name: `Delete the endpoint ${hookUrl}?` });
    await remove.getByRole("button", { name: "Delete endpoint" }).click();
    await remove.waitFor({ state: "hidden" });
    await hooks.getByText("No endpoints yet.").waitFor();
    expect(await panel.isHidden()).toBe(true);
    expect(
      await page
        .getByRole("status")
        .filter({ hasText: `Deleted ${hookUrl}.` })
        .count(),
    ).toBe(1);
    expect(await prisma.webhookEndpoint.count({ where: { id: stored.id } })).toBe(0);
    expect(await prisma.webhookDelivery.count({ where: { endpointId: stored.id } })).toBe(0);

    expect(problems).toEqual([]);
  });
});
