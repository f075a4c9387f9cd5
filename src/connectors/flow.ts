import * as oauth from "oauth4webapi";
import { recordAudit } from "../audit/audit.ts";
import type { Db } from "../db/index.ts";
import { randomToken, safeEqual, sha256 } from "../lib/crypto.ts";
import { DomainError, invalidInput } from "../lib/errors.ts";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import { CONNECTOR_STATE_TTL_MS } from "../lib/lifetimes.ts";
import type { ProviderClient } from "./provider-client.ts";

/**
 * Connecting a user's account at a provider: start() makes a one-time `state`
 * bound to the user and to the browser (a cookie), and the authorization URL;
 * complete() checks the callback against it and stores the tokens sealed.
 * A flow that cannot go on throws a DomainError, and nothing is stored:
 * invalid_input (start again), forbidden (not this browser or account), or a
 * provider's failure (provider-client.ts providerError).
 */

export const KEY_ENCRYPTION_LABEL = "connectors";
/** How long a started flow may take: the user signs in and consents at the provider. */
export const STATE_LIFETIME_MS = CONNECTOR_STATE_TTL_MS;

/** The opaque ids an integrator may attach to a connection; echoed back. */
export interface ConnectionTags {
  collectionId?: string | null;
  spaceId?: string | null;
  connectorId?: string | null;
  tenantId?: string | null;
}

export const sealContext = (userId: string, provider: string) => `${userId}:${provider}`;

export async function startConnection(
  db: Db,
  keyEncryption: KeyEncryption,
  client: ProviderClient,
  input: { userId: string; returnTo: string | null; tags: ConnectionTags; now?: Date },
): Promise<{ authorizationUrl: URL; state: string; browserToken: string; expiresAt: Date }> {
  const now = input.now ?? new Date();
  const state = randomToken();
  const browserToken = randomToken();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const nonce = oauth.generateRandomNonce();
  // Discovery first: a provider that is down fails here, before anything is stored.
  const authorizationUrl = await client.authorizationUrl({
    state,
    codeChallenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    nonce,
  });
  const expiresAt = new Date(now.getTime() + STATE_LIFETIME_MS);
  const stateHash = sha256(state);
  await db.connectorState.create({
    data: {
      stateHash,
      browserHash: sha256(browserToken),
      userId: input.userId,
      provider: client.provider.slug,
      codeVerifier: keyEncryption.seal(KEY_ENCRYPTION_LABEL, codeVerifier, `state:${stateHash}`),
      nonce,
      returnTo: input.returnTo,
      collectionId: input.tags.collectionId ?? null,
      spaceId: input.tags.spaceId ?? null,
      connectorId: input.tags.connectorId ?? null,
      tenantId: input.tags.tenantId ?? null,
      createdAt: now,
      expiresAt,
    },
  });
  // Old flows nobody finished: they carry a sealed verifier, so they do not linger.
  await db.connectorState.deleteMany({ where: { expiresAt: { lt: new Date(now.getTime() - STATE_LIFETIME_MS) } } });
  return { authorizationUrl, state, browserToken, expiresAt };
}

export interface CompletedConnection {
  provider: string;
  userId: string;
  returnTo: string | null;
  tags: ConnectionTags;
}

/**
 * Completes the flow that `state` names, in the browser whose cookie holds
 * `browserToken`, for the signed-in user if there is one. The state is used up
 * by the first try from that browser and user, whatever its outcome; a try
 * from elsewhere (a stolen callback URL) is refused without burning it, so
 * that it cannot cancel the user's own flow.
 */
export async function completeConnection(
  db: Db,
  keyEncryption: KeyEncryption,
  client: ProviderClient,
  input: { callback: URL; state: string; browserToken: string | null; sessionUserId: string | null; now?: Date },
): Promise<CompletedConnection> {
  const now = input.now ?? new Date();
  const stateHash = sha256(input.state);
  const row = await db.connectorState.findUnique({ where: { stateHash } });
  const unknown = () => invalidInput("state", "This connection request is unknown or was already used. Start connecting again.");
  if (!row || row.provider !== client.provider.slug) throw unknown();
  if (row.usedAt) throw unknown();
  if (row.expiresAt <= now) throw invalidInput("state", "This connection request has expired. Start connecting again.");
  if (!input.browserToken || !safeEqual(sha256(input.browserToken), row.browserHash)) {
    throw new DomainError("forbidden", "This connection must be completed in the browser that started it.");
  }
  if (input.sessionUserId && input.sessionUserId !== row.userId) {
    throw new DomainError("forbidden", "This connection was started by another account.");
  }
  // One-time: whoever marks it used first goes on.
  const { count } = await db.connectorState.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
  if (count === 0) throw unknown();

  const codeVerifier = keyEncryption.openText(KEY_ENCRYPTION_LABEL, row.codeVerifier, `state:${stateHash}`);
  const tokens = await client.exchange(input.callback, { state: input.state, codeVerifier, nonce: row.nonce });
  const context = sealContext(row.userId, row.provider);
  const data = {
    status: "active",
    scopes: tokens.scopes ?? client.provider.scopes,
    accessToken: keyEncryption.seal(KEY_ENCRYPTION_LABEL, tokens.accessToken, context),
    refreshToken: tokens.refreshToken === null ? null : keyEncryption.seal(KEY_ENCRYPTION_LABEL, tokens.refreshToken, context),
    accessTokenExpiresAt: tokens.expiresAt,
    subject: tokens.subject,
    collectionId: row.collectionId,
    spaceId: row.spaceId,
    connectorId: row.connectorId,
    tenantId: row.tenantId,
    connectedAt: now,
    lastRefreshedAt: null,
  };
  await db.$transaction(async (tx) => {
    await tx.providerConnection.upsert({
      where: { userId_provider: { userId: row.userId, provider: row.provider } },
      create: { userId: row.userId, provider: row.provider, ...data },
      update: data,
    });
    await recordAudit(tx, {
      action: "connection.created",
      userId: row.userId,
      detail: `${client.provider.name} (${row.provider}) connected; scopes: ${data.scopes.join(" ")}`,
    });
  });
  await db.connectorState.delete({ where: { id: row.id } }).catch(() => {});
  return {
    provider: row.provider,
    userId: row.userId,
    returnTo: row.returnTo,
    tags: { collectionId: row.collectionId, spaceId: row.spaceId, connectorId: row.connectorId, tenantId: row.tenantId },
  };
}
