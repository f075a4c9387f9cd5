import { LocalDateResolver } from "graphql-scalars";
import { z } from "zod";
import { transaction } from "../db/changes.ts";
import { recordWebhookEvent } from "../webhooks/events.ts";
import { builder } from "./builder.ts";
import { invalidInput } from "../lib/errors.ts";

export const UserRef = builder.prismaObject("User", {
  authScopes: { authenticated: true },
  // Load only the columns a query asks for (never passwordHash).
  select: { id: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
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

function onlyId(query: { select?: Record<string, unknown>; include?: unknown }): boolean {
  return !query.include && !!query.select && Object.keys(query.select).every((k) => k === "id");
}

builder.queryField("me", (t) =>
  t.prismaField({
    type: "User",
    description: "The user the credential acts for. Profile fields need profile:read.",
    authScopes: { authenticated: true },
    resolve: (query, _root, _args, ctx) => {
      if (ctx.viewer.kind === "anonymous") return null;
      // The viewer's id is all `{ me { measurements ... } }` needs: no statement for it. (The
      // user exists: a deleted account's tokens and sessions are refused before we get here.)
      if (onlyId(query)) return { id: ctx.viewer.userId } as never;
      return ctx.prisma.user.findUnique({ ...query, where: { id: ctx.viewer.userId } });
    },
  }),
);

const UpdateProfileInput = builder.inputType("UpdateProfileInput", {
  fields: (t) => ({
    name: t.string({ description: "1 to 100 characters." }),
    birthDate: t.string({ description: "YYYY-MM-DD, or null to clear it." }),
  }),
});

/** A calendar date as graphql-scalars' LocalDate reads it: 2000-02-29 exists, 2001-02-29 does not. */
function isCalendarDate(value: string): boolean {
  try {
    LocalDateResolver.parseValue(value);
    return true;
  } catch {
    return false;
  }
}

const birthDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "birthDate must be YYYY-MM-DD.")
  // Before the Date below, which would roll 2001-02-29 over to 1 March.
  .refine(isCalendarDate, "birthDate must be a date that exists (there is no 29 February 2001).")
  .transform((s) => new Date(`${s}T00:00:00Z`))
  .refine((d) => d.getTime() <= Date.now() && d.getUTCFullYear() >= 1900, "birthDate must be a real date between 1900 and today.");

builder.mutationField("updateProfile", (t) =>
  t.prismaField({
    type: "User",
    description: "Changes the signed-in account's profile (account session only).",
    authScopes: { account: true },
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      if (ctx.viewer.kind !== "account") return null;
      const data: { name?: string; birthDate?: Date | null } = {};
      if (input.name !== undefined) {
        const name = (input.name ?? "").trim();
        if (!name || name.length > 100) throw invalidInput("input.name", "name must be 1 to 100 characters.");
        data.name = name;
      }
      if (input.birthDate !== undefined) {
        if (input.birthDate === null) data.birthDate = null;
        else {
          const parsed = birthDate.safeParse(input.birthDate);
          if (!parsed.success) throw invalidInput("input.birthDate", parsed.error.issues[0]!.message);
          data.birthDate = parsed.data;
        }
      }
      const userId = ctx.viewer.userId;
      if (Object.keys(data).length === 0) return ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: userId } });
      return transaction(ctx.prisma, async (tx) => {
        const user = await tx.user.update({ where: { id: userId }, data });
        await recordWebhookEvent(tx, { type: "profile.updated", userId, profile: user });
        return tx.user.findUniqueOrThrow({ ...query, where: { id: userId } });
      });
    },
  }),
);
