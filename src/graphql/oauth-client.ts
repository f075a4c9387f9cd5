import { registerClient, ClientInputError } from "../oauth/registration.ts";
import { builder } from "./builder.ts";
import { badUserInput } from "./errors.ts";

export const ClientEnvironmentEnum = builder.enumType("ClientEnvironment", {
  values: ["DEVELOPMENT", "PRODUCTION"] as const,
});
export const ClientTypeEnum = builder.enumType("ClientType", {
  values: ["CONFIDENTIAL", "PUBLIC"] as const,
});

/** A developer's OAuth client: visible only to its owner, through the account session. */
export const OAuthClientRef = builder.prismaObject("OAuthClient", {
  authScopes: { account: true },
  fields: (t) => ({
    clientId: t.exposeID("clientId", { nullable: false, authScopes: { account: true } }),
    name: t.exposeString("name", { nullable: false, authScopes: { account: true } }),
    environment: t.expose("environment", { type: ClientEnvironmentEnum, nullable: false, authScopes: { account: true } }),
    type: t.expose("type", { type: ClientTypeEnum, nullable: false, authScopes: { account: true } }),
    redirectUris: t.exposeStringList("redirectUris", { nullable: false, authScopes: { account: true } }),
    scopes: t.exposeStringList("scopes", { nullable: false, authScopes: { account: true } }),
    firstParty: t.exposeBoolean("firstParty", { nullable: false, authScopes: { account: true } }),
    accessTokenTtl: t.exposeInt("accessTokenTtl", { nullable: false, authScopes: { account: true } }),
    refreshTokens: t.exposeBoolean("refreshTokens", { nullable: false, authScopes: { account: true } }),
    secretHint: t.exposeString("secretHint", {
      description: "The last 4 characters of the current secret (confidential clients).",
      authScopes: { account: true },
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: false, authScopes: { account: true } }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", authScopes: { account: true } }),
  }),
});

const CreateOAuthClientInput = builder.inputType("CreateOAuthClientInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    environment: t.field({ type: ClientEnvironmentEnum, required: true }),
    type: t.field({ type: ClientTypeEnum, required: true }),
    redirectUris: t.stringList({ required: true }),
    scopes: t.stringList({ required: true }),
    accessTokenTtl: t.int({ description: "Access-token lifetime in seconds (60 to 86400; default 600)." }),
    refreshTokens: t.boolean({ description: "Issue refresh tokens (default true)." }),
    firstParty: t.boolean({ description: "Skip the consent screen (administrators only)." }),
  }),
});

const CreateOAuthClientPayload = builder
  .objectRef<{ clientRowId: string; clientSecret: string | null }>("CreateOAuthClientPayload")
  .implement({
    authScopes: { account: true },
    fields: (t) => ({
      client: t.prismaField({
        type: OAuthClientRef,
        nullable: false,
        authScopes: { account: true },
        resolve: (query, payload, _args, ctx) =>
          ctx.prisma.oAuthClient.findUniqueOrThrow({ ...query, where: { id: payload.clientRowId } }),
      }),
      clientSecret: t.string({
        description: "The client secret, shown this once only (null for public clients).",
        authScopes: { account: true },
        resolve: (payload) => payload.clientSecret,
      }),
    }),
  });

builder.mutationField("createOAuthClient", (t) =>
  t.field({
    type: CreateOAuthClientPayload,
    authScopes: { account: true },
    args: { input: t.arg({ type: CreateOAuthClientInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (ctx.viewer.kind !== "account") return null;
      try {
        const { client, clientSecret } = await registerClient(ctx.prisma, ctx.viewer.session.user, input);
        return { clientRowId: client.id, clientSecret };
      } catch (err) {
        if (err instanceof ClientInputError) throw badUserInput(err.field, err.message);
        throw err;
      }
    },
  }),
);
