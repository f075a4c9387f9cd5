import type { WebhookDelivery } from "../generated/prisma/client.ts";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  MAX_ENDPOINTS_PER_CLIENT,
  resendWebhookDelivery,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from "../clients/webhook-endpoints.ts";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/events.ts";
import { accountUser, builder } from "./builder.ts";
import { connectionType, pageCost, resolvePage } from "./connection.ts";
import { OAuthClientRef } from "./oauth-client.ts";

// Webhook endpoints of a developer's clients (src/webhooks): account session only,
// and only the client's owner sees or changes them.

export const WebhookDeliveryStatusEnum = builder.enumType("WebhookDeliveryStatus", {
  values: {
    PENDING: { value: "pending", description: "Waiting for its first attempt or a retry." },
    DELIVERED: { value: "delivered", description: "The receiver answered 2xx." },
    FAILED: { value: "failed", description: "Every retry failed; resend it once the receiver works." },
    CANCELLED: { value: "cancelled", description: "Not sent: the user's grant, the scope or the endpoint went away first." },
  } as const,
});

export const WebhookDeliveryRef = builder.prismaObject("WebhookDelivery", {
  description: "One event sent (or to be sent) to one endpoint; its id is the webhook-id header, the same on every attempt.",
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    eventType: t.exposeString("eventType", { nullable: false }),
    status: t.field({
      type: WebhookDeliveryStatusEnum,
      nullable: false,
      resolve: (d) => d.status as "pending" | "delivered" | "failed" | "cancelled",
    }),
    attempts: t.exposeInt("attempts", { nullable: false, description: "Attempts started so far." }),
    responseStatus: t.exposeInt("responseStatus", { description: "The receiver's HTTP status on the last attempt (null: no answer)." }),
    lastError: t.exposeString("lastError", { description: "Why the last attempt failed, or why it was cancelled." }),
    nextAttemptAt: t.field({
      type: "DateTime",
      description: "When the next attempt is due (pending only).",
      resolve: (d) => (d.status === "pending" ? d.nextAttemptAt : null),
    }),
    lastAttemptAt: t.expose("lastAttemptAt", { type: "DateTime" }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime" }),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: false }),
  }),
});

const WebhookDeliveryConnection = connectionType("WebhookDelivery", WebhookDeliveryRef, { account: true });

export const WebhookEndpointRef = builder.prismaObject("WebhookEndpoint", {
  description: "Where a client's events are sent, signed the Standard Webhooks way (docs/webhooks.md).",
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    url: t.exposeString("url", { nullable: false }),
    eventTypes: t.exposeStringList("eventTypes", { nullable: false }),
    enabled: t.exposeBoolean("enabled", { nullable: false }),
    secretHint: t.exposeString("secretHint", {
      nullable: false,
      description: "The last 4 characters of the current signing secret.",
    }),
    previousSecretExpiresAt: t.field({
      type: "DateTime",
      description: "While the secret replaced by the last rotation still signs beside the new one: until when.",
      resolve: (e) => (e.previousSecretExpiresAt && e.previousSecretExpiresAt > new Date() ? e.previousSecretExpiresAt : null),
    }),
    failingSince: t.expose("failingSince", {
      type: "DateTime",
      description: "Set when a delivery used every retry; cleared by the next delivery that works.",
    }),
    failingReason: t.exposeString("failingReason"),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: false }),
    deliveries: t.field({
      type: WebhookDeliveryConnection,
      description: "Recent deliveries, newest first (kept for WEBHOOKS_RETENTION).",
      args: { first: t.arg.int(), after: t.arg.string() },
      complexity: pageCost,
      nullable: false,
      resolve: (endpoint, args, ctx) =>
        resolvePage(
          args,
          (d: WebhookDelivery) => ({ at: d.createdAt, id: d.id }),
          (limit, after) =>
            ctx.prisma.webhookDelivery.findMany({
              where: {
                endpointId: endpoint.id,
                ...(after ? { OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, id: { lt: after.id } }] } : {}),
              },
              orderBy: [{ createdAt: "desc" }, { id: "desc" }],
              take: limit,
            }),
        ),
    }),
  }),
});

builder.prismaObjectField(OAuthClientRef, "webhookEndpoints", (t) =>
  t.field({
    type: [WebhookEndpointRef],
    nullable: false,
    description: "Where this client's events go (its owner only; empty for anyone else).",
    complexity: { field: 1, multiplier: MAX_ENDPOINTS_PER_CLIENT },
    select: { id: true, ownerId: true },
    // A client owned by no one (self-registered) has no endpoints: null never matches null here.
    resolve: (client, _args, ctx) =>
      client.ownerId !== null && accountUser(ctx)?.id === client.ownerId
        ? ctx.prisma.webhookEndpoint.findMany({ where: { clientId: client.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] })
        : [],
  }),
);

const CreateWebhookEndpointInput = builder.inputType("CreateWebhookEndpointInput", {
  fields: (t) => ({
    url: t.string({ required: true, description: "https, to a public address." }),
    eventTypes: t.stringList({ required: true, description: `Any of: ${WEBHOOK_EVENT_TYPES.join(", ")}.` }),
    enabled: t.boolean({ description: "Default true." }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType("UpdateWebhookEndpointInput", {
  description: "What to change; a field left out (or null) stays as it is.",
  fields: (t) => ({
    url: t.string(),
    eventTypes: t.stringList(),
    enabled: t.boolean(),
  }),
});

const WebhookEndpointSecretPayload = (name: string, description: string) =>
  builder.objectRef<{ endpointId: string; secret: string }>(name).implement({
    authScopes: { account: true },
    fields: (t) => ({
      endpoint: t.prismaField({
        type: WebhookEndpointRef,
        nullable: false,
        resolve: (query, payload, _args, ctx) =>
          ctx.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: payload.endpointId } }),
      }),
      secret: t.string({ nullable: false, description, resolve: (payload) => payload.secret }),
    }),
  });

const CreateWebhookEndpointPayload = WebhookEndpointSecretPayload(
  "CreateWebhookEndpointPayload",
  "The signing secret (whsec_...), shown this once only.",
);
const RotateWebhookSecretPayload = WebhookEndpointSecretPayload(
  "RotateWebhookSecretPayload",
  "The new signing secret, shown this once only; the previous one keeps signing beside it for the grace period.",
);

builder.mutationField("createWebhookEndpoint", (t) =>
  t.field({
    type: CreateWebhookEndpointPayload,
    description: "Adds a webhook endpoint to one of your clients; returns its signing secret once.",
    authScopes: { account: true },
    args: {
      clientId: t.arg.id({ required: true }),
      input: t.arg({ type: CreateWebhookEndpointInput, required: true }),
    },
    resolve: async (_root, { clientId, input }, ctx) => {
      const owner = accountUser(ctx)?.id;
      if (!owner) return null;
      const { endpoint, secret } = await createWebhookEndpoint(ctx.prisma, ctx.webhooks, owner, String(clientId), input);
      return { endpointId: endpoint.id, secret };
    },
  }),
);

builder.mutationField("updateWebhookEndpoint", (t) =>
  t.prismaField({
    type: WebhookEndpointRef,
    description: "Changes an endpoint's URL, event types or whether it is enabled.",
    authScopes: { account: true },
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateWebhookEndpointInput, required: true }),
    },
    resolve: async (query, _root, { id, input }, ctx) => {
      const owner = accountUser(ctx)?.id;
      if (!owner) return null;
      const endpoint = await updateWebhookEndpoint(ctx.prisma, ctx.webhooks, owner, String(id), input);
      return ctx.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: endpoint.id } });
    },
  }),
);

builder.mutationField("deleteWebhookEndpoint", (t) =>
  t.field({
    type: WebhookEndpointRef,
    description: "Deletes an endpoint and its deliveries; pending ones are not sent.",
    authScopes: { account: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const owner = accountUser(ctx)?.id;
      if (!owner) return null;
      return deleteWebhookEndpoint(ctx.prisma, owner, String(id));
    },
  }),
);

builder.mutationField("rotateWebhookSecret", (t) =>
  t.field({
    type: RotateWebhookSecretPayload,
    description:
      "Gives an endpoint a new signing secret (returned once). The previous one keeps signing beside it for gracePeriodSeconds " +
      "(default 86400, at most 604800; 0 ends it at once), so receivers can switch without missing a delivery.",
    authScopes: { account: true },
    args: { id: t.arg.id({ required: true }), gracePeriodSeconds: t.arg.int() },
    resolve: async (_root, { id, gracePeriodSeconds }, ctx) => {
      const owner = accountUser(ctx)?.id;
      if (!owner) return null;
      const { endpoint, secret } = await rotateWebhookSecret(ctx.prisma, ctx.webhooks, owner, String(id), gracePeriodSeconds);
      return { endpointId: endpoint.id, secret };
    },
  }),
);

builder.mutationField("resendWebhookDelivery", (t) =>
  t.prismaField({
    type: WebhookDeliveryRef,
    description: "Sends a delivery again with the same webhook-id, if the user's grant still allows it.",
    authScopes: { account: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const owner = accountUser(ctx)?.id;
      if (!owner) return null;
      const delivery = await resendWebhookDelivery(ctx.prisma, owner, String(id));
      return ctx.prisma.webhookDelivery.findUniqueOrThrow({ ...query, where: { id: delivery.id } });
    },
  }),
);
