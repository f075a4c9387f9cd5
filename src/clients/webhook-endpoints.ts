import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Db } from "../db/index.ts";
import type { OAuthClient, WebhookDelivery, WebhookEndpoint } from "../generated/prisma/client.ts";
import { invalidInput, notFound } from "../lib/errors.ts";
import { checkOutboundUrl, OutboundRefusedError } from "../lib/guarded-fetch.ts";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import { hasLoneSurrogate } from "../lib/text.ts";
import { isWebhookEventType, requiredScope, WEBHOOK_EVENT_TYPES, wakeWebhookWorkers } from "../webhooks/events.ts";
import type { Logger } from "../lib/log.ts";
import { isWebhookId, KEY_ENCRYPTION_LABEL, newWebhookSecret, sealContext, sealWebhookSecret } from "../webhooks/signature.ts";
import { findOwnedClient } from "./client-admin.ts";

/**
 * A client's owner managing its webhook endpoints (GraphQL mutations and the
 * /developers page both come here): client administration, so it lives here
 * and finds the client as client-admin.ts does, while the outbox, signing and
 * delivery stay in src/webhooks/ below (consent writes events in its
 * transactions). Ownership is part of every lookup: someone else's endpoint,
 * delivery or client and one that does not exist give the same not_found.
 */

export interface WebhookSettings {
  /** WEBHOOKS_ALLOW_LOOPBACK */
  allowLoopback: boolean;
  keyEncryption: KeyEncryption;
}

/** Endpoints per client: enough for staging and production receivers of each event. */
export const MAX_ENDPOINTS_PER_CLIENT = 10;
export const MAX_URL_LENGTH = 2000;
/** How long the replaced secret keeps signing beside the new one by default: the Standard Webhooks rotation overlap. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 3600;
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;

const urlField = z
  .string()
  .max(MAX_URL_LENGTH, `url must be at most ${MAX_URL_LENGTH} characters.`)
  .refine((s) => !hasLoneSurrogate(s), "url must be valid Unicode.");

const eventTypesField = z
  .array(z.string().max(100))
  .min(1, "Choose at least one event type.")
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .superRefine((types, ctx) => {
    const unknown = types.filter((t) => !isWebhookEventType(t));
    if (unknown.length) {
      ctx.addIssue({
        code: "custom",
        message: `Unknown event type${unknown.length > 1 ? "s" : ""}: ${unknown.map((t) => JSON.stringify(t.slice(0, 40))).join(", ")}. Known: ${WEBHOOK_EVENT_TYPES.join(", ")}.`,
      });
    }
  })
  .transform((types) => WEBHOOK_EVENT_TYPES.filter((t) => types.includes(t)));

export interface WebhookEndpointInput {
  url: string;
  eventTypes: string[];
  enabled?: boolean | null;
}

export interface WebhookEndpointChange {
  url?: string | null;
  eventTypes?: string[] | null;
  enabled?: boolean | null;
}

function endpointNotFound() {
  return notFound("Webhook endpoint");
}

function parse<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(field, result.error.issues[0]!.message);
  return result.data;
}

/** The URL as stored, once it passed the outbound check (refused: invalid_input naming why). */
function checkedUrl(value: unknown, settings: WebhookSettings, field: string): string {
  const raw = parse(urlField, value, field);
  try {
    return checkOutboundUrl(raw.trim(), { allowLoopback: settings.allowLoopback }).url.href;
  } catch (err) {
    if (err instanceof OutboundRefusedError) {
      const why: Record<string, string> = {
        not_https: settings.allowLoopback ? "A webhook URL must be https (or http to a loopback address)." : "A webhook URL must be https.",
        private_address: "A webhook URL must point to a public address, not a loopback, private, link-local or metadata address.",
        internal_name: "A webhook URL must name a public host, not localhost, a metadata service or an internal name.",
      };
      throw invalidInput(field, why[err.reason] ?? err.message);
    }
    throw err;
  }
}

/** Event types the client can ever receive: its registered scopes must include each one's scope. */
function checkEventTypes(value: unknown, client: OAuthClient, field: string): string[] {
  const types = parse(eventTypesField, value, field);
  const unreachable = types.filter((t) => {
    const scope = requiredScope(t);
    return scope !== null && !client.scopes.includes(scope);
  });
  if (unreachable.length) {
    throw invalidInput(
      field,
      `This client is not registered with ${[...new Set(unreachable.map(requiredScope))].join(" ")}, so it can never receive ${unreachable.join(", ")}.`,
    );
  }
  return types;
}

async function ownedEndpoint(db: Db, ownerId: string, endpointId: string): Promise<WebhookEndpoint & { client: OAuthClient }> {
  if (typeof endpointId !== "string" || !z.uuid().safeParse(endpointId).success) throw endpointNotFound();
  const endpoint = await db.webhookEndpoint.findUnique({ where: { id: endpointId }, include: { client: true } });
  if (!endpoint || endpoint.client.ownerId !== ownerId) throw endpointNotFound();
  return endpoint;
}

function hint(secret: string): string {
  return secret.slice(-4);
}

/** The owner's endpoints of one of their clients (by its public client_id), oldest first. */
export async function listWebhookEndpoints(db: Db, ownerId: string, clientId: string): Promise<WebhookEndpoint[]> {
  const client = await findOwnedClient(db, { id: ownerId }, clientId);
  return db.webhookEndpoint.findMany({ where: { clientId: client.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

/** A new endpoint and its signing secret, which is returned this once and stored sealed. */
export async function createWebhookEndpoint(
  db: Db,
  settings: WebhookSettings,
  ownerId: string,
  clientId: string,
  input: WebhookEndpointInput,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const client = await findOwnedClient(db, { id: ownerId }, clientId);
  if (client.revokedAt) throw invalidInput("clientId", "This client is revoked: it cannot receive webhooks.");
  const url = checkedUrl(input.url, settings, "input.url");
  const eventTypes = checkEventTypes(input.eventTypes, client, "input.eventTypes");
  const count = await db.webhookEndpoint.count({ where: { clientId: client.id } });
  if (count >= MAX_ENDPOINTS_PER_CLIENT) {
    throw invalidInput(undefined, `A client has at most ${MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first.`);
  }
  const id = randomUUID();
  const secret = newWebhookSecret();
  const endpoint = await db.webhookEndpoint.create({
    data: {
      id,
      clientId: client.id,
      url,
      eventTypes,
      enabled: input.enabled ?? true,
      secret: sealWebhookSecret(settings.keyEncryption, id, secret),
      secretHint: hint(secret),
    },
  });
  return { endpoint, secret };
}

/** Changes the URL, the event types or whether it is enabled; what is left out stays. */
export async function updateWebhookEndpoint(
  db: Db,
  settings: WebhookSettings,
  ownerId: string,
  endpointId: string,
  change: WebhookEndpointChange,
): Promise<WebhookEndpoint> {
  const endpoint = await ownedEndpoint(db, ownerId, endpointId);
  const data: { url?: string; eventTypes?: string[]; enabled?: boolean; failingSince?: null; failingReason?: null } = {};
  if (change.url != null) data.url = checkedUrl(change.url, settings, "input.url");
  if (change.eventTypes != null) data.eventTypes = checkEventTypes(change.eventTypes, endpoint.client, "input.eventTypes");
  if (change.enabled != null) data.enabled = change.enabled;
  // A new URL is a new receiver: what the old one did says nothing about it.
  if (data.url !== undefined && data.url !== endpoint.url) Object.assign(data, { failingSince: null, failingReason: null });
  const updated = await db.webhookEndpoint.update({ where: { id: endpoint.id }, data });
  if (data.enabled) wakeWebhookWorkers();
  return updated;
}

/** Deletes the endpoint with its deliveries (pending ones are not sent). */
export async function deleteWebhookEndpoint(db: Db, ownerId: string, endpointId: string): Promise<WebhookEndpoint> {
  const endpoint = await ownedEndpoint(db, ownerId, endpointId);
  await db.webhookEndpoint.delete({ where: { id: endpoint.id } });
  return endpoint;
}

/**
 * A new signing secret, returned this once. The replaced one keeps signing
 * beside it (two signatures in webhook-signature) for the overlap, 24 hours
 * unless told otherwise, so that receivers can switch without dropping a
 * delivery; 0 ends it at once.
 */
export async function rotateWebhookSecret(
  db: Db,
  settings: WebhookSettings,
  ownerId: string,
  endpointId: string,
  overlapSeconds?: number | null,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const overlap = parse(
    z
      .number()
      .int("gracePeriodSeconds must be a whole number of seconds")
      .min(0, "gracePeriodSeconds must not be negative")
      .max(MAX_ROTATION_OVERLAP_SECONDS, `gracePeriodSeconds must be at most ${MAX_ROTATION_OVERLAP_SECONDS} (7 days)`),
    overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS,
    "gracePeriodSeconds",
  );
  const endpoint = await ownedEndpoint(db, ownerId, endpointId);
  const secret = newWebhookSecret();
  const updated = await db.webhookEndpoint.update({
    where: { id: endpoint.id },
    data: {
      secret: sealWebhookSecret(settings.keyEncryption, endpoint.id, secret),
      secretHint: hint(secret),
      previousSecret: overlap > 0 ? endpoint.secret : null,
      previousSecretExpiresAt: overlap > 0 ? new Date(Date.now() + overlap * 1000) : null,
    },
  });
  return { endpoint: updated, secret };
}

/** The endpoint's most recent deliveries, newest first. */
export async function recentDeliveries(db: Db, ownerId: string, endpointId: string, take = 20): Promise<WebhookDelivery[]> {
  const endpoint = await ownedEndpoint(db, ownerId, endpointId);
  return db.webhookDelivery.findMany({
    where: { endpointId: endpoint.id },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: Math.min(Math.max(take, 1), 100),
  });
}

/**
 * Sends a delivery again, with the same webhook-id (receivers that already
 * have it deduplicate), as soon as a worker is free. The grant is checked
 * again at sending: a delivery the user has since withdrawn is cancelled, not sent.
 */
export async function resendWebhookDelivery(db: Db, ownerId: string, deliveryId: string): Promise<WebhookDelivery> {
  if (!isWebhookId(deliveryId)) throw notFound("Webhook delivery");
  const delivery = await db.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { endpoint: { include: { client: true } } } });
  if (!delivery || delivery.endpoint.client.ownerId !== ownerId) throw notFound("Webhook delivery");
  const now = new Date();
  // Not one being attempted right now: that attempt records its own outcome.
  const { count } = await db.webhookDelivery.updateMany({
    where: { id: delivery.id, OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }] },
    data: { status: "pending", nextAttemptAt: now, lastError: null },
  });
  if (count === 0) throw invalidInput(undefined, "This delivery is being attempted right now; try again in a moment.");
  wakeWebhookWorkers();
  return db.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id } });
}

/**
 * After KEY_ENCRYPTION_SECRET was rotated (the old one in
 * KEY_ENCRYPTION_SECRET_PREVIOUS): seals every endpoint's secrets again under
 * the current one, at start-up, as the signing keys are, so that the previous
 * secret can be dropped once every instance has restarted. A secret that
 * neither opens is left as it is and logged: its deliveries fail with that
 * reason until the owner rotates it, and the server still starts.
 */
export async function resealWebhookSecrets(db: Db, keyEncryption: KeyEncryption, logger?: Pick<Logger, "info" | "warn">): Promise<number> {
  // Only the rows sealed under another secret: every start runs this, and after a rotation is done there are none.
  const current = keyEncryption.currentPrefix;
  const rows = await db.webhookEndpoint.findMany({
    where: {
      OR: [
        { NOT: { secret: { startsWith: current } } },
        { previousSecret: { not: null }, NOT: { previousSecret: { startsWith: current } } },
      ],
    },
    select: { id: true, secret: true, previousSecret: true },
  });
  let resealed = 0;
  for (const row of rows) {
    const stale = (sealed: string | null) => sealed !== null && !keyEncryption.isCurrent(sealed);
    if (!stale(row.secret) && !stale(row.previousSecret)) continue;
    try {
      const reseal = (sealed: string) => keyEncryption.reseal(KEY_ENCRYPTION_LABEL, sealed, sealContext(row.id));
      // Only if nobody changed it meanwhile (a rotation on another instance).
      const { count } = await db.webhookEndpoint.updateMany({
        where: { id: row.id, secret: row.secret, previousSecret: row.previousSecret },
        data: { secret: reseal(row.secret), previousSecret: row.previousSecret === null ? null : reseal(row.previousSecret) },
      });
      resealed += count;
    } catch (err) {
      logger?.warn(
        { endpointId: row.id },
        `a webhook endpoint's signing secret was left as it is (${(err as Error).message}): set KEY_ENCRYPTION_SECRET_PREVIOUS ` +
          "to the secret it was sealed under, or have its owner rotate it; its deliveries fail until then",
      );
    }
  }
  if (resealed) logger?.info({ endpoints: resealed }, "sealed webhook secrets under the current KEY_ENCRYPTION_SECRET");
  return resealed;
}
