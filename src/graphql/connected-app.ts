import { describeScopes, liveGrantsQuery, narrowConnectedApp, revokeConnectedApp } from "../consent/connected-apps.ts";
import { AccountRef } from "./account.ts";
import { builder } from "./builder.ts";
import { invalidInput } from "../lib/errors.ts";
import { OAuthClientRef } from "./oauth-client.ts";
// The audit trail comes with connected apps (schema.ts imports this file only).
import "./audit-event.ts";

// Connected apps: the signed-in user's live grants. Account session only: no
// OAuth token, whatever its scopes, may list or change the user's grants.

const ScopeDescriptionRef = builder.objectRef<{ scope: string; description: string }>("ScopeDescription").implement({
  description: "A granted scope and what it lets the app do, in plain words.",
  authScopes: { account: true },
  fields: (t) => ({
    scope: t.exposeString("scope", { nullable: false }),
    description: t.exposeString("description", { nullable: false }),
  }),
});

export const ConnectedAppRef = builder.prismaObject("Grant", {
  name: "ConnectedApp",
  description: "An app the user allowed to reach their data (a grant).",
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false, description: "The grant id." }),
    client: t.relation("client", { type: OAuthClientRef, nullable: false }),
    scopes: t.exposeStringList("scopes", { nullable: false }),
    permissions: t.field({
      type: [ScopeDescriptionRef],
      nullable: false,
      description: "The granted scopes in plain words, data scopes first.",
      select: { scopes: true },
      resolve: (grant) => describeScopes(grant.scopes),
    }),
    grantedAt: t.expose("createdAt", { type: "DateTime", nullable: false }),
    lastUsedAt: t.expose("lastUsedAt", {
      type: "DateTime",
      description: "When the app last got a token or read data (to the minute).",
    }),
    revokedAt: t.expose("revokedAt", { type: "DateTime" }),
  }),
});

builder.objectField(AccountRef, "connectedApps", (t) =>
  t.prismaField({
    type: [ConnectedAppRef],
    nullable: false,
    description: "Every app that can reach this account's data now (live grants), most recently connected first.",
    resolve: (query, account, _args, ctx) => ctx.prisma.grant.findMany({ ...query, ...liveGrantsQuery(account.userId) }),
  }),
);

builder.mutationField("revokeConnectedApp", (t) =>
  t.prismaField({
    type: ConnectedAppRef,
    description:
      "Disconnects an app: ends the grant, its refresh tokens and its access tokens at once (account session only). " +
      "Another user's grant, or one already revoked, answers NOT_FOUND.",
    authScopes: { account: true },
    args: { grantId: t.arg.id({ required: true }) },
    resolve: async (query, _root, { grantId }, ctx) => {
      if (ctx.viewer.kind !== "account") return null;
      const app = await revokeConnectedApp(ctx.prisma, ctx.viewer.userId, String(grantId));
      return ctx.prisma.grant.findUniqueOrThrow({ ...query, where: { id: app.id } });
    },
  }),
);

builder.mutationField("updateConnectedAppScopes", (t) =>
  t.prismaField({
    type: ConnectedAppRef,
    description:
      "Narrows what a connected app may do without disconnecting it (account session only). `scopes` lists the " +
      "data scopes it keeps (profile:read, data:read, data:write), each already granted; openid and offline_access " +
      "stay. Access tokens carrying a removed scope stop working at once; the app's next refresh gets the narrower set.",
    authScopes: { account: true },
    args: { grantId: t.arg.id({ required: true }), scopes: t.arg.stringList({ required: true }) },
    resolve: async (query, _root, { grantId, scopes }, ctx) => {
      if (ctx.viewer.kind !== "account") return null;
      if (scopes.length > 20) throw invalidInput("scopes", "Too many scopes.");
      const app = await narrowConnectedApp(ctx.prisma, ctx.viewer.userId, String(grantId), scopes);
      return ctx.prisma.grant.findUniqueOrThrow({ ...query, where: { id: app.id } });
    },
  }),
);
