import { builder } from "./builder.ts";
import { UserRef } from "./user.ts";
import { OAuthClientRef } from "./oauth-client.ts";

/** The signed-in account: only ever reachable with a first-party account session. */
interface AccountShape {
  userId: string;
}

export const AccountRef = builder.objectRef<AccountShape>("Account").implement({
  description: "The signed-in account (first-party account session only).",
  authScopes: { account: true },
  fields: (t) => ({
    user: t.prismaField({
      type: UserRef,
      nullable: false,
      resolve: (query, account, _args, ctx) => ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: account.userId } }),
    }),
    oauthClients: t.prismaField({
      type: [OAuthClientRef],
      nullable: false,
      description: "The OAuth clients this account registered, newest first (revoked ones included).",
      resolve: (query, account, _args, ctx) =>
        ctx.prisma.oAuthClient.findMany({ ...query, where: { ownerId: account.userId }, orderBy: { createdAt: "desc" } }),
    }),
    oauthClient: t.prismaField({
      type: OAuthClientRef,
      description:
        "One of the clients this account registered, by its client ID (null for any other): what to read its webhook deliveries through, " +
        "which costs too much across every client at once.",
      args: { clientId: t.arg.id({ required: true }) },
      resolve: (query, account, { clientId }, ctx) =>
        ctx.prisma.oAuthClient.findFirst({ ...query, where: { clientId: String(clientId), ownerId: account.userId } }),
    }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: AccountRef,
    description: "The signed-in account; null for OAuth tokens.",
    authScopes: { account: true },
    resolve: (_root, _args, ctx) => (ctx.viewer.kind === "account" ? { userId: ctx.viewer.userId } : null),
  }),
);
