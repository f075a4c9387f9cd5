import { registerClient } from "../clients/registration.ts";
import { revokeClient, rotateClientSecret, updateClient } from "../clients/client-admin.ts";
import { DEFAULT_ACCESS_TOKEN_TTL_S, MAX_ACCESS_TOKEN_TTL_S, MAX_CLIENT_SECRET_GRACE_S, MIN_ACCESS_TOKEN_TTL_S } from "../lib/lifetimes.ts";
import { accountUser, builder } from "./builder.ts";

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
    clientId: t.exposeID("clientId", { nullable: false }),
    name: t.exposeString("name", { nullable: false }),
    environment: t.expose("environment", { type: ClientEnvironmentEnum, nullable: false }),
    type: t.expose("type", { type: ClientTypeEnum, nullable: false }),
    redirectUris: t.exposeStringList("redirectUris", { nullable: false }),
    scopes: t.exposeStringList("scopes", { nullable: false }),
    firstParty: t.exposeBoolean("firstParty", { nullable: false }),
    accessTokenTtl: t.exposeInt("accessTokenTtl", { nullable: false }),
    refreshTokens: t.exposeBoolean("refreshTokens", { nullable: false }),
    secretHint: t.string({
      description: "The last 4 characters of the current secret (confidential clients); null for anyone but the owner.",
      select: { secretHint: true, ownerId: true },
      // Users see the apps they connected through this type too: the hint is the owner's.
      resolve: (client, _args, ctx) => (ctx.viewer.kind === "account" && ctx.viewer.userId === client.ownerId ? client.secretHint : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: false }),
    revokedAt: t.expose("revokedAt", { type: "DateTime" }),
  }),
});

/** The schema's descriptions say the bounds of src/lib/lifetimes.ts. */
const TTL_BOUNDS = `${MIN_ACCESS_TOKEN_TTL_S} to ${MAX_ACCESS_TOKEN_TTL_S}`;

const CreateOAuthClientInput = builder.inputType("CreateOAuthClientInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    environment: t.field({ type: ClientEnvironmentEnum, required: true }),
    type: t.field({ type: ClientTypeEnum, required: true }),
    redirectUris: t.stringList({ required: true }),
    scopes: t.stringList({ required: true }),
    accessTokenTtl: t.int({ description: `Access-token lifetime in seconds (${TTL_BOUNDS}; default ${DEFAULT_ACCESS_TOKEN_TTL_S}).` }),
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
        resolve: (query, payload, _args, ctx) => ctx.prisma.oAuthClient.findUniqueOrThrow({ ...query, where: { id: payload.clientRowId } }),
      }),
      clientSecret: t.string({
        description: "The client secret, shown this once only (null for public clients).",
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
      const owner = accountUser(ctx);
      if (!owner) return null;
      const { client, clientSecret } = await registerClient(ctx.prisma, owner, input);
      return { clientRowId: client.id, clientSecret };
    },
  }),
);

const UpdateOAuthClientInput = builder.inputType("UpdateOAuthClientInput", {
  description: "What to change; a field left out (or null) stays as it is. Environment and type are fixed at creation.",
  fields: (t) => ({
    name: t.string({ description: "1 to 100 characters." }),
    redirectUris: t.stringList({ description: "Replaces the registered redirect URIs (same rules as at creation)." }),
    scopes: t.stringList({ description: "Replaces the allowed scopes; narrowing holds for new tokens at once." }),
    accessTokenTtl: t.int({ description: `Access-token lifetime in seconds (${TTL_BOUNDS}).` }),
    refreshTokens: t.boolean({ description: "Issue refresh tokens." }),
    firstParty: t.boolean({ description: "Skip the consent screen (administrators only)." }),
  }),
});

builder.mutationField("updateOAuthClient", (t) =>
  t.prismaField({
    type: OAuthClientRef,
    description: "Changes one of your clients, with the checks of createOAuthClient.",
    authScopes: { account: true },
    args: {
      clientId: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateOAuthClientInput, required: true }),
    },
    resolve: async (query, _root, { clientId, input }, ctx) => {
      const owner = accountUser(ctx);
      if (!owner) return null;
      const client = await updateClient(ctx.prisma, owner, String(clientId), input);
      return ctx.prisma.oAuthClient.findUniqueOrThrow({ ...query, where: { id: client.id } });
    },
  }),
);

const RotateOAuthClientSecretPayload = builder
  .objectRef<{ clientRowId: string; clientSecret: string }>("RotateOAuthClientSecretPayload")
  .implement({
    authScopes: { account: true },
    fields: (t) => ({
      client: t.prismaField({
        type: OAuthClientRef,
        nullable: false,
        resolve: (query, payload, _args, ctx) => ctx.prisma.oAuthClient.findUniqueOrThrow({ ...query, where: { id: payload.clientRowId } }),
      }),
      clientSecret: t.string({
        description: "The new client secret, shown this once only.",
        nullable: false,
        resolve: (payload) => payload.clientSecret,
      }),
    }),
  });

builder.mutationField("rotateOAuthClientSecret", (t) =>
  t.field({
    type: RotateOAuthClientSecretPayload,
    description:
      "Gives a confidential client a new secret (returned once). Without gracePeriodSeconds (or with 0) the old secret " +
      `stops at once; with it (at most ${MAX_CLIENT_SECRET_GRACE_S}, ${MAX_CLIENT_SECRET_GRACE_S / 86_400} days) the old secret works until the period ends.`,
    authScopes: { account: true },
    args: {
      clientId: t.arg.id({ required: true }),
      gracePeriodSeconds: t.arg.int(),
    },
    resolve: async (_root, { clientId, gracePeriodSeconds }, ctx) => {
      const owner = accountUser(ctx);
      if (!owner) return null;
      const { client, clientSecret } = await rotateClientSecret(ctx.prisma, owner, String(clientId), gracePeriodSeconds);
      return { clientRowId: client.id, clientSecret };
    },
  }),
);

builder.mutationField("revokeOAuthClient", (t) =>
  t.prismaField({
    type: OAuthClientRef,
    description:
      "Switches one of your clients off for good: every grant, refresh token and access token of it ends, and it can no " +
      "longer authenticate or start an authorization. It stays listed, with revokedAt. Revoking again changes nothing.",
    authScopes: { account: true },
    args: { clientId: t.arg.id({ required: true }) },
    resolve: async (query, _root, { clientId }, ctx) => {
      const owner = accountUser(ctx);
      if (!owner) return null;
      const client = await revokeClient(ctx.prisma, owner, String(clientId));
      return ctx.prisma.oAuthClient.findUniqueOrThrow({ ...query, where: { id: client.id } });
    },
  }),
);
