import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { verifyPassword } from "../../src/accounts/passwords.ts";
import { hiddenInput, pageErrors, WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Issue 12 item 2: the password typed to change the password (POST /account/password)
// or to delete the account (POST /account/delete) is a guess like a sign-in's. It is
// reserved in the sign-in's per-account and per-address buckets before it is hashed,
// so a stolen session cannot guess without limit (and then change the password), and
// a self-made account cannot make the server hash passwords without end. Runs on
// PGlite and on PostgreSQL.

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "quiet lantern over the orchard";
const WINDOW = 300;
const TOO_MANY = /Too many wrong passwords\. Try again in \d+ minutes?\./;
// Thirty requests at once, ten of them hashed, on a shared two-core machine: more than the default 30 s at times.
const SLOW = 120_000;

function expectRetryAfter(res: Response, max = WINDOW) {
  const seconds = Number(res.headers.get("retry-after"));
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(max);
}

async function newUser(server: TestServer, prefix: string) {
  const email = `${prefix}-${randomBytes(4).toString("hex")}@example.com`;
  const created = await signUp(server.db.prisma, { name: "Tess", email, password: PASSWORD });
  if (!created.ok) throw new Error(JSON.stringify(created.errors));
  return { email, id: created.user.id };
}

/** A signed-in browser and its session's CSRF token (every form of the session carries the same one). */
async function signedIn(server: TestServer, email: string) {
  const web = new WebClient(server.url);
  expect((await web.signIn({ email, password: PASSWORD })).res.status).toBe(303);
  const csrf = hiddenInput((await web.page("/account")).html, "csrf");
  if (!csrf) throw new Error("no csrf on /account");
  return { web, csrf };
}

const changeForm = (csrf: string, current: string) => ({
  csrf,
  current_password: current,
  new_password: NEW_PASSWORD,
  confirm_password: NEW_PASSWORD,
});
const deleteForm = (csrf: string, password: string) => ({ csrf, password, confirm: "yes" });

async function passwordIs(server: TestServer, userId: string, password: string): Promise<boolean> {
  const user = await server.db.prisma.user.findUniqueOrThrow({ where: { id: userId }, select: { passwordHash: true } });
  return verifyPassword(password, user.passwordHash);
}

const endpoints = [
  { path: "/account/password", form: changeForm, wrong: 400, right: 303 },
  { path: "/account/delete", form: deleteForm, wrong: 400, right: 200 },
] as const;

describe("password checks of signed-in users share the sign-in's limit (10 per account in 5 minutes)", () => {
  let server: TestServer;
  beforeAll(async () => {
    // A high per-address limit: these tests are about the per-account one (all come from 127.0.0.1).
    server = await startTestServer({
      SIGN_IN_MAX_PER_ACCOUNT: "10",
      SIGN_IN_MAX_PER_ADDRESS: "1000",
      SIGN_IN_WINDOW_SECONDS: String(WINDOW),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(endpoints)(
    "$path checks at most 10 of 30 parallel wrong passwords, then refuses the right one with 429 and Retry-After",
    async (e) => {
      const user = await newUser(server, "burst");
      const { web, csrf } = await signedIn(server, user.email);
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => web.postForm(e.path, e.form(csrf, `wrong guess number ${i}`))),
      );
      const statuses = answers.map((a) => a.res.status);
      expect(statuses.filter((s) => s === e.wrong)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      for (const a of answers.filter((a) => a.res.status === 429)) {
        expectRetryAfter(a.res);
        expect(a.res.headers.get("content-type")).toMatch(/text\/html/);
        expect(pageErrors(a.html).join(" ")).toMatch(TOO_MANY);
        // The form comes back, usable.
        expect(hiddenInput(a.html, "csrf")).toBe(csrf);
      }
      const right = await web.postForm(e.path, e.form(csrf, PASSWORD));
      expect(right.res.status).toBe(429);
      expectRetryAfter(right.res);
      expect(pageErrors(right.html).join(" ")).toMatch(TOO_MANY);
      // Nothing happened: the password is the same and the account is there.
      expect(await passwordIs(server, user.id, PASSWORD)).toBe(true);
      expect(await server.db.prisma.user.count({ where: { id: user.id, email: user.email } })).toBe(1);
    },
    SLOW,
  );

  it.each(endpoints)(
    "$path lets at most 10 of 30 parallel guesses be checked when the right password is among them",
    async (e) => {
      const user = await newUser(server, "among");
      const { web, csrf } = await signedIn(server, user.email);
      const passwords = Array.from({ length: 30 }, (_, i) => (i === 17 ? PASSWORD : `wrong guess number ${i}`));
      const answers = await Promise.all(passwords.map((p) => web.postForm(e.path, e.form(csrf, p))));
      const statuses = answers.map((a) => a.res.status);
      const checked = statuses.filter((s) => s === e.wrong || s === e.right).length;
      expect(checked).toBeLessThanOrEqual(10);
      expect(statuses.filter((s) => s === 429).length).toBe(30 - checked);
      // The right password did its work only if it was among the checked ones; if not, it was refused like the rest.
      expect([e.right, 429]).toContain(statuses[17]);
      const done = statuses[17] === e.right;
      if (e.path === "/account/password") expect(await passwordIs(server, user.id, PASSWORD)).toBe(!done);
      else expect(await server.db.prisma.user.count({ where: { id: user.id, email: user.email } })).toBe(done ? 0 : 1);
    },
    SLOW,
  );
});

describe("what counts against the shared limit (3 per account)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      SIGN_IN_MAX_PER_ACCOUNT: "3",
      SIGN_IN_MAX_PER_ADDRESS: "1000",
      SIGN_IN_WINDOW_SECONDS: String(WINDOW),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(
    "counts a wrong password at sign-in, at password change and at account deletion in one budget: a guess is a guess",
    async () => {
      const user = await newUser(server, "shared");
      const { web, csrf } = await signedIn(server, user.email);
      expect((await new WebClient(server.url).signIn({ email: user.email, password: "wrong at sign-in" })).res.status).toBe(401);
      expect((await web.postForm("/account/password", changeForm(csrf, "wrong at change"))).res.status).toBe(400);
      expect((await web.postForm("/account/delete", deleteForm(csrf, "wrong at delete"))).res.status).toBe(400);
      // The budget is spent: the right password is refused everywhere, without a check.
      expect((await new WebClient(server.url).signIn({ email: user.email, password: PASSWORD })).res.status).toBe(429);
      expect((await web.postForm("/account/password", changeForm(csrf, PASSWORD))).res.status).toBe(429);
      expect((await web.postForm("/account/delete", deleteForm(csrf, PASSWORD))).res.status).toBe(429);
      expect(await passwordIs(server, user.id, PASSWORD)).toBe(true);
    },
    SLOW,
  );

  it(
    "does not count forms refused before the hash, nor the right password",
    async () => {
      const user = await newUser(server, "uncounted");
      const { web, csrf } = await signedIn(server, user.email);
      for (let i = 0; i < 4; i++) {
        // Empty current password, a new password the rules refuse, two new passwords that differ, an empty password, the box not ticked.
        expect((await web.postForm("/account/password", changeForm(csrf, ""))).res.status).toBe(400);
        const weak = { ...changeForm(csrf, `wrong guess ${i}`), new_password: "too short", confirm_password: "too short" };
        expect((await web.postForm("/account/password", weak)).res.status).toBe(400);
        const differ = { ...changeForm(csrf, `wrong guess ${i}`), confirm_password: "something else entirely" };
        expect((await web.postForm("/account/password", differ)).res.status).toBe(400);
        expect((await web.postForm("/account/delete", deleteForm(csrf, ""))).res.status).toBe(400);
        expect((await web.postForm("/account/delete", { csrf, password: `wrong guess ${i}` })).res.status).toBe(400);
      }
      // Right passwords give their attempt back: any number of them.
      for (let i = 0; i < 4; i++) {
        const res = await web.postForm("/account/password", {
          ...changeForm(csrf, PASSWORD),
          new_password: PASSWORD,
          confirm_password: PASSWORD,
        });
        expect(pageErrors(res.html).join(" ")).toMatch(/different from your current one/);
      }
      // All three guesses are still there.
      for (let i = 0; i < 3; i++) expect((await web.postForm("/account/delete", deleteForm(csrf, `wrong ${i}`))).res.status).toBe(400);
      expect((await web.postForm("/account/password", changeForm(csrf, PASSWORD))).res.status).toBe(429);
    },
    SLOW,
  );
});

describe("password checks of signed-in users per address (3 per address)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      SIGN_IN_MAX_PER_ACCOUNT: "100",
      SIGN_IN_MAX_PER_ADDRESS: "3",
      SIGN_IN_WINDOW_SECONDS: String(WINDOW),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(
    "stops one address from making the server hash passwords without end through its own accounts",
    async () => {
      // Two accounts the attacker made; the sign-ins succeed (they do not count).
      const [a, b] = [await newUser(server, "own-a"), await newUser(server, "own-b")];
      const [sa, sb] = [await signedIn(server, a.email), await signedIn(server, b.email)];
      const statuses = [];
      for (let i = 0; i < 2; i++) statuses.push((await sa.web.postForm("/account/delete", deleteForm(sa.csrf, `wrong ${i}`))).res.status);
      statuses.push((await sb.web.postForm("/account/password", changeForm(sb.csrf, "wrong again"))).res.status);
      const refused = await sb.web.postForm("/account/delete", deleteForm(sb.csrf, "one more wrong"));
      statuses.push(refused.res.status);
      expect(statuses).toEqual([400, 400, 400, 429]);
      expectRetryAfter(refused.res);
      expect(pageErrors(refused.html).join(" ")).toMatch(TOO_MANY);
    },
    SLOW,
  );
});
