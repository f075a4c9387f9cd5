import { z } from "zod";
import type { Db } from "../db/index.ts";
import type { OAuthClient, User } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { insertClient } from "./clients.ts";
import { DATA_SCOPES } from "./scopes.ts";

export const MIN_ACCESS_TOKEN_TTL = 60;
export const MAX_ACCESS_TOKEN_TTL = 86_400;
const MAX_REDIRECT_URIS = 10;

/** A rule broken by client input: names the field at fault. */
export class ClientInputError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** RFC 8252 §7.1: a private-use scheme is a reverse domain name, e.g. com.example.app */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

export function checkRedirectUri(
  raw: string,
  ctx: { environment: "DEVELOPMENT" | "PRODUCTION"; type: "CONFIDENTIAL" | "PUBLIC" },
): string | null {
  if (raw.length > 2000) return "is too long (2000 characters at most)";
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (raw.includes("#")) return "must not contain a fragment (#)";
  if (u.username || u.password) return "must not contain credentials";
  if (u.protocol === "https:") return u.hostname ? null : "must name a host";
  if (u.protocol === "http:") {
    if (ctx.environment === "PRODUCTION") return "must use https in production";
    return LOOPBACK_HOSTS.has(u.hostname) ? null : "may use plain http only for localhost or 127.0.0.1 (use https)";
  }
  if (PRIVATE_USE_SCHEME.test(u.protocol)) {
    return ctx.type === "PUBLIC" ? null : "may use a private-use scheme only for public (native) clients";
  }
  return "must use https (or http for localhost in development)";
}

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
  redirectUris: z.array(z.string().trim()).min(1, "add at least one redirect URI").max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`),
  scopes: scopeList,
  accessTokenTtl: z
    .number()
    .int("must be a whole number of seconds")
    .min(MIN_ACCESS_TOKEN_TTL, `must be at least ${MIN_ACCESS_TOKEN_TTL} seconds`)
    .max(MAX_ACCESS_TOKEN_TTL, `must be at most ${MAX_ACCESS_TOKEN_TTL} seconds (a day)`),
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

export function firstIssue(error: z.ZodError): ClientInputError {
  const issue = error.issues[0]!;
  const field = issue.path.filter((p) => typeof p === "string").join(".") || "input";
  return new ClientInputError(field, `${field} ${issue.message}`);
}

export function checkRedirectUris(uris: string[], ctx: Parameters<typeof checkRedirectUri>[1]): string[] {
  const unique = [...new Set(uris)];
  for (const uri of unique) {
    const problem = checkRedirectUri(uri, ctx);
    if (problem) throw new ClientInputError("redirectUris", `redirect URI ${uri} ${problem}`);
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
    throw new ClientInputError("firstParty", "firstParty can be set only by an administrator");
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
