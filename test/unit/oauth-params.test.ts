// OAuth parameters that are not text (issue 12: lone surrogates in OAuth
// parameters gave 500s): refused with invalid_request (a body parameter) or
// invalid_client (Basic credentials) before anything looks them up.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { authenticateClient } from "../../src/oauth/client-auth.ts";
import type { ClientCache } from "../../src/oauth/client-cache.ts";
import { oauthEndpoint } from "../../src/oauth/errors.ts";
import { readOAuthParams } from "../../src/oauth/params.ts";

const lookedUp: string[] = [];
const clients = {
  async get(clientId: string) {
    lookedUp.push(clientId);
    return null;
  },
} as unknown as ClientCache;

const app = new Hono();
app.post(
  "/params",
  oauthEndpoint(async (c) => c.json(await readOAuthParams(c))),
);
app.post(
  "/auth",
  oauthEndpoint(async (c) => {
    await authenticateClient(c, clients, await readOAuthParams(c), { allowPublic: true });
    return c.json({});
  }),
);

const json = (body: string) => ({ method: "POST", headers: { "content-type": "application/json" }, body });

describe("readOAuthParams", () => {
  it("refuses a lone surrogate or a NUL in a value, as a JSON escape, with invalid_request naming the parameter", async () => {
    for (const escaped of ["\\ud800", "\\udfff", "a\\udc00b", "\\udfff\\ud800", "\\u0000"]) {
      const res = await app.request("/params", json(`{"grant_type":"client_credentials","scope":"${escaped}"}`));
      expect({ escaped, status: res.status }).toEqual({ escaped, status: 400 });
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe("invalid_request");
      expect(body.error_description).toMatch(/^Parameter scope contains a (NUL character|lone UTF-16 surrogate)/);
    }
  });

  it("refuses one in a parameter's name without repeating the name", async () => {
    const res = await app.request("/params", json('{"\\ud800x":"1"}'));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "invalid_request",
      error_description: "A parameter name contains a lone UTF-16 surrogate (not Unicode text).",
    });
  });

  it("keeps text that only looks alike: surrogate pairs, escaped escapes, and form bodies (decoded to U+FFFD)", async () => {
    let res = await app.request("/params", json('{"state":"\\ud83d\\ude00","nonce":"\\\\ud800"}'));
    expect(await res.json()).toEqual({ state: "😀", nonce: "\\ud800" });
    res = await app.request("/params", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "state=%ED%A0%80",
    });
    expect(res.status).toBe(200);
  });

  it("takes parameters named like Object's own properties as parameters (they were refused as repeated, or lost)", async () => {
    for (const [type, body] of [
      ["application/x-www-form-urlencoded", "constructor=a&toString=b&__proto__=c"],
      ["application/json", '{"constructor":"a","toString":"b","__proto__":"c"}'],
    ]) {
      const res = await app.request("/params", { method: "POST", headers: { "content-type": type! }, body: body! });
      expect({ type, status: res.status }).toEqual({ type, status: 200 });
      expect(await res.json()).toEqual(JSON.parse('{"constructor":"a","toString":"b","__proto__":"c"}'));
    }
  });
});

describe("repeated parameters (RFC 6749 §3.1), read through the shared form reader", () => {
  const form = (body: string) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });

  it("names the first parameter sent a second time; a second resource is invalid_target", async () => {
    let res = await app.request("/params", form("a=1&b=1&b=2&a=2"));
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "Parameter b is included more than once." });
    res = await app.request("/params", form("resource=x&scope=a&scope=b&resource=y"));
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "Parameter scope is included more than once." });
    res = await app.request("/params", form("resource=x&resource=y&scope=a&scope=b"));
    expect(await res.json()).toEqual({ error: "invalid_target", error_description: "Ask for one resource per token." });
  });

  it("refuses JSON that is not an object, and a body that is not JSON", async () => {
    for (const [body, description] of [
      ["[]", "The request body must be a JSON object."],
      ["null", "The request body must be a JSON object."],
      ["{", "The request body is not valid JSON."],
    ]) {
      const res = await app.request("/params", json(body!));
      expect(await res.json()).toEqual({ error: "invalid_request", error_description: description });
    }
  });
});

describe("Basic client credentials", () => {
  it("are malformed (invalid_client, 401) when the id or secret holds a NUL or a lone surrogate, and nothing is looked up", async () => {
    lookedUp.length = 0;
    for (const pair of ["a\u0000b:secret", "id:se\u0000cret", "a%00b:secret", "%ED%A0%80:x", "id:%ED%B0%80"]) {
      const res = await app.request("/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(pair).toString("base64")}` },
        body: "grant_type=client_credentials",
      });
      expect({ pair, status: res.status }).toEqual({ pair, status: 401 });
      expect(((await res.json()) as { error: string }).error).toBe("invalid_client");
    }
    expect(lookedUp).toEqual([]);
  });
});
