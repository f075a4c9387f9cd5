import { z } from "zod";
import type { Db } from "../db/index.ts";
import type { OAuthClient, User } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { type DomainError, invalidInput } from "../lib/errors.ts";
import { insertClient } from "./clients.ts";
import { redirectUriProblem, type RedirectUriOwner } from "./redirect-uris.ts";
import { DATA_SCOPES } from "../consent/scopes.ts";
import { MAX_ACCESS_TOKEN_TTL_S, MIN_ACCESS_TOKEN_TTL_S } from "../lib/lifetimes.ts";

export { MAX_ACCESS_TOKEN_TTL_S as MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL_S as MIN_ACCESS_TOKEN_TTL } from "../lib/lifetimes.ts";
const MAX_REDIRECT_URIS = 10;

const scopeList = z
  .array(z.string())
  .min(1, "choose at least one scope")
  .superRefine((scopes, ctx) => {
    for (const s of scopes) {
      if (!(DATA_SCOPES as readonly string[]).includes(s)) {
        ctx.addIssue({ code: "custom", message: `unknown scope "${s}" (allowed: ${DATA_SCOPES.join(", ")})` });
      }
    }
  })
  .transform((s) => [...new Set(s)]);

export const clientFields = {
  name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
  redirectUris: z
    .array(z.string().trim())
    .min(1, "add at least one redirect URI")
    .max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`),
  scopes: scopeList,
  accessTokenTtl: z
    .number()
    .int("must be a whole number of seconds")
    .min(MIN_ACCESS_TOKEN_TTL_S, `must be at least ${MIN_ACCESS_TOKEN_TTL_S} seconds`)
    .max(MAX_ACCESS_TOKEN_TTL_S, `must be at most ${MAX_ACCESS_TOKEN_TTL_S} seconds (a day)`),
  refreshTokens: z.boolean(),
};

const createSchema = z.object({
  name: clientFields.name,
  environment: z.enum(["DEVELOPMENT", "PRODUCTION"]),
  type: z.enum(["CONFIDENTIAL", "PUBLIC"]),
  redirectUris: clientFields.redirectUris,
  scopes: clientFields.scopes,
  accessTokenTtl: clientFields.accessTokenTtl.nullish(),
  refreshTokens: clientFields.refreshTokens.nullish(),
  firstParty: z.boolean().nullish(),
});

export type CreateClientInput = z.input<typeof createSchema>;

export function firstIssue(error: z.ZodError): DomainError {
  const issue = error.issues[0]!;
  const field = issue.path.filter((p) => typeof p === "string").join(".") || "input";
  return invalidInput(field, `${field} ${issue.message}`);
}

/** The redirect URIs to store, without repeats; refuses the first one that may not be registered (rules: redirect-uris.ts). */
export function checkRedirectUris(uris: string[], owner: RedirectUriOwner): string[] {
  const unique = [...new Set(uris)];
  for (const uri of unique) {
    const problem = redirectUriProblem(uri, owner);
    if (problem) throw invalidInput("redirectUris", `redirect URI ${uri} ${problem}`);
  }
  return unique;
}

/**
 * Registers a client for its owner. The secret (confidential clients only) is
 * returned here and never again: only its hash is kept.
 */
export async function registerClient(
  prisma: Db,
  owner: Pick<User, "id" | "isAdmin">,
  raw: CreateClientInput,
): Promise<{ client: OAuthClient; clientSecret: string | null }> {
  const parsed = createSchema.safeParse(raw);
  if (!parsed.success) throw firstIssue(parsed.error);
  const input = parsed.data;
  if (input.firstParty && !owner.isAdmin) {
    throw invalidInput("firstParty", "firstParty can be set only by an administrator");
  }
  const redirectUris = checkRedirectUris(input.redirectUris, input);
  return prisma.$transaction(async (tx) => {
    const created = await insertClient(tx, {
      ownerId: owner.id,
      name: input.name,
      environment: input.environment,
      type: input.type,
      redirectUris,
      scopes: input.scopes,
      firstParty: input.firstParty ?? false,
      accessTokenTtl: input.accessTokenTtl ?? undefined,
      refreshTokens: input.refreshTokens ?? undefined,
    });
    await recordAudit(tx, {
      action: "client.created",
      userId: owner.id,
      clientId: created.client.id,
      detail: `${input.type.toLowerCase()} ${input.environment.toLowerCase()} client "${input.name}"`,
    });
    return created;
  });
}
