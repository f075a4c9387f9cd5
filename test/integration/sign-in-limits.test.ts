import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { hiddenInput, pageErrors, WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Issue 12 item 2: sign-in limits per account and per address, and the sign-up
// limit per address, counted in the database before the password hash is
// computed. Runs on PGlite and on PostgreSQL (where a pool of connections
// reserves in parallel).

const PASSWORD = "correct horse battery staple";
const WINDOW = 300;

/** Posts a sign-in form with a token fetched beforehand, so that many can be sent at the same instant. */
async function preparedSignIn(url: string, email: string, password: string, headers: Record<string, string> = {}) {
  const web = new WebClient(url);
  const csrf = await web.csrfFrom("/login");
  return () => web.postForm("/login", { csrf, return_to: "/", email, password }, headers);
}

function expectRetryAfter(res: Response, max = WINDOW) {
  const seconds = Number(res.headers.get("retry-after"));
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(max);
}

describe("sign-in per account (limit 10 in 5 minutes)", () => {
  let server: TestServer;
  const newUser = async () => {
    const email = `acct-${randomBytes(4).toString("hex")}@example.com`;
    const created = await signUp(server.db.prisma, { name: "Tess", email, password: PASSWORD });
    if (!created.ok) throw new Error(JSON.stringify(created.errors));
    return email;
  };
  beforeAll(async () => {
    server = await startTestServer({ SIGN_IN_MAX_PER_ACCOUNT: "10", SIGN_IN_WINDOW_SECONDS: String(WINDOW) });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("checks at most 10 of 30 parallel wrong guesses, then refuses the right password too, with Retry-After", async () => {
    const email = await newUser();
    const sends = await Promise.all(Array.from({ length: 30 }, (_, i) => preparedSignIn(server.url, email, `wrong guess number ${i}`)));
    const answers = await Promise.all(sends.map((send) => send()));
    const statuses = answers.map((a) => a.res.status);
    // Exactly the limit was checked (401); every other guess was refused before its hash (429).
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    for (const a of answers.filter((a) => a.res.status === 429)) {
      expectRetryAfter(a.res);
      expect(a.res.headers.get("content-type")).toMatch(/text\/html/);
      expect(pageErrors(a.html).join(" ")).toMatch(/Too many failed sign-in attempts\. Try again in \d+ minutes?\./);
      // The form comes back, usable, with what was typed.
      expect(hiddenInput(a.html, "csrf")).toBeTruthy();
      expect(a.html).toContain(email);
    }
    const web = new WebClient(server.url);
    const right = await web.signIn({ email, password: PASSWORD });
    expect(right.res.status).toBe(429);
    expectRetryAfter(right.res);
    expect(web.jar.get("sg_session")).toBeUndefined();
    // The same email in another case is the same account.
    expect((await new WebClient(server.url).signIn({ email: ` ${email.toUpperCase()}`, password: PASSWORD })).res.status).toBe(429);
  });

  it("lets at most 10 of 30 parallel guesses be checked when the right password is among them", async () => {
    const email = await newUser();
    const passwords = Array.from({ length: 30 }, (_, i) => (i === 17 ? PASSWORD : `wrong guess number ${i}`));
    const sends = await Promise.all(passwords.map((p) => preparedSignIn(server.url, email, p)));
    const answers = await Promise.all(sends.map((send) => send()));
    const statuses = answers.map((a) => a.res.status);
    const checked = statuses.filter((s) => s === 401 || s === 303).length;
    expect(checked).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBe(30 - checked);
    // The right password got in only if it was among the checked ones; if not, it was refused like the rest.
    expect([303, 429]).toContain(statuses[17]);
  });

  it("does not count a form with an empty field", async () => {
    const email = await newUser();
    for (let i = 0; i < 15; i++) expect((await new WebClient(server.url).signIn({ email, password: "" })).res.status).toBe(401);
    expect((await new WebClient(server.url).signIn({ email, password: PASSWORD })).res.status).toBe(303);
  });
});

describe("sign-in per account (limit 3): what counts", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SIGN_IN_MAX_PER_ACCOUNT: "3", SIGN_IN_WINDOW_SECONDS: String(WINDOW) });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const newUser = async () => {
    const email = `count-${randomBytes(4).toString("hex")}@example.com`;
    const created = await signUp(server.db.prisma, { name: "Tess", email, password: PASSWORD });
    if (!created.ok) throw new Error(JSON.stringify(created.errors));
    return email;
  };

  it("does not count a right password, and clears the account's failures when it comes", async () => {
    const email = await newUser();
    for (let i = 0; i < 2; i++)
      expect((await new WebClient(server.url).signIn({ email, password: `wrong guess ${i}` })).res.status).toBe(401);
    expect((await new WebClient(server.url).signIn({ email, password: PASSWORD })).res.status).toBe(303);
    // The owner's sign-in wiped the two failures: three more may be checked again.
    for (let i = 0; i < 3; i++)
      expect((await new WebClient(server.url).signIn({ email, password: `wrong again ${i}` })).res.status).toBe(401);
    expect((await new WebClient(server.url).signIn({ email, password: PASSWORD })).res.status).toBe(429);
  });

  it("keeps counting a browser the owner signed in from apart, so an attacker spending the account's guesses cannot keep the owner out", async () => {
    const email = await newUser();
    const owner = new WebClient(server.url);
    expect((await owner.signIn({ email, password: PASSWORD })).res.status).toBe(303);
    const device = owner.jar.get("sg_device");
    expect(device).toMatch(/^[\w-]{16,64}\.[\w-]{43}$/);
    owner.jar.delete("sg_session"); // signed out, the device cookie kept
    // The attacker spends the account's guesses: everyone without the cookie is refused, even with the password.
    for (let i = 0; i < 3; i++)
      expect((await new WebClient(server.url).signIn({ email, password: `wrong guess ${i}` })).res.status).toBe(401);
    expect((await new WebClient(server.url).signIn({ email, password: PASSWORD })).res.status).toBe(429);
    // A forged cookie, or this account's cookie altered, counts as none.
    const forged = new WebClient(server.url);
    forged.jar.set("sg_device", `${device!.split(".")[0]}.${"A".repeat(43)}`);
    expect((await forged.signIn({ email, password: PASSWORD })).res.status).toBe(429);
    // The owner's browser is not kept out, and keeps its cookie.
    const back = await owner.signIn({ email, password: PASSWORD });
    expect(back.res.status).toBe(303);
    expect(owner.jar.get("sg_device")).toBe(device);
    // It has a limit of its own: a stolen laptop is not an unlimited oracle.
    owner.jar.delete("sg_session");
    for (let i = 0; i < 3; i++) expect((await owner.signIn({ email, password: `laptop guess ${i}` })).res.status).toBe(401);
    expect((await owner.signIn({ email, password: PASSWORD })).res.status).toBe(429);
  });

  it("does not let one account's browser cookie count for another account", async () => {
    const [mine, theirs] = [await newUser(), await newUser()];
    const web = new WebClient(server.url);
    expect((await web.signIn({ email: mine, password: PASSWORD })).res.status).toBe(303);
    web.jar.delete("sg_session");
    for (let i = 0; i < 3; i++)
      expect((await new WebClient(server.url).signIn({ email: theirs, password: `wrong guess ${i}` })).res.status).toBe(401);
    expect((await web.signIn({ email: theirs, password: PASSWORD })).res.status).toBe(429);
  });

  it("limits unknown emails the same way, so the answer says nothing about who has an account", async () => {
    const email = `nobody-${randomBytes(4).toString("hex")}@example.com`;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await new WebClient(server.url).signIn({ email, password: `guess ${i} here` })).res.status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe("the per-account window slides: the owner is kept out only until the oldest failure is a window old", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SIGN_IN_MAX_PER_ACCOUNT: "2", SIGN_IN_WINDOW_SECONDS: "5" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("lets the owner in once the window has passed", async () => {
    const email = `slide-${randomBytes(4).toString("hex")}@example.com`;
    await signUp(server.db.prisma, { name: "S", email, password: PASSWORD });
    // Sent together, so that the window is still open when they have been checked, however slow the machine.
    const guesses = await Promise.all([0, 1].map((i) => preparedSignIn(server.url, email, `wrong guess ${i}`)));
    expect((await Promise.all(guesses.map((send) => send()))).map((a) => a.res.status)).toEqual([401, 401]);
    const refused = await new WebClient(server.url).signIn({ email, password: PASSWORD });
    expect(refused.res.status).toBe(429);
    expectRetryAfter(refused.res, 5);
    // Refused attempts do not push the window forward.
    await new WebClient(server.url).signIn({ email, password: "still guessing here" });
    await new Promise((r) => setTimeout(r, Number(refused.res.headers.get("retry-after")) * 1000 + 200));
    expect((await new WebClient(server.url).signIn({ email, password: PASSWORD })).res.status).toBe(303);
  });
});

describe("sign-in per address, and whose address counts (TRUST_PROXY)", () => {
  let direct: TestServer;
  let proxied: TestServer;
  beforeAll(async () => {
    direct = await startTestServer({ SIGN_IN_MAX_PER_ADDRESS: "3" });
    proxied = await startTestServer({ SIGN_IN_MAX_PER_ADDRESS: "3", TRUST_PROXY: "127.0.0.1, ::1" });
  });
  afterAll(async () => {
    await direct?.stop();
    await proxied?.stop();
  });

  const emails = (n: number) => Array.from({ length: n }, (_, i) => `spray-${i}-${randomBytes(3).toString("hex")}@example.com`);

  it("refuses an address that sprays many accounts, whatever X-Forwarded-For it claims without TRUST_PROXY", async () => {
    const statuses = [];
    for (const [i, email] of emails(4).entries()) {
      const send = await preparedSignIn(direct.url, email, "some wrong password", { "x-forwarded-for": `203.0.113.${i}` });
      statuses.push((await send()).res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const owner = `owner-${randomBytes(3).toString("hex")}@example.com`;
    await signUp(direct.db.prisma, { name: "O", email: owner, password: PASSWORD });
    const send = await preparedSignIn(direct.url, owner, PASSWORD);
    const { res } = await send();
    expect(res.status).toBe(429);
    expectRetryAfter(res);
  });

  it("counts by the right-most untrusted X-Forwarded-For address behind a trusted proxy", async () => {
    // Each client behind the proxy has its own bucket; what a client writes left of it is not believed.
    for (const client of ["198.51.100.7", "198.51.100.8"]) {
      const statuses = [];
      for (const [i, email] of emails(4).entries()) {
        const send = await preparedSignIn(proxied.url, email, "some wrong password", { "x-forwarded-for": `10.9.9.${i}, ${client}` });
        statuses.push((await send()).res.status);
      }
      expect(statuses, client).toEqual([401, 401, 401, 429]);
    }
  });
});

describe("sign-up per address", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SIGN_UP_MAX_PER_ADDRESS: "3", SIGN_UP_WINDOW_SECONDS: "3600" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("creates at most the limit of accounts from one address; refused forms do not count; then 429 with Retry-After", async () => {
    const web = () => new WebClient(server.url);
    // Invalid forms are answered before any hash and do not count.
    for (let i = 0; i < 4; i++) expect((await web().signUp({ name: "N", email: "not-an-email", password: PASSWORD })).res.status).toBe(400);
    for (let i = 0; i < 3; i++) {
      expect(
        (await web().signUp({ name: "N", email: `up-${i}-${randomBytes(3).toString("hex")}@example.com`, password: PASSWORD })).res.status,
      ).toBe(303);
    }
    const before = await server.db.prisma.user.count();
    const { res, html } = await web().signUp({
      name: "Nope",
      email: `up-x-${randomBytes(3).toString("hex")}@example.com`,
      password: PASSWORD,
    });
    expect(res.status).toBe(429);
    expectRetryAfter(res, 3600);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(pageErrors(html).join(" ")).toMatch(/Too many accounts were created from your network\. Try again in \d+ minutes?\./);
    expect(html).toContain("Nope");
    expect(await server.db.prisma.user.count()).toBe(before);
  });
});
