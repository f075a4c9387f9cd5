import { afterCommit } from "../db/changes.ts";
import type { DbTx } from "../db/index.ts";
import { newWebhookId } from "./signature.ts";

/**
 * The events a client can subscribe to, and what each needs. An event about a
 * user goes to a client's endpoints only while that user's live grant to the
 * client holds the event's scope, or, for the client owner's own data, while
 * the client is registered with it. grant.* events need no scope: they tell
 * the partner to stop.
 */
export const WEBHOOK_EVENTS = {
  "measurement.created": "data:read",
  "measurement.updated": "data:read",
  "measurement.deleted": "data:read",
  "profile.updated": "profile:read",
  "grant.revoked": null,
  "grant.narrowed": null,
} as const satisfies Record<string, string | null>;

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS;
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return Object.hasOwn(WEBHOOK_EVENTS, value);
}

/** The scope a client must hold for the user to receive this event (null: none). */
export function requiredScope(type: string): string | null {
  return isWebhookEventType(type) ? WEBHOOK_EVENTS[type] : null;
}

/** A measurement as a payload carries it: what data:read reads through GraphQL. */
export interface MeasurementData {
  id: string;
  type: string;
  value: number;
  unit: string;
  recordedAt: Date;
}

/** The profile as profile:read shows it (userinfo's name, email, birthdate). */
export interface ProfileData {
  name: string;
  email: string;
  birthDate: Date | null;
}

export type WebhookEvent =
  | { type: "measurement.created" | "measurement.updated"; userId: string; measurement: MeasurementData }
  | { type: "measurement.deleted"; userId: string; measurementId: string }
  | { type: "profile.updated"; userId: string; profile: ProfileData }
  | { type: "grant.revoked"; userId: string; grantId: string; clientRowId: string }
  | { type: "grant.narrowed"; userId: string; grantId: string; clientRowId: string; scopes: string[]; removedScopes: string[] };

/**
 * The body sent, Standard Webhooks style: type, timestamp, data. `userId` is
 * the `sub` of the user's tokens and userinfo. A payload holds only what the
 * event's scope reads: measurement events what data:read shows of the
 * measurement, profile.updated what profile:read shows, grant events the
 * scopes alone.
 */
export function webhookBody(event: WebhookEvent, at: Date): string {
  const data = (() => {
    switch (event.type) {
      case "measurement.created":
      case "measurement.updated": {
        const m = event.measurement;
        return {
          userId: event.userId,
          measurement: { id: m.id, type: m.type, value: m.value, unit: m.unit, recordedAt: m.recordedAt.toISOString() },
        };
      }
      case "measurement.deleted":
        return { userId: event.userId, measurement: { id: event.measurementId } };
      case "profile.updated": {
        const p = event.profile;
        return {
          userId: event.userId,
          profile: { name: p.name, email: p.email, birthDate: p.birthDate ? p.birthDate.toISOString().slice(0, 10) : null },
        };
      }
      case "grant.revoked":
        return { userId: event.userId };
      case "grant.narrowed":
        return { userId: event.userId, scopes: event.scopes, removedScopes: event.removedScopes };
    }
  })();
  return JSON.stringify({ type: event.type, timestamp: at.toISOString(), data });
}

/** Wakes this process's delivery workers once an outbox write has committed. */
const wakers = new Set<() => void>();
export function onWebhookEventsCommitted(wake: () => void): () => void {
  wakers.add(wake);
  return () => wakers.delete(wake);
}

/** Tells this process's delivery workers that something may be due now. */
export function wakeWebhookWorkers(): void {
  for (const wake of wakers) wake();
}

/**
 * Writes the event to the outbox, one row per endpoint that may receive it, in
 * the transaction that makes the change: it is sent if and only if the change
 * commits, and a crash after the commit loses nothing. Costs one indexed
 * SELECT when no endpoint wants it. Returns how many deliveries it queued.
 */
export async function recordWebhookEvent(tx: DbTx, event: WebhookEvent): Promise<number> {
  const scope = WEBHOOK_EVENTS[event.type];
  const endpoints =
    scope === null
      ? await tx.$queryRaw<{ endpointId: string; grantId: string | null }[]>`
          SELECT e."id" AS "endpointId", ${(event as { grantId: string }).grantId}::text AS "grantId"
          FROM "WebhookEndpoint" e JOIN "OAuthClient" c ON c."id" = e."clientId"
          WHERE e."clientId" = ${(event as { clientRowId: string }).clientRowId} AND e."enabled"
            AND ${event.type} = ANY(e."eventTypes") AND c."revokedAt" IS NULL`
      : // The user's live grant with the scope, or the owner's own client registered with it.
        await tx.$queryRaw<{ endpointId: string; grantId: string | null }[]>`
          SELECT e."id" AS "endpointId", g."id" AS "grantId"
          FROM "WebhookEndpoint" e
          JOIN "OAuthClient" c ON c."id" = e."clientId" AND c."revokedAt" IS NULL
          LEFT JOIN LATERAL (
            SELECT "id" FROM "Grant"
            WHERE "clientId" = c."id" AND "userId" = ${event.userId} AND "revokedAt" IS NULL AND ${scope} = ANY("scopes")
            ORDER BY "createdAt" DESC LIMIT 1
          ) g ON true
          WHERE e."enabled" AND ${event.type} = ANY(e."eventTypes")
            AND (g."id" IS NOT NULL OR (c."ownerId" = ${event.userId} AND ${scope} = ANY(c."scopes")))`;
  if (endpoints.length === 0) return 0;
  const now = new Date();
  const body = webhookBody(event, now);
  await tx.webhookDelivery.createMany({
    data: endpoints.map((e) => ({
      id: newWebhookId(now),
      endpointId: e.endpointId,
      eventType: event.type,
      userId: event.userId,
      grantId: e.grantId,
      body,
      status: "pending",
      nextAttemptAt: now,
      createdAt: now,
    })),
  });
  afterCommit(tx, wakeWebhookWorkers);
  return endpoints.length;
}
