// Issue 15: an AI assistant connects to /mcp as a partner app, driven by the
// official MCP SDK's own client and OAuth code (auth(): discovery from the
// 401, PKCE, resource, token, refresh), the user consenting on our real pages.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as jose from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AssistantProvider } from "../helpers/mcp.ts";
import { location, registerClient, signedInUser, submitConsent } from "../helpers/oauth.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
let mcpUrl: URL;
const REDIRECT = "http://127.0.0.1:7777/callback";

beforeAll(async () => {
  server = await startTestServer();
  mcpUrl = new URL(`${server.url}/mcp`);
});
afterAll(async () => {
  await server?.stop();
});

type User = Awaited<ReturnType<typeof signedInUser>>;

/** The user opens the URL the assistant would open, signs in (already) and allows `ticked`; returns the code. */
async function consent(u: User, url: URL, ticked?: string[]): Promise<string> {
  expect(url.origin).toBe(server.url);
  let res = await u.web.fetch(url.pathname + url.search);
  if (res.status === 200) res = (await submitConsent(u.web, await res.text(), { decision: "allow", ticked })).res;
  const back = location(res, server.url);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
  expect(back.searchParams.get("error_description") ?? "").toBe("");
  return back.searchParams.get("code")!;
}

async function connected(provider: AssistantProvider): Promise<Client> {
  const client = new Client({ name: "test-assistant", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  return client;
}

/** From no token to connected: the 401 starts auth(), the user consents, finishAuth() gets the tokens. */
async function connectAssistant(provider: AssistantProvider, u: User, ticked?: string[]): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  const first = new Client({ name: "test-assistant", version: "1.0.0" });
  await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  const url = provider.opened.at(-1)!;
  await transport.finishAuth(await consent(u, url, ticked));
  return connected(provider);
}

async function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

describe("/mcp before any token", () => {
  it("answers 401 with the resource metadata to start OAuth from, which names /mcp as its resource", async () => {
    const res = await post(INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="scopegate", resource_metadata="${server.issuer}/.well-known/oauth-protected-resource/mcp"`,
    );
    const prm = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm).toMatchObject({ resource: `${server.issuer}/mcp`, authorization_servers: [server.issuer] });
    // Even a body nothing could parse gets the 401 first.
    const garbage = await fetch(mcpUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(garbage.status).toBe(401);
  });

  it("refuses a browser Origin that is not ours (DNS rebinding), and a token for /graphql", async () => {
    expect((await post(INITIALIZE, { origin: "http://evil.example" })).status).toBe(403);
    const dev = await signedInUser(server, "Developer");
    const { client, clientSecret } = await registerClient(server, dev.user.id, { type: "CONFIDENTIAL", scopes: ["data:read"] });
    const form = (extra: string) =>
      fetch(`${server.url}/v1/oauth/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
        },
        body: `grant_type=client_credentials&scope=data:read${extra}`,
      }).then((r) => r.json() as Promise<{ access_token: string }>);
    const graphqlToken = (await form("")).access_token;
    const refused = await post(INITIALIZE, { authorization: `Bearer ${graphqlToken}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    // The same client asking for the MCP resource gets in.
    const mcpToken = (await form(`&resource=${encodeURIComponent(`${server.issuer}/mcp`)}`)).access_token;
    const ok = await post(INITIALIZE, { authorization: `Bearer ${mcpToken}` });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).result.protocolVersion).toBe("2025-11-25");
    expect((await post(INITIALIZE, { authorization: `Bearer ${mcpToken}`, origin: server.url })).status).toBe(200);
  });

  it("answers params that do not fit a method's MCP schema with -32602 Invalid params, not the SDK's -32603 Internal error", async () => {
    const dev = await signedInUser(server, "Params developer");
    const { client, clientSecret } = await registerClient(server, dev.user.id, { type: "CONFIDENTIAL", scopes: ["profile:read"] });
    const token = (
      (await fetch(`${server.url}/v1/oauth/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString("base64")}`,
        },
        body: `grant_type=client_credentials&scope=profile:read&resource=${encodeURIComponent(`${server.issuer}/mcp`)}`,
      }).then((r) => r.json())) as { access_token: string }
    ).access_token;
    const auth = { authorization: `Bearer ${token}` };
    for (const params of [
      { name: "get_profile", arguments: false },
      { name: "get_profile", arguments: [1] },
      { name: 42 },
      "not an object",
    ]) {
      const refused = await post({ jsonrpc: "2.0", id: 7, method: "tools/call", params }, auth);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toEqual({
        jsonrpc: "2.0",
        error: { code: -32602, message: "Invalid params: the params of tools/call do not fit its MCP schema." },
        id: 7,
      });
    }
    const badInit = await post({ ...INITIALIZE, params: { protocolVersion: 2025 } }, auth);
    expect(((await badInit.json()) as any).error.code).toBe(-32602);
    // Well-formed calls still reach the tools, and an unknown method is still the SDK's -32601.
    const called = await post({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "get_profile", arguments: {} } }, auth);
    expect(((await called.json()) as any).result.structuredContent).toMatchObject({ id: dev.user.id });
    const unknown = await post({ jsonrpc: "2.0", id: 9, method: "tools/frobnicate", params: {} }, auth);
    expect(((await unknown.json()) as any).error.code).toBe(-32601);
  });
});

describe("an assistant with the SDK's OAuth client", () => {
  it("goes from no stored client to connected: discovery from the 401, self-registration (RFC 7591), consent, tools", async () => {
    const provider = new AssistantProvider(REDIRECT);
    const cy = await signedInUser(server, "Cy");
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await expect(new Client({ name: "test-assistant", version: "1.0.0" }).connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    // It registered itself: a public client, owned by no one, with the redirect URI it gave.
    const clientId = provider.info!.client_id;
    const row = await server.db.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
    expect(row).toMatchObject({ type: "PUBLIC", ownerId: null, registration: "dynamic", redirectUris: [REDIRECT] });
    // The user sees it as unverified before allowing it.
    const url = provider.opened.at(-1)!;
    const page = await (await cy.web.fetch(url.pathname + url.search)).text();
    expect(page).toContain("Unverified");
    await transport.finishAuth(await consent(cy, url));
    const mcp = await connected(provider);
    expect((await mcp.listTools()).tools).toHaveLength(5);
    expect((await mcp.callTool({ name: "get_profile", arguments: {} })).structuredContent).toMatchObject({ id: cy.user.id });
  });

  it("connects with the user's consent, lists the tools with their scopes, calls one, and is stepped up for a scope it lacks", async () => {
    const dev = await signedInUser(server, "Assistant developer");
    const { client } = await registerClient(server, dev.user.id, {
      type: "PUBLIC",
      environment: "PRODUCTION",
      redirectUris: ["http://127.0.0.1/callback"], // a native app: any port at request time (RFC 8252 §7.3)
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const provider = new AssistantProvider(REDIRECT, { clientId: client.clientId });
    const ada = await signedInUser(server, "Ada");
    await server.db.prisma.measurement.create({
      data: { userId: ada.user.id, type: "HEART_RATE", value: 61, unit: "bpm", recordedAt: new Date(Date.now() - 3_600_000) },
    });
    // Ada allows reading only.
    const mcp = await connectAssistant(provider, ada, ["profile:read", "data:read"]);
    const asked = provider.opened[0]!;
    expect(asked.searchParams.get("resource")).toBe(`${server.issuer}/mcp`);
    expect(asked.searchParams.get("code_challenge_method")).toBe("S256");
    expect(jose.decodeJwt(provider.saved!.access_token).aud).toBe(`${server.issuer}/mcp`);

    const { tools } = await mcp.listTools();
    expect(tools.map((t) => [t.name, t._meta?.["scopegate/scopes"]])).toEqual([
      ["get_profile", ["profile:read"]],
      ["list_measurements", ["data:read"]],
      ["record_measurement", ["data:write"]],
      ["update_measurement", ["data:write"]],
      ["delete_measurement", ["data:write"]],
    ]);
    const profile = await mcp.callTool({ name: "get_profile", arguments: {} });
    expect(profile.structuredContent).toMatchObject({ id: ada.user.id, email: ada.email });
    const listed = await mcp.callTool({ name: "list_measurements", arguments: { type: "HEART_RATE", first: 5 } });
    expect((listed.structuredContent as any).measurements).toEqual([expect.objectContaining({ type: "HEART_RATE", value: 61 })]);

    // The tool call runs through the GraphQL layer: the read is in Ada's audit trail, under the grant.
    await server.flushAudit();
    const trail = await server.db.prisma.auditEvent.findMany({ where: { userId: ada.user.id, action: "data.read" } });
    expect(trail.map((e) => e.detail)).toEqual(expect.arrayContaining([expect.stringContaining("me{measurements}")]));

    // Writing needs data:write: 403 insufficient_scope, and the SDK goes back to ask the user for it.
    const raw = await post(
      { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "record_measurement", arguments: {} } },
      { authorization: `Bearer ${provider.saved!.access_token}` },
    );
    expect(raw.status).toBe(403);
    const challenge = raw.headers.get("www-authenticate")!;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toMatch(/ scope="[^"]*data:write[^"]*"/);
    expect(challenge).toContain(`resource_metadata="${server.issuer}/.well-known/oauth-protected-resource/mcp"`);
    // SDK 1.32 answers the challenge with a refresh first, which cannot widen a grant (RFC 6749 §6), so the
    // 403 comes back to the assistant; it then asks the user again with the challenge's scope.
    const write = { type: "STEPS", value: 100, unit: "count", recordedAt: new Date(Date.now() - 60_000).toISOString() };
    await expect(mcp.callTool({ name: "record_measurement", arguments: write })).rejects.toMatchObject({ code: 403 });
    provider.saved = undefined;
    const scope = /scope="([^"]+)"/.exec(challenge)![1]!;
    expect(await auth(provider, { serverUrl: mcpUrl, scope })).toBe("REDIRECT");
    const stepUp = provider.opened.at(-1)!;
    expect(stepUp.searchParams.get("scope")?.split(" ")).toContain("data:write");
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: await consent(ada, stepUp) })).toBe("AUTHORIZED");
    const widened = await connected(provider);
    const recorded = await widened.callTool({ name: "record_measurement", arguments: write });
    expect(recorded.isError).toBeFalsy();
    expect(recorded.structuredContent).toMatchObject({ type: "STEPS", value: 100 });
  });

  it("refreshes when the access token is refused, and a revocation under Connected apps ends access on the next call", async () => {
    const dev = await signedInUser(server, "Assistant developer");
    const { client } = await registerClient(server, dev.user.id, {
      type: "PUBLIC",
      environment: "PRODUCTION",
      redirectUris: [REDIRECT],
      scopes: ["profile:read", "data:read", "data:write"],
    });
    const provider = new AssistantProvider(REDIRECT, { clientId: client.clientId });
    const bo = await signedInUser(server, "Bo");
    const mcp = await connectAssistant(provider, bo, ["profile:read"]);
    expect(provider.saved!.refresh_token).toBeTruthy();
    const before = provider.saved!;

    // A token the server no longer takes: the SDK refreshes and retries by itself.
    provider.saved = { ...before, access_token: "expired.or.revoked" };
    const again = await connected(provider);
    expect((await again.callTool({ name: "get_profile", arguments: {} })).structuredContent).toMatchObject({ id: bo.user.id });
    expect(provider.saved!.access_token).not.toBe(before.access_token);
    expect(provider.saved!.refresh_token).not.toBe(before.refresh_token); // rotated

    // Bo disconnects the assistant.
    const csrf = await bo.web.csrfFrom("/logout");
    const apps = await bo.web.graphql("{ viewer { connectedApps { id client { clientId } } } }", { csrf });
    const grant = apps.body!.data.viewer.connectedApps.find((a: any) => a.client.clientId === client.clientId);
    await bo.web.graphql("mutation($id: ID!) { revokeConnectedApp(grantId: $id) { id } }", { csrf, variables: { id: grant.id } });
    await expect(mcp.callTool({ name: "get_profile", arguments: {} })).rejects.toThrow();
    const raw = await post(INITIALIZE, { authorization: `Bearer ${provider.saved!.access_token}` });
    expect(raw.status).toBe(401);
  });
});
