import { randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../../src/accounts/passwords.ts";
import { sha256 } from "../../src/lib/crypto.ts";
import { hiddenInput, pageErrors, setCookies, WebClient } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const PASSWORD = "correct horse battery";

/** A POST on a connection of its own (no keep-alive); resolves to the status. */
function postOnce(url: string, contentType: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent: false, headers: { "content-type": contentType } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on("error", reject);
    req.end(body);
  });
}
const uniqueEmail = (tag: string) => `${tag}-${randomBytes(4).toString("hex")}@example.com`;

/** A client signed up (and so signed in) as a fresh user. */
async function signedUpClient(tag = "user") {
  const client = new WebClient(server.url);
  const email = uniqueEmail(tag);
  const { res } = await client.signUp({ name: "Test User", email, password: PASSWORD });
  expect(res.status).toBe(303);
  expect(client.jar.get("sg_session")).toBeTruthy();
  return { client, email };
}

async function signedInAs(client: WebClient): Promise<string | null> {
  const { html } = await client.page("/");
  return html.match(/You are signed in as <strong>([^<]+)<\/strong>/)?.[1] ?? null;
}

describe("sign-up", () => {
  it("creates the account and a session cookie (HttpOnly, SameSite=Lax, not Secure on an http issuer)", async () => {
    const client = new WebClient(server.url);
    const form = await client.page("/signup");
    expect(form.res.status).toBe(200);
    // The labelled fields and the button the contract names.
    expect(form.html).toMatch(/<label for="f-name">Name<\/label>/);
    expect(form.html).toMatch(/<label for="f-email">Email<\/label>/);
    expect(form.html).toMatch(/<label for="f-password">Password<\/label>/);
    expect(form.html).toMatch(/<button type="submit">Create account<\/button>/);

    const email = uniqueEmail("signup");
    const { res } = await client.postForm("/signup", {
      csrf: hiddenInput(form.html, "csrf")!,
      return_to: "/",
      name: "Sam Signup",
      email,
      password: PASSWORD,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    const session = setCookies(res).find((c) => c.name === "sg_session");
    expect(session).toBeDefined();
    expect(session!.value.length).toBeGreaterThanOrEqual(40);
    expect(session!.attributes.httponly).toBe(true);
    expect(String(session!.attributes.samesite).toLowerCase()).toBe("lax");
    expect(session!.attributes.path).toBe("/");
    expect(session!.attributes.secure).toBeUndefined();
    expect(session!.attributes.domain).toBeUndefined();

    expect(await signedInAs(client)).toBe(email);
    const user = await server.db.prisma.user.findUnique({ where: { email } });
    expect(user).toMatchObject({ name: "Sam Signup", email, isAdmin: false });
    // Server-side session: stored by hash, not by the cookie value.
    const stored = await server.db.prisma.accountSession.findUnique({ where: { tokenHash: sha256(session!.value) } });
    expect(stored).toMatchObject({ userId: user!.id, revokedAt: null });
    expect(JSON.stringify(stored)).not.toContain(session!.value);
  });

  it("stores the password as a scrypt hash, never in plain text", async () => {
    const { email } = await signedUpClient("hash");
    const user = await server.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(user.passwordHash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/);
    const [, n, r] = user.passwordHash.split("$");
    expect(Number(n)).toBeGreaterThanOrEqual(1 << 14); // memory-hard parameters
    expect(Number(r)).toBeGreaterThanOrEqual(8);
    expect(JSON.stringify(user)).not.toContain(PASSWORD);
    expect(JSON.stringify(user)).not.toContain(Buffer.from(PASSWORD).toString("base64"));
    expect(await verifyPassword(PASSWORD, user.passwordHash)).toBe(true);
    expect(await verifyPassword(PASSWORD + "x", user.passwordHash)).toBe(false);
    // Two accounts with the same password get different hashes (salted).
    const other = await signedUpClient("hash2");
    const otherUser = await server.db.prisma.user.findUniqueOrThrow({ where: { email: other.email } });
    expect(otherUser.passwordHash).not.toBe(user.passwordHash);
  });

  const long = (n: number) => "a".repeat(n);
  const badInputs: { what: string; fields: Record<string, string>; field: RegExp }[] = [
    { what: "an empty name", fields: { name: "", email: "e@example.com", password: PASSWORD }, field: /Enter your name/ },
    { what: "a blank name", fields: { name: "   ", email: "e@example.com", password: PASSWORD }, field: /Enter your name/ },
    { what: "an empty email", fields: { name: "N", email: "", password: PASSWORD }, field: /Enter your email address/ },
    { what: "an empty password", fields: { name: "N", email: "e@example.com", password: "" }, field: /Enter a password/ },
    { what: "a short password", fields: { name: "N", email: "e@example.com", password: "short" }, field: /at least 15 characters/ },
    { what: "ten spaces", fields: { name: "N", email: "e@example.com", password: " ".repeat(10) }, field: /at least 15 characters/ },
    // The rules of src/accounts/password-rules.ts, one per message (test/unit/password-rules.test.ts has them all).
    {
      what: "a common password",
      fields: { name: "N", email: "e@example.com", password: "PasswordStandard" },
      field: /commonly used passwords/,
    },
    {
      what: "a repetitive password",
      fields: { name: "N", email: "e@example.com", password: "abcabcabcabcabcabc" },
      field: /short pattern/,
    },
    {
      what: "a sequential password",
      fields: { name: "N", email: "e@example.com", password: "1234567890123456" },
      field: /runs like 12345/,
    },
    {
      what: "the email as password",
      fields: { name: "N", email: "long.enough.address@example.com", password: "Long.Enough.Address@Example.com" },
      field: /Don't use your email address/,
    },
    {
      what: "the name as password",
      fields: { name: "Bartholomew Fitzgerald", email: "e@example.com", password: "bartholomew fitzgerald" },
      field: /Don't use your name/,
    },
    { what: "an over-long name", fields: { name: long(101), email: "e@example.com", password: PASSWORD }, field: /under 100 characters/ },
    { what: "an over-long email", fields: { name: "N", email: `${long(250)}@example.com`, password: PASSWORD }, field: /too long/ },
    { what: "an over-long password", fields: { name: "N", email: "e@example.com", password: long(201) }, field: /under 200 characters/ },
    { what: "a huge password", fields: { name: "N", email: "e@example.com", password: long(100_000) }, field: /under 200 characters/ },
    { what: "a malformed email", fields: { name: "N", email: "not-an-email", password: PASSWORD }, field: /valid email address/ },
    { what: "an email with spaces", fields: { name: "N", email: "a b@example.com", password: PASSWORD }, field: /valid email address/ },
  ];

  it.each(badInputs)("refuses $what with a clear message and a 4xx", async ({ fields, field }) => {
    const client = new WebClient(server.url);
    const before = await server.db.prisma.user.count();
    const { res, html } = await client.signUp(fields as { name: string; email: string; password: string });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(pageErrors(html).join(" ")).toMatch(field);
    expect(html).toMatch(/aria-invalid="true"/);
    expect(client.jar.get("sg_session")).toBeUndefined();
    expect(await server.db.prisma.user.count()).toBe(before);
    // The page keeps what was typed (except the password) and can be submitted again.
    expect(html).not.toContain(PASSWORD);
    expect(hiddenInput(html, "csrf")).toBeTruthy();
  });

  it("refuses a duplicate email (whatever its case) with a clear message", async () => {
    const { email } = await signedUpClient("dup");
    for (const again of [email, email.toUpperCase(), `  ${email}  `]) {
      const client = new WebClient(server.url);
      const { res, html } = await client.signUp({ name: "Someone Else", email: again, password: "another password" });
      expect(res.status).toBe(400);
      expect(pageErrors(html).join(" ")).toMatch(/already exists/);
      expect(client.jar.get("sg_session")).toBeUndefined();
    }
    expect(await server.db.prisma.user.count({ where: { email } })).toBe(1);
  });

  it("escapes what it echoes back", async () => {
    const client = new WebClient(server.url);
    const { res, html } = await client.signUp({ name: `<script>alert(1)</script>"x`, email: "bad", password: PASSWORD });
    expect(res.status).toBe(400);
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;x");
  });

  it("answers a body that is not a form, or a too large one, with a 4xx", async () => {
    const client = new WebClient(server.url);
    const csrf = await client.csrfFrom("/signup");
    const json = await client.fetch("/signup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ csrf, name: "N", email: uniqueEmail("json"), password: PASSWORD }),
    });
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect(json.status).toBeLessThan(500);
    // Over the 1 MiB body limit. On its own connection: the server answers before
    // reading the whole body and then drops the connection, which a pooled
    // keep-alive socket would carry over into the next test.
    const huge = await postOnce(
      `${server.url}/signup`,
      "application/x-www-form-urlencoded",
      new URLSearchParams({ csrf, name: "N", email: "e@example.com", password: long(2 * 1024 * 1024) }).toString(),
    );
    expect(huge).toBe(413);
    const garbage = await client.fetch("/login", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=nope" },
      body: "--not really multipart",
    });
    expect(garbage.status).toBeGreaterThanOrEqual(400);
    expect(garbage.status).toBeLessThan(500);
  });
});

describe("sign-in", () => {
  it("shows the labelled form and signs in with the right password", async () => {
    const { email } = await signedUpClient("login");
    const client = new WebClient(server.url);
    const form = await client.page("/login");
    expect(form.html).toMatch(/<label for="f-email">Email<\/label>/);
    expect(form.html).toMatch(/<label for="f-password">Password<\/label>/);
    expect(form.html).toMatch(/<button type="submit">Sign in<\/button>/);
    const { res } = await client.postForm("/login", { csrf: hiddenInput(form.html, "csrf")!, return_to: "/", email, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    expect(await signedInAs(client)).toBe(email);
    // Email is matched without regard to case or surrounding spaces.
    const again = new WebClient(server.url);
    expect((await again.signIn({ email: `  ${email.toUpperCase()} `, password: PASSWORD })).res.status).toBe(303);
    expect(await signedInAs(again)).toBe(email);
  });

  it("gives a wrong password and an unknown email the identical answer", async () => {
    const { email } = await signedUpClient("same");
    const wrong = await new WebClient(server.url).signIn({ email, password: "wrong password!" });
    const nobody = uniqueEmail("nobody");
    const unknown = await new WebClient(server.url).signIn({ email: nobody, password: "wrong password!" });
    expect(wrong.res.status).toBe(401);
    expect(unknown.res.status).toBe(wrong.res.status);
    expect(pageErrors(wrong.html)).toEqual(["That email and password don't match an account."]);
    expect(pageErrors(unknown.html)).toEqual(pageErrors(wrong.html));
    // The rest of the page differs only by the per-form token and the echoed email.
    const normalise = (html: string, e: string) => html.replace(/name="csrf" value="[^"]*"/, "").replaceAll(e, "EMAIL");
    expect(normalise(unknown.html, nobody)).toBe(normalise(wrong.html, email));
    expect(wrong.html).not.toContain("wrong password!");
  });

  const badLogins: { what: string; fields: { email: string; password: string }; message: RegExp }[] = [
    { what: "an empty email", fields: { email: "", password: PASSWORD }, message: /Enter your email address/ },
    { what: "an empty password", fields: { email: "x@example.com", password: "" }, message: /Enter your password/ },
    { what: "both empty", fields: { email: "", password: "" }, message: /Enter your email address.*Enter your password/ },
    {
      what: "an over-long email",
      fields: { email: `${"a".repeat(5000)}@example.com`, password: PASSWORD },
      message: /don't match an account/,
    },
    { what: "an over-long password", fields: { email: "x@example.com", password: "p".repeat(5000) }, message: /don't match an account/ },
    { what: "a malformed email", fields: { email: "not an email", password: PASSWORD }, message: /don't match an account/ },
  ];

  it.each(badLogins)("answers $what with a clear message and a 4xx", async ({ fields, message }) => {
    const client = new WebClient(server.url);
    const { res, html } = await client.signIn(fields);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(pageErrors(html).join(" ")).toMatch(message);
    expect(client.jar.get("sg_session")).toBeUndefined();
  });
});

describe("form CSRF protection", () => {
  it("refuses a sign-up without the form token, with a foreign token or from a foreign Origin", async () => {
    const email = uniqueEmail("csrf");
    const fields = { name: "Eve", email, password: PASSWORD };

    const noToken = new WebClient(server.url);
    await noToken.page("/signup"); // has the cookie, but the form lacks the token
    const a = await noToken.postForm("/signup", fields);
    expect(a.res.status).toBe(403);
    expect(pageErrors(a.html).join(" ")).toMatch(/expired or came from another site/);

    const noCookie = new WebClient(server.url);
    const token = await new WebClient(server.url).csrfFrom("/signup"); // someone else's token
    const b = await noCookie.postForm("/signup", { ...fields, csrf: token });
    expect(b.res.status).toBe(403);

    const crossSite = new WebClient(server.url);
    const own = await crossSite.csrfFrom("/signup");
    const c = await crossSite.postForm("/signup", { ...fields, csrf: own }, { origin: "https://evil.example" });
    expect(c.res.status).toBe(403);
    const d = await crossSite.postForm("/signup", { ...fields, csrf: own }, { origin: "null" });
    expect(d.res.status).toBe(403);

    expect(await server.db.prisma.user.count({ where: { email } })).toBe(0);

    // The same browser, from our own origin, is let through.
    const e = await crossSite.postForm("/signup", { ...fields, csrf: own }, { origin: server.url });
    expect(e.res.status).toBe(303);
    expect(await server.db.prisma.user.count({ where: { email } })).toBe(1);
  });

  it("refuses a sign-in without the form token or from a foreign Origin", async () => {
    const { email } = await signedUpClient("csrflogin");
    const client = new WebClient(server.url);
    const csrf = await client.csrfFrom("/login");
    const a = await client.postForm("/login", { email, password: PASSWORD });
    expect(a.res.status).toBe(403);
    const b = await client.postForm("/login", { csrf, email, password: PASSWORD }, { origin: "https://evil.example" });
    expect(b.res.status).toBe(403);
    expect(client.jar.get("sg_session")).toBeUndefined();
    const ok = await client.postForm("/login", { csrf, email, password: PASSWORD }, { origin: server.url });
    expect(ok.res.status).toBe(303);
  });
});

describe("return_to after sign-in", () => {
  it.each(["/account/apps", "/developers?tab=keys", "/v1/oauth/authorize?client_id=x&scope=openid"])(
    "returns to the local path %s",
    async (path) => {
      const { email } = await signedUpClient("rt");
      const client = new WebClient(server.url);
      const form = await client.page(`/login?return_to=${encodeURIComponent(path)}`);
      expect(hiddenInput(form.html, "return_to")).toBe(path);
      const { res } = await client.postForm("/login", {
        csrf: hiddenInput(form.html, "csrf")!,
        return_to: path,
        email,
        password: PASSWORD,
      });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(path);
      // Already signed in: /login?return_to= goes straight there.
      const again = await client.fetch(`/login?return_to=${encodeURIComponent(path)}`);
      expect(again.status).toBe(303);
      expect(again.headers.get("location")).toBe(path);
    },
  );

  const foreign = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "https://evil.example/login",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "https:evil.example",
    "evil.example",
  ];

  it.each(foreign)("refuses %j and returns to / instead", async (target) => {
    const { email } = await signedUpClient("rtevil");
    const client = new WebClient(server.url);
    const form = await client.page(`/login?return_to=${encodeURIComponent(target)}`);
    expect(hiddenInput(form.html, "return_to")).toBe("/");
    expect(form.html).not.toContain("evil.example");
    // A forged form that carries the target itself gets no further.
    const { res } = await client.postForm("/login", {
      csrf: hiddenInput(form.html, "csrf")!,
      return_to: target,
      email,
      password: PASSWORD,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    const again = await client.fetch(`/login?return_to=${encodeURIComponent(target)}`);
    expect(again.headers.get("location")).toBe("/");
    // Same on sign-up.
    const fresh = new WebClient(server.url);
    const signup = await fresh.signUp({ name: "R", email: uniqueEmail("rtsignup"), password: PASSWORD }, target);
    expect(signup.res.headers.get("location")).toBe("/");
  });

  // One spelling per class that src/lib/local-path.ts refuses (test/unit/local-path.test.ts has the full table).
  const classes = [
    "/.//evil.example",
    "/a/../..//evil.example",
    "/%2f%2fevil.example",
    "/%5cevil.example",
    "/%2e%2e/%2e%2e/evil",
    "/%252f%252fevil.example",
    "/\r\n/evil.example",
    "/\u2028/evil.example",
    "/@evil.example",
    "http://x@evil.example",
    "data:text/html,evil",
    "/\uff0f\uff0fevil.example",
  ];

  it("lands a sign-in POST on a local page whatever class of off-site return_to it carries", async () => {
    const { email } = await signedUpClient("rtclass");
    for (const target of classes) {
      const client = new WebClient(server.url);
      const { res } = await client.postForm("/login", {
        csrf: await client.csrfFrom("/login"),
        return_to: target,
        email,
        password: PASSWORD,
      });
      expect(res.status, JSON.stringify(target)).toBe(303);
      const location = res.headers.get("location")!;
      expect(location, JSON.stringify(target)).toBe("/");
      expect(new URL(location, server.url).origin).toBe(new URL(server.url).origin);
    }
  });
});

describe("sign-out", () => {
  it("needs the CSRF token, then revokes the session server-side", async () => {
    const { client, email } = await signedUpClient("logout");
    const oldCookie = client.jar.get("sg_session")!;
    const { html } = await client.page("/logout");
    expect(html).toContain(email);
    const csrf = hiddenInput(html, "csrf")!;
    expect(csrf).toBeTruthy();

    // A cross-site sign-out (no token, or a foreign Origin) is refused and changes nothing.
    expect((await client.postForm("/logout", {})).res.status).toBe(403);
    expect((await client.postForm("/logout", { csrf }, { origin: "https://evil.example" })).res.status).toBe(403);
    expect((await client.postForm("/logout", { csrf: "x".repeat(43) })).res.status).toBe(403);
    expect(await signedInAs(client)).toBe(email);

    const { res } = await client.postForm("/logout", { csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login");
    const cleared = setCookies(res).find((c) => c.name === "sg_session");
    expect(cleared).toBeDefined();
    expect(cleared!.value).toBe("");
    expect(client.jar.get("sg_session")).toBeUndefined();

    // The old cookie, replayed, no longer works: the session is revoked in the database.
    const replay = new WebClient(server.url);
    replay.jar.set("sg_session", oldCookie);
    expect(await signedInAs(replay)).toBeNull();
    const logoutPage = await replay.fetch("/logout");
    expect(logoutPage.status).toBe(303);
    expect(logoutPage.headers.get("location")).toBe("/login");
    const gql = await replay.graphql("{ viewer { user { email } } }", { csrf });
    expect(gql.text).not.toContain(email);
    const row = await server.db.prisma.accountSession.findUniqueOrThrow({ where: { tokenHash: sha256(oldCookie) } });
    expect(row.revokedAt).not.toBeNull();
  });

  it("signing out one session leaves the user's other sessions alone", async () => {
    const { client: first, email } = await signedUpClient("two");
    const second = new WebClient(server.url);
    await second.signIn({ email, password: PASSWORD });
    await first.postForm("/logout", { csrf: await first.csrfFrom("/logout") });
    expect(await signedInAs(first)).toBeNull();
    expect(await signedInAs(second)).toBe(email);
  });
});

describe("GraphQL with the account session", () => {
  it("answers viewer with the cookie plus the X-CSRF-Token header from the page", async () => {
    const { client, email } = await signedUpClient("gql");
    const csrf = await client.csrfFrom("/logout");
    const { res, body } = await client.graphql("{ viewer { user { email name } } }", { csrf });
    expect(res.status).toBe(200);
    expect(body?.errors).toBeUndefined();
    expect(body?.data).toEqual({ viewer: { user: { email, name: "Test User" } } });
  });

  it("refuses the cookie without the header, or with a wrong one (403, nothing executed)", async () => {
    const { client, email } = await signedUpClient("gqlcsrf");
    const without = await client.graphql("{ viewer { user { email } } }");
    expect(without.res.status).toBe(403);
    expect(without.body?.errors?.[0]?.extensions?.code).toBe("CSRF_TOKEN_INVALID");
    expect(without.body?.data).toBeUndefined();
    expect(without.text).not.toContain(email);

    const otherToken = await (await signedUpClient("gqlother")).client.csrfFrom("/logout");
    const wrong = await client.graphql("{ viewer { user { email } } }", { csrf: otherToken });
    expect(wrong.res.status).toBe(403);
    expect(wrong.text).not.toContain(email);

    const viaGet = await client.fetch(`/graphql?query=${encodeURIComponent("{ viewer { user { email } } }")}`, {
      headers: { accept: "application/json" },
    });
    expect(viaGet.status).toBe(403);
  });

  it("refuses a cross-site form post of a mutation: 403 and the mutation does not run", async () => {
    const { client, email } = await signedUpClient("gqlform");
    const csrf = await client.csrfFrom("/logout");
    const mutation = `mutation { updateProfile(input: { name: "Renamed by evil.example" }) { name } }`;
    const nameNow = async () => (await server.db.prisma.user.findUniqueOrThrow({ where: { email } })).name;
    // What an attacker's page can send with the victim's cookie: simple CORS requests
    // (form-encoded, multipart or text/plain bodies) without custom headers, or
    // anything else without the header (it cannot read the token).
    for (const [type, body] of [
      ["application/x-www-form-urlencoded", new URLSearchParams({ query: mutation }).toString()],
      ["text/plain", JSON.stringify({ query: mutation })],
      ["multipart/form-data; boundary=b", `--b\r\nContent-Disposition: form-data; name="query"\r\n\r\n${mutation}\r\n--b--\r\n`],
      ["application/json", JSON.stringify({ query: mutation })],
    ] as const) {
      const res = await client.fetch("/graphql", {
        method: "POST",
        headers: { "content-type": type, origin: "https://evil.example" },
        body,
      });
      expect(res.status, type).toBe(403);
      const json = (await res.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
      expect(json.errors[0]!.extensions.code).toBe("CSRF_TOKEN_INVALID");
      expect(json.data).toBeUndefined();
      expect(await nameNow(), type).toBe("Test User");
    }
    // The same mutation with the page's token runs: it is the header, nothing
    // else, that made the difference above.
    const allowed = await client.graphql(mutation, { csrf });
    expect(allowed.res.status).toBe(200);
    expect(allowed.body?.data).toEqual({ updateProfile: { name: "Renamed by evil.example" } });
    expect(await nameNow()).toBe("Renamed by evil.example");
  });

  it("serves the GraphiQL page to a signed-in browser with the token configured", async () => {
    const { client } = await signedUpClient("graphiql");
    const csrf = await client.csrfFrom("/logout");
    const { res, html } = await client.page("/graphql", { accept: "text/html" });
    expect(res.status).toBe(200);
    expect(html).toContain(csrf);
    expect(html).not.toMatch(/<script[^>]+src="https?:\/\//);
    expect(html).not.toMatch(/<link[^>]+href="https?:\/\//);
  });
});

describe("with an https ISSUER", () => {
  let https: TestServer;
  beforeAll(async () => {
    https = await startTestServer({ ISSUER: "https://scopegate.example" });
  });
  afterAll(async () => {
    await https?.stop();
  });

  it("marks the cookies Secure and binds them to the host (__Host- prefix)", async () => {
    const client = new WebClient(https.url);
    const form = await client.page("/signup");
    const csrfCookie = setCookies(form.res).find((c) => c.name === "__Host-sg_csrf");
    expect(csrfCookie?.attributes.secure).toBe(true);
    expect(csrfCookie?.attributes.httponly).toBe(true);

    const email = uniqueEmail("https");
    const { res } = await client.postForm(
      "/signup",
      { csrf: hiddenInput(form.html, "csrf")!, return_to: "/", name: "Sec Ure", email, password: PASSWORD },
      { origin: "https://scopegate.example" },
    );
    expect(res.status).toBe(303);
    const session = setCookies(res).find((c) => c.name === "__Host-sg_session");
    expect(session).toBeDefined();
    expect(session!.attributes.secure).toBe(true);
    expect(session!.attributes.httponly).toBe(true);
    expect(String(session!.attributes.samesite).toLowerCase()).toBe("lax");
    expect(session!.attributes.path).toBe("/");
    expect(session!.attributes.domain).toBeUndefined();
    expect(setCookies(res).some((c) => c.name === "sg_session")).toBe(false);
    expect(await signedInAs(client)).toBe(email);

    // The plain-http cookie name is not honoured on an https deployment.
    const plain = new WebClient(https.url);
    plain.jar.set("sg_session", session!.value);
    expect(await signedInAs(plain)).toBeNull();

    // Foreign origins are still refused.
    const evil = await client.postForm("/logout", { csrf: await client.csrfFrom("/logout") }, { origin: "http://scopegate.example" });
    expect(evil.res.status).toBe(403);
  });
});
