import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppDeps } from "../../src/context.ts";
import { providerError } from "../../src/connectors/provider-client.ts";
import { DomainError, invalidInput, notFound, UnavailableError } from "../../src/lib/errors.ts";
import { mcpErrorResponse } from "../../src/mcp/errors.ts";
import { oauthErrorFrom } from "../../src/oauth/errors.ts";
import { connectorEndpoints, connectorErrorResponse } from "../../src/pages/connector-endpoints.ts";

// The MCP endpoint's and the connector endpoints' error forms (issue 11 item 3:
// each surface maps the one domain error type once and decides the status).

const ISSUER = "http://scopegate.test";

describe("errors on /mcp: JSON-RPC error objects, as the SDK's transport answers its own refusals", () => {
  const app = new Hono();
  const errors: Record<string, unknown> = {
    "/nul": invalidInput(undefined, "NUL characters are not allowed in requests."),
    "/busy": new UnavailableError("Too busy.", 3),
    "/large": new DomainError("too_large", "The request body is over 1 MiB."),
    "/bug": new Error("SELECT secret FROM vault"),
  };
  app.get("/:case", (c) => {
    throw errors[`/${c.req.param("case")}`];
  });
  app.onError((err, c) => mcpErrorResponse(c, err));

  it("a refused request: the status of its code, id null, never cached", async () => {
    const res = await app.request("/nul");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32600, message: "NUL characters are not allowed in requests." },
      id: null,
    });
    const large = await app.request("/large");
    expect(large.status).toBe(413);
    expect(((await large.json()) as any).error).toEqual({ code: -32000, message: "The request body is over 1 MiB." });
  });

  it("unavailable is 503 with Retry-After; anything else 500 that says nothing of the cause", async () => {
    const busy = await app.request("/busy");
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("3");
    expect(await busy.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: "Too busy." }, id: null });
    const bug = await app.request("/bug");
    expect(bug.status).toBe(500);
    expect(await bug.text()).not.toContain("SELECT");
  });
});

/** Just what the connector endpoints use of the application, for requests that end before the database. */
function fakeDeps(check: () => Promise<never>): AppDeps {
  return {
    config: { issuer: ISSUER, secureCookies: false },
    connectors: {
      clients: new Map([["acme", { provider: { slug: "acme", name: "Acme Health" } }]]),
    },
    accessTokens: { check },
    prisma: {},
  } as unknown as AppDeps;
}

/** The connector endpoints mounted as app.ts mounts them, with app.ts's mapping for errors that reach onError. */
function connectorApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.route("/", connectorEndpoints(deps) as unknown as Hono);
  app.onError((err, c) => connectorErrorResponse(c, deps, err));
  return app;
}

describe("connector endpoints: who is connecting", () => {
  it("an instance that cannot check bearer tokens answers 503 with Retry-After, not 401: the client keeps its token", async () => {
    const deps = fakeDeps(async () => {
      throw new UnavailableError("The service cannot confirm token revocations right now.", 2);
    });
    const res = await connectorApp(deps).request("/v1/connectors/oauth/acme/authorize", {
      headers: { authorization: "Bearer abc.def.ghi", accept: "application/json" },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await res.json()).toEqual({ detail: "The service cannot confirm token revocations right now." });
  });

  it("a malformed Authorization header is 401 with the shared Bearer challenge (the GraphQL resource's metadata), JSON also for a browser", async () => {
    const deps = fakeDeps(async () => {
      throw new Error("not called");
    });
    const res = await connectorApp(deps).request("/v1/connectors/oauth/acme/authorize", {
      headers: { authorization: "Basic eDp5", accept: "text/html" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="scopegate", resource_metadata="${ISSUER}/.well-known/oauth-protected-resource/graphql", error="invalid_token", error_description="Use the Bearer authorization scheme."`,
    );
    expect(await res.json()).toEqual({ detail: "Use the Bearer authorization scheme." });
  });
});

describe("connector endpoints: one mapping of errors", () => {
  const deps = fakeDeps(async () => {
    throw new Error("not called");
  });
  const app = new Hono();
  const thrown: Record<string, unknown> = {
    unknownState: invalidInput("state", "This connection request has expired. Start connecting again."),
    otherBrowser: new DomainError("forbidden", "This connection must be completed in the browser that started it."),
    refused: providerError("provider_refused", "Acme Health did not authorize the connection (access_denied)."),
    down: providerError("provider_unavailable", "Acme Health did not answer in time during the discovery."),
    provider: notFound("Provider"),
    busy: new UnavailableError("Too busy.", 4),
    bug: new Error("SELECT secret FROM vault"),
  };
  app.get("/v1/connectors/oauth/acme/authorize", (c) => {
    throw thrown[c.req.query("case") ?? ""];
  });
  app.onError((err, c) => connectorErrorResponse(c, deps, err));
  const json = { accept: "application/json" };

  it.each([
    ["unknownState", 400],
    ["otherBrowser", 403],
    ["refused", 400],
    ["down", 502],
    ["provider", 404],
    ["busy", 503],
  ])("%s: {detail} with the status of its code", async (name, status) => {
    const res = await app.request(`/v1/connectors/oauth/acme/authorize?case=${name}`, { headers: json });
    expect(res.status).toBe(status);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ detail: (thrown[name] as Error).message });
  });

  it("a browser gets a page with the same status; a provider that failed is named in its title", async () => {
    const res = await app.request("/v1/connectors/oauth/acme/authorize?case=down", { headers: { accept: "text/html" } });
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const text = await res.text();
    expect(text).toContain("<title>Acme Health is not available");
    expect(text).toContain("did not answer in time");
    const busy = await app.request("/v1/connectors/oauth/acme/authorize?case=busy", { headers: { accept: "text/html" } });
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("4");
  });

  it("anything else is 500 that says nothing of the cause", async () => {
    const res = await app.request("/v1/connectors/oauth/acme/authorize?case=bug", { headers: json });
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain("SELECT");
  });
});

describe("one OAuth mapping, with an endpoint's own codes for input (RFC 7591 registration)", () => {
  const registration = { byField: { redirect_uris: "invalid_redirect_uri" as const }, otherwise: "invalid_client_metadata" as const };

  it("input refusals take the endpoint's codes by field; the rest of the mapping is the shared one", () => {
    expect(oauthErrorFrom(invalidInput("redirect_uris", "bad uri"), registration)).toMatchObject({
      error: "invalid_redirect_uri",
      status: 400,
    });
    expect(oauthErrorFrom(invalidInput("scope", "bad scope"), registration)).toMatchObject({ error: "invalid_client_metadata" });
    expect(oauthErrorFrom(invalidInput("scope", "bad scope"))).toMatchObject({ error: "invalid_request" });
    expect(oauthErrorFrom(new UnavailableError("busy", 2), registration)).toMatchObject({ error: "temporarily_unavailable", status: 503 });
  });
});

describe("provider failures are DomainErrors: the status is the surfaces' to decide", () => {
  it("a refusal is invalid_input with its reason; a provider down or answering garbage is upstream", () => {
    expect(providerError("provider_refused", "x")).toMatchObject({ code: "invalid_input", reason: "provider_refused" });
    expect(providerError("provider_unavailable", "x")).toMatchObject({ code: "upstream", reason: "provider_unavailable" });
    expect(providerError("provider_invalid_response", "x")).toMatchObject({ code: "upstream" });
    expect(oauthErrorFrom(providerError("provider_unavailable", "x"))).toMatchObject({ error: "server_error", status: 502 });
    expect(oauthErrorFrom(new DomainError("forbidden", "x"))).toMatchObject({ error: "access_denied", status: 403 });
  });
});
