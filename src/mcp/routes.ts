import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { ClientRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Hono } from "hono";
import { bearerChallenge, viewerFromBearer } from "../auth/bearer.ts";
import type { Viewer } from "../auth/viewer.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { bearerTokenOf } from "../lib/www-authenticate.ts";
import { RESOURCE_PATHS, resourceUrl } from "../oauth/resources.ts";
import { JSON_RPC, jsonRpcErrorResponse } from "./errors.ts";
import { findTool, MCP_TOOLS, type McpTool } from "./tools.ts";

/**
 * POST /mcp: the Model Context Protocol over Streamable HTTP, stateless (every
 * request stands alone, so any instance serves any request), built on the
 * official SDK. AI assistants connect as partner apps: a token for the MCP
 * resource (RFC 8707 resource=<ISSUER>/mcp), the user's consent, the scopes
 * granted. In order, before the body is read: a browser Origin that is not
 * ours is refused (DNS rebinding), then a missing or bad token gets 401 with
 * the resource metadata to start OAuth from; a tool call that needs a scope the
 * token lacks gets 403 insufficient_scope naming it (step-up).
 */

export const MCP_PATH = RESOURCE_PATHS.mcp;
const SERVER_INFO = { name: "scopegate", version: "1.0.0" };

/** A GraphQL operation executed through the API's own Yoga server as `viewer`; supplied by app.ts (surfaces do not import each other). */
export type GraphQLExecutor = (
  viewer: Extract<Viewer, { kind: "token" }>,
  operation: string,
  variables: Record<string, unknown>,
) => Promise<{ data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }>;

type TokenViewer = Extract<Viewer, { kind: "token" }>;

/** Each MCP client request's schema by method, from the SDK's own union. */
const REQUEST_SCHEMAS = new Map(ClientRequestSchema.options.map((schema) => [schema.shape.method.value as string, schema]));

/**
 * The first request whose method MCP defines but whose params do not fit it.
 * The SDK parses them inside its handler and answers a failure as -32603
 * Internal error with the raw issue list; a client's bad params are -32602.
 */
function invalidParams(messages: unknown[]): { id: unknown; method: string } | null {
  for (const message of messages) {
    const msg = message as { method?: unknown; id?: unknown };
    if (!msg || typeof msg !== "object" || typeof msg.method !== "string" || !("id" in msg)) continue;
    const schema = REQUEST_SCHEMAS.get(msg.method);
    if (schema && !schema.safeParse(msg).success) return { id: msg.id, method: msg.method };
  }
  return null;
}

/** The scopes a tool needs that the token does not carry. */
function missingScopes(tool: McpTool, viewer: TokenViewer): string[] {
  return tool.scopes.filter((s) => !viewer.scopes.has(s));
}

function buildServer(viewer: TokenViewer, execute: GraphQLExecutor): McpServer {
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: "The user's scopegate health data, as far as they allowed this assistant: profile and measurements.",
  });
  for (const tool of MCP_TOOLS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: `${tool.description} Needs the scope ${tool.scopes.join(" and ")}.`,
        inputSchema: tool.input,
        annotations: { readOnlyHint: tool.readOnly, destructiveHint: tool.destructive ?? false, openWorldHint: false },
        _meta: { "scopegate/scopes": tool.scopes },
      },
      async (args: Record<string, unknown>) => {
        const { data, errors } = await execute(viewer, tool.operation, tool.variables(args as never));
        if (errors?.length) {
          return { isError: true, content: [{ type: "text" as const, text: errors.map((e) => e.message).join("\n") }] };
        }
        const result = tool.result(data);
        return {
          content: [{ type: "text" as const, text: JSON.stringify(result) }],
          ...(result && typeof result === "object" && !Array.isArray(result)
            ? { structuredContent: result as Record<string, unknown> }
            : {}),
        };
      },
    );
  }
  return server;
}

export function mcpRoutes(deps: AppDeps, execute: GraphQLExecutor): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const issuer = deps.config.issuer;
  const ourOrigin = new URL(issuer).origin;
  const audience = resourceUrl(issuer, "mcp");
  const challenge = (error?: { code: string; description?: string; scope?: string }) => bearerChallenge(issuer, error, "mcp");

  // Stateless: no server-to-client stream, no session to delete.
  app.on(["GET", "DELETE"], MCP_PATH, (c) =>
    jsonRpcErrorResponse(c, 405, JSON_RPC.serverError, "Method not allowed: POST JSON-RPC messages.", { Allow: "POST" }),
  );

  app.post(MCP_PATH, async (c) => {
    c.header("Cache-Control", "no-store");
    // A page on another site that a browser lets reach us (DNS rebinding): refused before anything else.
    const origin = c.req.header("origin");
    if (origin && origin !== ourOrigin)
      return jsonRpcErrorResponse(c, 403, JSON_RPC.serverError, "Forbidden: this Origin may not call the MCP endpoint.");

    const bearer = await viewerFromBearer(deps, c.req.header("authorization"), audience);
    if (bearer.kind !== "ok") {
      c.set("refusal", "invalid_token");
      const message = bearer.kind === "none" ? "an access token for this MCP server is required." : bearer.description;
      return jsonRpcErrorResponse(c, 401, JSON_RPC.unauthorized, `Unauthorized: ${message}`, {
        "WWW-Authenticate": challenge(bearer.kind === "none" ? undefined : { code: "invalid_token", description: bearer.description }),
      });
    }
    const viewer = bearer.viewer;
    const token = bearerTokenOf(c.req.header("authorization"))!;
    // The same per-grant budget as /graphql: the tools are GraphQL operations.
    const wait = deps.rateLimits.graphqlPerToken.take(viewer.grantId ?? `client:${viewer.clientRowId}`);
    if (wait)
      return jsonRpcErrorResponse(c, 429, JSON_RPC.serverError, `Too many requests; retry in ${wait} seconds.`, {
        "Retry-After": String(wait),
      });

    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return jsonRpcErrorResponse(c, 400, JSON_RPC.parseError, "Parse error: the body is not JSON.");
    }
    const messages = Array.isArray(body) ? body : [body];
    const bad = invalidParams(messages);
    if (bad)
      return jsonRpcErrorResponse(
        c,
        400,
        JSON_RPC.invalidParams,
        `Invalid params: the params of ${bad.method} do not fit its MCP schema.`,
        {},
        bad.id,
      );
    // Step-up (MCP authorization, scope challenge): a tool call beyond the token's scopes is 403, naming what to ask for.
    for (const message of messages) {
      const msg = message as { method?: unknown; id?: unknown; params?: { name?: unknown } };
      if (msg?.method !== "tools/call") continue;
      const tool = findTool(msg.params?.name);
      if (!tool) continue; // the SDK answers an unknown tool itself
      const missing = missingScopes(tool, viewer);
      if (missing.length) {
        c.set("refusal", "insufficient_scope");
        const scope = [...new Set([...viewer.scopes, ...missing])].join(" ");
        return jsonRpcErrorResponse(
          c,
          403,
          JSON_RPC.forbidden,
          `Forbidden: the tool ${tool.name} needs the scope ${missing.join(" ")}.`,
          {
            "WWW-Authenticate": challenge({
              code: "insufficient_scope",
              description: `The tool ${tool.name} needs ${missing.join(" ")}.`,
              scope,
            }),
          },
          msg.id,
        );
      }
    }

    deps.audit.assertRoom();
    const server = buildServer(viewer, execute);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, {
        parsedBody: body,
        authInfo: { token, clientId: viewer.clientId, scopes: [...viewer.scopes], resource: new URL(audience) },
      });
    } finally {
      await server.close();
    }
  });

  return app;
}
