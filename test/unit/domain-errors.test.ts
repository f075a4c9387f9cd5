import { GraphQLError } from "graphql";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { graphqlErrorBody, graphqlRefusal, toGraphQLError } from "../../src/graphql/errors.ts";
import { DomainError, invalidInput, notFound, UnavailableError } from "../../src/lib/errors.ts";
import { OAuthError, oauthErrorFrom } from "../../src/oauth/errors.ts";
import { errorPage } from "../../src/pages/errors.ts";

// The one domain error type, and its three mappings (issue 11 item 3).

/** As graphql-js hands a resolver's error to Yoga's maskError: wrapped, with where it happened. */
function thrownByResolver(err: Error): GraphQLError {
  return new GraphQLError(err.message, { path: ["me", "measurements"], originalError: err });
}

describe("DomainError to GraphQL", () => {
  it("keeps the message, names the code and the field, and keeps the path", () => {
    const mapped = toGraphQLError(thrownByResolver(invalidInput("input.value", "value must be a finite number.")), "Unexpected error.");
    expect(mapped).toBeInstanceOf(GraphQLError);
    expect((mapped as GraphQLError).toJSON()).toMatchObject({
      message: "value must be a finite number.",
      path: ["me", "measurements"],
      extensions: { code: "BAD_USER_INPUT", field: "input.value" },
    });
  });

  it("not_found is NOT_FOUND without a field; unavailable is SERVICE_UNAVAILABLE with 503 and Retry-After", () => {
    expect((toGraphQLError(thrownByResolver(notFound("Measurement")), "x") as GraphQLError).extensions).toEqual({ code: "NOT_FOUND" });
    const busy = toGraphQLError(thrownByResolver(new UnavailableError("busy", 3)), "x") as GraphQLError;
    expect(busy.extensions).toMatchObject({ code: "SERVICE_UNAVAILABLE", http: { status: 503, headers: { "Retry-After": "3" } } });
  });

  it("masks anything else: no message, code or stack of ours leaks", () => {
    const mapped = toGraphQLError(thrownByResolver(new Error('relation "User" does not exist')), "Unexpected error.") as GraphQLError;
    expect(mapped.message).toBe("Unexpected error.");
    expect(JSON.stringify(mapped.toJSON())).not.toMatch(/relation|User/);
  });

  it("outside execution (graphqlErrorBody): the same codes, an HTTP status, and the http extension moved to headers", () => {
    expect(graphqlErrorBody(invalidInput("after", "bad cursor"))).toEqual({
      status: 400,
      headers: {},
      body: { errors: [{ message: "bad cursor", extensions: { code: "BAD_USER_INPUT", field: "after" } }] },
    });
    const busy = graphqlErrorBody(new UnavailableError("busy", 2));
    expect(busy.status).toBe(503);
    expect(busy.headers).toMatchObject({ "Retry-After": "2" });
    expect(busy.body).toEqual({ errors: [{ message: "busy", extensions: { code: "SERVICE_UNAVAILABLE" } }] });
    expect(graphqlErrorBody(new TypeError("x is undefined"))).toMatchObject({
      status: 500,
      body: { errors: [{ message: "Unexpected error." }] },
    });
  });
});

describe("refusals before execution", () => {
  it("answer in the media type the client accepts (GraphQL over HTTP), with the code a client can read", async () => {
    const modern = graphqlRefusal("application/graphql-response+json, application/json;q=0.9", 401, "INVALID_TOKEN", "expired", {
      "WWW-Authenticate": 'Bearer error="invalid_token"',
    });
    expect(modern.status).toBe(401);
    expect(modern.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
    expect(modern.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(await modern.json()).toEqual({ errors: [{ message: "expired", extensions: { code: "INVALID_TOKEN" } }] });
    const legacy = graphqlRefusal(undefined, 403, "CSRF_TOKEN_INVALID", "no token");
    expect(legacy.headers.get("content-type")).toMatch(/^application\/json/);
  });
});

describe("DomainError to OAuth error answers", () => {
  it("invalid_request for input and not_found; temporarily_unavailable (503, Retry-After) when unavailable; OAuthError as it is", () => {
    expect(oauthErrorFrom(invalidInput("scope", "bad scope"))).toMatchObject({
      error: "invalid_request",
      description: "bad scope",
      status: 400,
    });
    expect(oauthErrorFrom(notFound("OAuth client"))).toMatchObject({ error: "invalid_request", status: 404 });
    expect(oauthErrorFrom(new UnavailableError("busy", 4))).toMatchObject({
      error: "temporarily_unavailable",
      status: 503,
      headers: { "Retry-After": "4" },
    });
    const own = new OAuthError("invalid_grant", "used");
    expect(oauthErrorFrom(own)).toBe(own);
    expect(oauthErrorFrom(new Error("boom"))).toBeNull();
  });
});

describe("DomainError to HTML pages", () => {
  const app = new Hono();
  app.get("/missing", () => {
    throw notFound("Connected app");
  });
  app.get("/busy", () => {
    throw new UnavailableError("Too busy to answer.", 5);
  });
  app.get("/bug", () => {
    throw new Error("SELECT secret FROM vault");
  });
  app.onError((err, c) => errorPage(c, err));

  it("shows the message on a page with the code's status; unavailable says when to retry", async () => {
    const missing = await app.request("/missing");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await missing.text()).toContain("Connected app not found.");
    const busy = await app.request("/busy");
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("5");
  });

  it("an unexpected error is a 500 page that tells nothing of the cause", async () => {
    const bug = await app.request("/bug");
    expect(bug.status).toBe(500);
    const text = await bug.text();
    expect(text).toContain("Something went wrong");
    expect(text).not.toContain("SELECT");
  });

  it("is one type: every service error is a DomainError with a code", () => {
    expect(new UnavailableError("x")).toBeInstanceOf(DomainError);
    expect(invalidInput("f", "m")).toMatchObject({ code: "invalid_input", field: "f", message: "m" });
  });
});
