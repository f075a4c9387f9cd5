import type { ProviderConnection } from "../generated/prisma/client.ts";
import { disconnectProvider, listConnections } from "../connectors/connections.ts";
import { AccountRef } from "./account.ts";
import { builder } from "./builder.ts";

// The signed-in user's links to accounts at other providers (src/connectors):
// account session only, like the rest of Account.

export const ConnectionStatusEnum = builder.enumType("ConnectionStatus", {
  values: {
    ACTIVE: { value: "active", description: "Connected; scopegate can act at the provider within the scopes." },
    NEEDS_RECONNECT: { value: "needs_reconnect", description: "The provider refused a refresh: the user must connect again." },
  } as const,
});

export const ProviderConnectionRef = builder.objectRef<ProviderConnection>("ProviderConnection").implement({
  description: "A link to the user's account at another provider, made through /v1/connectors/oauth/{provider}/authorize.",
  authScopes: { account: true },
  fields: (t) => ({
    provider: t.exposeString("provider", { nullable: false, description: "The provider's slug." }),
    providerName: t.string({
      nullable: false,
      resolve: (c, _args, ctx) => ctx.connectors.clients.get(c.provider)?.provider.name ?? c.provider,
    }),
    scopes: t.exposeStringList("scopes", { nullable: false }),
    status: t.field({ type: ConnectionStatusEnum, nullable: false, resolve: (c) => c.status as "active" | "needs_reconnect" }),
    connectedAt: t.expose("connectedAt", { type: "DateTime", nullable: false }),
    lastRefreshedAt: t.expose("lastRefreshedAt", { type: "DateTime" }),
    collectionId: t.exposeString("collectionId"),
    spaceId: t.exposeString("spaceId"),
    connectorId: t.exposeString("connectorId"),
    tenantId: t.exposeString("tenantId"),
  }),
});

builder.objectField(AccountRef, "connections", (t) =>
  t.field({
    type: [ProviderConnectionRef],
    nullable: false,
    description: "Links to the user's accounts at other providers, newest first.",
    resolve: (account, _args, ctx) => listConnections(ctx.prisma, account.userId),
  }),
);

builder.mutationField("disconnectProvider", (t) =>
  t.field({
    type: ProviderConnectionRef,
    description: "Removes the link to a provider, revoking its tokens there when the provider offers RFC 7009 revocation.",
    authScopes: { account: true },
    args: { provider: t.arg.string({ required: true }) },
    resolve: async (_root, { provider }, ctx) => {
      if (ctx.viewer.kind !== "account") return null;
      return disconnectProvider(ctx.prisma, ctx.connectors, ctx.viewer.userId, provider);
    },
  }),
);
