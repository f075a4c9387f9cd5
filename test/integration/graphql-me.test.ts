// Query.me and Query.viewer over real HTTP, with the typed documents from
// `npm run codegen` (test/graphql/*.graphql -> test/generated/gql).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeDocument, ViewerDocument } from "../generated/gql/graphql.ts";
import { gql } from "../helpers/graphql.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let endpoint: string;

beforeAll(async () => {
  server = await startTestServer();
  endpoint = `${server.url}/graphql`;
});
afterAll(async () => {
  await server?.stop();
});

/** name=value pairs of a response's Set-Cookie headers. */
function setCookies(res: Response): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of res.headers.getSetCookie()) {
    const pair = line.split(";", 1)[0]!;
    const eq = pair.indexOf("=");
    out.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return out;
}

/** The value of the hidden `csrf` input of a page. */
function hiddenCsrf(html: string): string {
  const m = /<input type="hidden" name="csrf" value="([^"]+)">/.exec(html);
  if (!m) throw new Error(`no hidden csrf input in:\n${html.slice(0, 500)}`);
  return m[1]!;
}

/** Signs up through the real /signup form; returns the session cookie and the page CSRF token. */
async function signUp(name: string, email: string, password: string) {
  const page = await fetch(`${server.url}/signup`);
  expect(page.status).toBe(200);
  const formToken = hiddenCsrf(await page.text());
  const preSession = setCookies(page).get("sg_csrf");
  expect(preSession, "GET /signup sets the sg_csrf cookie").toBeTruthy();

  const res = await fetch(`${server.url}/signup`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `sg_csrf=${preSession}` },
    body: new URLSearchParams({ csrf: formToken, return_to: "/", name, email, password }),
  });
  expect(res.status, await res.clone().text()).toBe(303);
  const session = setCookies(res).get("sg_session");
  expect(session, "POST /signup sets the sg_session cookie").toBeTruthy();
  const cookie = `sg_session=${session}`;

  // Signed-in pages carry the session's CSRF token in their forms.
  const logout = await fetch(`${server.url}/logout`, { headers: { cookie } });
  expect(logout.status).toBe(200);
  return { cookie, csrf: hiddenCsrf(await logout.text()) };
}

describe("GraphQL me and viewer with an account session", () => {
  const email = `me-${randomBytes(4).toString("hex")}@example.com`;
  let account: { cookie: string; csrf: string };

  beforeAll(async () => {
    account = await signUp("Ada Lovelace", email, "correct horse battery");
  });

  it("me answers the signed-in user's profile", async () => {
    const res = await gql(endpoint, MeDocument, {}, { cookie: account.cookie, "x-csrf-token": account.csrf });
    expect(res.errors).toBeUndefined();
    expect(res.status).toBe(200);
    const me = res.data?.me;
    expect(me).toMatchObject({ name: "Ada Lovelace", email, birthDate: null });
    expect(me?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("viewer answers the same user as me", async () => {
    const headers = { cookie: account.cookie, "x-csrf-token": account.csrf };
    const me = await gql(endpoint, MeDocument, {}, headers);
    const res = await gql(endpoint, ViewerDocument, {}, headers);
    expect(res.errors).toBeUndefined();
    expect(res.data?.viewer?.user).toEqual({ id: me.data?.me?.id, email, name: "Ada Lovelace" });
  });

  it("refuses the session cookie without the X-CSRF-Token header", async () => {
    const res = await gql(endpoint, MeDocument, {}, { cookie: account.cookie });
    expect(res.status).toBe(403);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("CSRF_TOKEN_INVALID");
  });

  it("refuses the session cookie with another session's CSRF token", async () => {
    const other = await signUp("Grace Hopper", `other-${email}`, "another long password");
    const res = await gql(endpoint, MeDocument, {}, { cookie: account.cookie, "x-csrf-token": other.csrf });
    expect(res.status).toBe(403);
    expect(res.errors?.[0]?.extensions?.code).toBe("CSRF_TOKEN_INVALID");
  });
});

describe("GraphQL me and viewer without credentials", () => {
  // DESIGN.md: introspection needs no token, every other anonymous request gets 401.
  it.each([
    ["me", () => gql(endpoint, MeDocument)],
    ["viewer", () => gql(endpoint, ViewerDocument)],
  ] as const)("%s: 401, no data, an UNAUTHENTICATED error and a Bearer challenge", async (_name, send) => {
    const res = await send();
    expect(res.status).toBe(401);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(res.headers.get("www-authenticate")).toContain(`${server.issuer}/.well-known/oauth-protected-resource/graphql"`);
  });

  it("a signed-out session cookie is no credential either", async () => {
    const account = await signUp("Signed Out", `out-${randomBytes(4).toString("hex")}@example.com`, "a long enough password");
    const out = await fetch(`${server.url}/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: account.cookie },
      body: new URLSearchParams({ csrf: account.csrf }),
    });
    expect(out.status).toBe(303);
    const res = await gql(endpoint, MeDocument, {}, { cookie: account.cookie, "x-csrf-token": account.csrf });
    expect(res.status).toBe(401);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
