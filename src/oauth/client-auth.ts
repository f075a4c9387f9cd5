import type { Context } from "hono";
import type { OAuthClient } from "../generated/prisma/client.ts";
import { safeEqual, sha256 } from "../lib/crypto.ts";
import { textProblem } from "../lib/text.ts";
import type { ClientCache } from "./client-cache.ts";
import { invalidClient, OAuthError } from "./errors.ts";

export interface AuthenticatedClient {
  client: OAuthClient;
  /** how it authenticated: a secret, or none (a public client, which only PKCE protects) */
  method: "client_secret_basic" | "client_secret_post" | "none";
}

function decodeBasic(header: string): { id: string; secret: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  let id: string;
  let secret: string;
  try {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
  } catch {
    return null;
  }
  // A NUL would reach the client lookup (PostgreSQL refuses it in text): not a credential we issue.
  return textProblem(id) || textProblem(secret) ? null : { id, secret };
}

/** The secret matches the current one, or the previous one while its grace period lasts. Constant time. */
export function secretMatches(client: OAuthClient, secret: string, now = new Date()): boolean {
  const presented = sha256(secret);
  const current = client.secretHash ? safeEqual(presented, client.secretHash) : false;
  const previous =
    client.previousSecretHash && client.previousSecretExpiresAt && client.previousSecretExpiresAt > now
      ? safeEqual(presented, client.previousSecretHash)
      : false;
  return current || previous;
}

/**
 * RFC 6749 §2.3: client_secret_basic or client_secret_post for confidential
 * clients; a public client sends only its client_id. Exactly one method.
 */
export async function authenticateClient(
  c: Context,
  clients: ClientCache,
  params: Record<string, string>,
  options: { allowPublic: boolean },
): Promise<AuthenticatedClient> {
  const header = c.req.header("authorization");
  const basic = header && /^Basic\s/i.test(header) ? decodeBasic(header) : null;
  if (header && /^Basic\s/i.test(header) && !basic) throw invalidClient("The Basic authorization header is malformed.", true);
  if (basic && params.client_secret !== undefined) {
    throw new OAuthError("invalid_request", "Use one client authentication method, not both Basic and client_secret.");
  }
  if (basic && params.client_id !== undefined && params.client_id !== basic.id) {
    throw new OAuthError("invalid_request", "client_id in the body does not match the Authorization header.");
  }
  const clientId = basic?.id ?? params.client_id;
  const secret = basic?.secret ?? params.client_secret;
  const usedBasic = Boolean(basic);
  if (!clientId) throw invalidClient("Client authentication is required (client_id and client_secret).", usedBasic);
  if (clientId.length > 200) throw invalidClient("Client authentication failed.", usedBasic);

  const client = await clients.get(clientId);
  if (!client || client.revokedAt) {
    // Same answer for unknown and revoked: nothing to learn by probing.
    throw invalidClient("Client authentication failed.", usedBasic);
  }
  if (client.type === "PUBLIC") {
    if (secret !== undefined) throw invalidClient("Public clients have no secret; send client_id only.", usedBasic);
    if (!options.allowPublic) throw invalidClient("This endpoint is for confidential clients.", usedBasic);
    return { client, method: "none" };
  }
  if (secret === undefined) throw invalidClient("This client must authenticate with its client_secret.", usedBasic);
  if (!secretMatches(client, secret)) throw invalidClient("Client authentication failed.", usedBasic);
  return { client, method: basic ? "client_secret_basic" : "client_secret_post" };
}
