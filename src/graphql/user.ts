import { builder } from "./builder.ts";

export const UserRef = builder.prismaObject("User", {
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false, authScopes: { authenticated: true } }),
    name: t.exposeString("name", { authScopes: { profileRead: true } }),
    email: t.exposeString("email", { authScopes: { profileRead: true } }),
    birthDate: t.string({
      authScopes: { profileRead: true },
      description: "YYYY-MM-DD",
      select: { birthDate: true },
      resolve: (user) => user.birthDate?.toISOString().slice(0, 10) ?? null,
    }),
  }),
});

builder.queryField("me", (t) =>
  t.prismaField({
    type: "User",
    description: "The user the credential acts for. Profile fields need profile:read.",
    authScopes: { authenticated: true },
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer.kind === "anonymous"
        ? null
        : ctx.prisma.user.findUnique({ ...query, where: { id: ctx.viewer.userId } }),
  }),
);
