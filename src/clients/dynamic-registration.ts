import { z } from "zod";
import type { Db, DbTx } from "../db/index.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";
import type { Logger } from "../lib/log.ts";
import { recordAudit } from "../audit/audit.ts";
import { recordChange, transaction } from "../db/changes.ts";
import { bucket, type RateLimiter, type Reservation } from "../db/rate-limit.ts";
import { randomToken, safeEqual, sha256 } from "../lib/crypto.ts";
import { invalidInput } from "../lib/errors.ts";
import { DEFAULT_ACCESS_TOKEN_TTL_S, revocationRuleExpiry, UNUSED_SELF_REGISTERED_CLIENT_MS } from "../lib/lifetimes.ts";
import { jsonProblem } from "../lib/text.ts";
import { DATA_SCOPES, PROTOCOL_SCOPES } from "../consent/scopes.ts";
import { endClient, recordClientUpdate } from "./client-admin.ts";
import { newClientId } from "./clients.ts";
import { redirectUriProblem, type RedirectUriOwner } from "./redirect-uris.ts";

/**
 * Clients that register themselves (RFC 7591) and manage their registration
 * with its registration access token (RFC 7592): AI assistants and other apps
 * whose developer never visits /developers. The HTTP side is
 * src/oauth/register.ts.
 *
 * Anyone may register, so such a client gets little: it is public (no
 * secret; PKCE protects its codes), in production, owned by no one (so never
 * client_credentials, which acts as the owner), limited to the data scopes
 * plus openid and offline_access, and every user is asked on a consent page
 * that calls it unverified and names the host its metadata came from.
 * Registrations are counted per address, and a client that goes 30 days
 * without a grant is deleted (SelfRegisteredClientSweeper).
 */

/** OAuthClient.registration of a client that registered itself. */
export const DYNAMIC_REGISTRATION = "dynamic";
/** OAuthClient.registration of a client whose client_id is its metadata document's URL (src/clients/metadata-documents.ts). */
export const METADATA_DOCUMENT_REGISTRATION = "metadata_document";

const SELF_REGISTERED: RedirectUriOwner = { environment: "PRODUCTION", type: "PUBLIC" };
const MAX_REDIRECT_URIS = 10;
const MAX_NAME_LENGTH = 100;
const MAX_URI_LENGTH = 2000;
const GRANT_TYPES = ["authorization_code", "refresh_token"] as const;

export interface ClientRegistrationConfig {
  /** CLIENT_REGISTRATION=open|off: off, the endpoint answers 404 and discovery does not list it */
  open: boolean;
  /** at most this many registrations from one address in any windowSeconds */
  perAddress: number;
  windowSeconds: number;
}

export const DEFAULT_CLIENT_REGISTRATION: ClientRegistrationConfig = { open: true, perAddress: 20, windowSeconds: 60 * 60 };

/** Which RFC 7591 §3.2.2 error a refusal is: `field` of the DomainError thrown is "redirect_uris" for invalid_redirect_uri. */
export const REDIRECT_URIS_FIELD = "redirect_uris";

const optionalString = (max: number) => z.string().max(max, `must be at most ${max} characters`).nullish();
const stringList = z.array(z.string().max(100, "entries must be at most 100 characters")).max(10, "may list at most 10 values");

// Only the fields we use; anything else a client sends is ignored (RFC 7591 §2). null counts as left out.
const metadataSchema = z.object({
  redirect_uris: z
    .array(z.string())
    .min(1, "must list at least one redirect URI")
    .max(MAX_REDIRECT_URIS, `may list at most ${MAX_REDIRECT_URIS} redirect URIs`),
  client_name: optionalString(MAX_NAME_LENGTH),
  client_uri: optionalString(MAX_URI_LENGTH),
  grant_types: stringList.nullish(),
  response_types: stringList.nullish(),
  token_endpoint_auth_method: optionalString(100),
  scope: optionalString(1000),
});

/** The metadata as it is stored: checked, with defaults filled in. */
export interface ClientMetadata {
  redirectUris: string[];
  name: string;
  clientUri: string | null;
  /** the data scopes (openid and offline_access need no registration) */
  scopes: string[];
  grantTypes: string[];
  /** where the metadata came from: client_uri's host, else the first redirect URI's */
  registeredFrom: string;
}

/** The host a URI names; for a private-use scheme (com.example.app:/cb), the scheme, which names the app. */
function hostOf(uri: string): string {
  const u = new URL(uri);
  return u.host || u.protocol.replace(/:$/, "");
}

/**
 * Checks RFC 7591 metadata for a self-registered client. Throws a DomainError
 * (invalid_input) whose field is "redirect_uris" when a redirect URI may not be
 * registered (RFC 7591 invalid_redirect_uri), another field for anything else
 * (invalid_client_metadata). `from`: the host the metadata was fetched from,
 * when it was (a Client ID Metadata Document): it is then registeredFrom and
 * the default name, whatever client_uri says.
 */
export function checkClientMetadata(raw: unknown, options: { from?: string } = {}): ClientMetadata {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw invalidInput("metadata", "The client metadata must be a JSON object.");
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0] ?? "metadata");
    const missing = (raw as Record<string, unknown>)[field] == null;
    const message = issue.code === "invalid_type" ? (missing ? "is required" : "has the wrong type") : issue.message;
    // The structure of redirect_uris (missing, not a list) is a metadata problem; a URI's value is invalid_redirect_uri.
    throw invalidInput(field === REDIRECT_URIS_FIELD ? "metadata" : field, `${field} ${message}.`);
  }
  const m = parsed.data;
  const text = jsonProblem({ redirect_uris: m.redirect_uris, client_name: m.client_name, client_uri: m.client_uri, scope: m.scope }, 3);
  if (text) throw invalidInput(text.path.replace(/\[.*$/, ""), `${text.path} ${text.problem}.`);

  const redirectUris = [...new Set(m.redirect_uris)];
  for (const uri of redirectUris) {
    const problem = redirectUriProblem(uri, SELF_REGISTERED);
    if (problem) throw invalidInput(REDIRECT_URIS_FIELD, `redirect URI ${uri} ${problem}.`);
  }

  let clientUri: string | null = null;
  if (m.client_uri) {
    const u = URL.canParse(m.client_uri) ? new URL(m.client_uri) : null;
    if (u?.protocol !== "https:" || !u.hostname || u.username || u.password) {
      throw invalidInput("client_uri", "client_uri must be an https URL with a host.");
    }
    clientUri = m.client_uri;
  }

  const authMethod = m.token_endpoint_auth_method ?? "none";
  if (authMethod !== "none") {
    throw invalidInput(
      "token_endpoint_auth_method",
      `token_endpoint_auth_method must be "none": self-registered clients are public and use PKCE (got "${authMethod.slice(0, 50)}").`,
    );
  }

  // RFC 7591 §2: grant_types defaults to authorization_code, response_types to code.
  const grantTypes = [...new Set(m.grant_types ?? ["authorization_code"])];
  const otherGrant = grantTypes.find((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (otherGrant !== undefined) {
    throw invalidInput(
      "grant_types",
      `grant_types may be authorization_code and refresh_token only (self-registered clients are public; got "${otherGrant.slice(0, 50)}").`,
    );
  }
  if (!grantTypes.includes("authorization_code")) throw invalidInput("grant_types", "grant_types must include authorization_code.");
  const responseTypes = m.response_types ?? ["code"];
  if (responseTypes.length === 0 || responseTypes.some((r) => r !== "code")) {
    throw invalidInput("response_types", 'response_types may be "code" only.');
  }

  const requested = m.scope == null ? [...DATA_SCOPES] : [...new Set(m.scope.split(" ").filter(Boolean))];
  const allowed = [...DATA_SCOPES, ...PROTOCOL_SCOPES] as readonly string[];
  const unknown = requested.filter((s) => !allowed.includes(s));
  if (unknown.length) {
    throw invalidInput("scope", `scope may hold only ${allowed.join(" ")} (not allowed: ${unknown.join(" ").slice(0, 200)}).`);
  }
  const scopes = requested.filter((s) => (DATA_SCOPES as readonly string[]).includes(s));
  if (!scopes.length) throw invalidInput("scope", `scope must include at least one of ${DATA_SCOPES.join(" ")}.`);

  const registeredFrom = options.from ?? hostOf(clientUri ?? redirectUris[0]!);
  const name = m.client_name?.trim() || registeredFrom;
  return { redirectUris, name: name.slice(0, MAX_NAME_LENGTH), clientUri, scopes, grantTypes, registeredFrom };
}

/** The OAuthClient columns that checked metadata sets (at registration, an RFC 7592 update, a metadata document's fetch). */
export function columnsOf(m: ClientMetadata) {
  return {
    name: m.name,
    redirectUris: m.redirectUris,
    scopes: m.scopes,
    grantTypes: m.grantTypes,
    refreshTokens: m.grantTypes.includes("refresh_token"),
    clientUri: m.clientUri,
    registeredFrom: m.registeredFrom,
  };
}

/** Reserves one registration for this address (addressLimitKey from src/lib/client-address.ts), or says when to retry. */
export function reserveRegistration(limiter: RateLimiter, config: ClientRegistrationConfig, address: string): Promise<Reservation> {
  return limiter.reserve([
    { bucket: bucket("client-registration:address", address), max: config.perAddress, windowSeconds: config.windowSeconds },
  ]);
}

/**
 * Registers a self-registered client from checked metadata. The registration
 * access token is returned here and never again: only its hash is kept.
 */
export async function registerDynamicClient(
  prisma: Db,
  metadata: ClientMetadata,
): Promise<{ client: OAuthClient; registrationAccessToken: string }> {
  const registrationAccessToken = `sgr_${randomToken()}`;
  const client = await transaction(prisma, async (tx) => {
    const created = await tx.oAuthClient.create({
      data: {
        clientId: newClientId(),
        ownerId: null,
        environment: "PRODUCTION",
        type: "PUBLIC",
        firstParty: false,
        accessTokenTtl: DEFAULT_ACCESS_TOKEN_TTL_S,
        registration: DYNAMIC_REGISTRATION,
        registrationTokenHash: sha256(registrationAccessToken),
        ...columnsOf(metadata),
      },
    });
    await recordAudit(tx, {
      action: "client.created",
      clientId: created.id,
      detail: `self-registered (RFC 7591) public client "${created.name}" from ${created.registeredFrom}`,
    });
    return created;
  });
  return { client, registrationAccessToken };
}

// Compared against when no client matches, so that an unknown client_id takes as long as a wrong token.
const NO_TOKEN_HASH = sha256("no registration access token");

/**
 * The self-registered, live client with this client_id whose registration
 * access token this is (constant-time comparison); null for anything else
 * alike: an unknown client, a developer's client, a deleted one, a wrong token.
 */
export async function findRegistration(db: DbTx, clientId: string, token: string | null): Promise<OAuthClient | null> {
  const client = clientId.length <= 200 ? await db.oAuthClient.findUnique({ where: { clientId } }) : null;
  const usable = !!client && client.registration === DYNAMIC_REGISTRATION && !client.revokedAt && !!client.registrationTokenHash;
  const matches = safeEqual(sha256(token ?? ""), usable ? client.registrationTokenHash! : NO_TOKEN_HASH);
  return usable && token && matches ? client : null;
}

/**
 * RFC 7592 update: the registration becomes `metadata` (fields left out take
 * their defaults). Scopes taken away end in codes, grants and live tokens at
 * once, as when a developer narrows a client. Null when the token no longer
 * matches (deleted meanwhile).
 */
export async function updateDynamicClient(
  prisma: Db,
  clientId: string,
  token: string,
  metadata: ClientMetadata,
): Promise<OAuthClient | null> {
  return transaction(prisma, async (tx) => {
    const client = await findRegistration(tx, clientId, token);
    if (!client) return null;
    const data = columnsOf(metadata);
    // Guarded by the token and revokedAt: a delete that commits first wins.
    const { count } = await tx.oAuthClient.updateMany({
      where: { id: client.id, revokedAt: null, registrationTokenHash: client.registrationTokenHash },
      data,
    });
    if (count === 0) return null;
    await recordClientUpdate(tx, client, {
      removedScopes: client.scopes.filter((s) => !data.scopes.includes(s)),
      detail: `self-registered client updated (RFC 7592): name "${data.name}", redirect URIs ${data.redirectUris.join(" ")}, scopes ${data.scopes.join(" ")}`,
    });
    return tx.oAuthClient.findUniqueOrThrow({ where: { id: client.id } });
  });
}

/**
 * RFC 7592 delete: the client ends as a revoked one does (every grant, code
 * and token of it), and its registration access token stops working. The row
 * goes with the next sweep. False when the token does not match.
 */
export async function deleteDynamicClient(prisma: Db, clientId: string, token: string): Promise<boolean> {
  return transaction(
    prisma,
    async (tx) => {
      const client = await findRegistration(tx, clientId, token);
      if (!client) return false;
      const { count } = await tx.oAuthClient.updateMany({
        where: { id: client.id, registrationTokenHash: client.registrationTokenHash },
        data: { registrationTokenHash: null },
      });
      if (count === 0) return false;
      await endClient(tx, client, { userId: null, reason: "the app deleted its own registration" });
      return true;
    },
    { timeout: 60_000 },
  );
}

const SWEEP_BATCH = 500;

/**
 * Deletes up to a batch of self-registered clients (RFC 7591 registrations and
 * metadata-document clients alike) that have gone
 * UNUSED_SELF_REGISTERED_CLIENT_MS without a grant at `now`: registered before
 * then, with no live grant and none ended since. Returns how many. (A
 * metadata-document client deleted this way comes back, as a new row, the next
 * time its URL is used at the authorization endpoint.)
 *
 * Safe with several instances at once: rows are taken FOR UPDATE SKIP LOCKED
 * (two sweeps never wait on each other), and a consent being given right now
 * holds the client row FOR SHARE while it creates its grant
 * (src/oauth/authorize/issue-code.ts), so the sweep skips that client; a
 * consent that comes after the sweep finds the client gone and says so.
 */
export async function deleteUnusedDynamicClients(prisma: Db, now: Date = new Date()): Promise<number> {
  const cutoffMs = now.getTime() - UNUSED_SELF_REGISTERED_CLIENT_MS;
  return transaction(prisma, async (tx) => {
    // Timestamps are UTC in timestamp(3) columns: the cutoff is built as one in SQL.
    const deleted = await tx.$queryRaw<{ id: string; clientId: string; revoked: boolean }[]>`
      WITH cutoff AS (SELECT to_timestamp(${cutoffMs}::bigint / 1000.0) AT TIME ZONE 'UTC' AS at)
      DELETE FROM "OAuthClient" WHERE "id" IN (
        SELECT c."id" FROM "OAuthClient" c, cutoff
        WHERE c."registration" IN (${DYNAMIC_REGISTRATION}, ${METADATA_DOCUMENT_REGISTRATION}) AND c."createdAt" < cutoff.at
          AND NOT EXISTS (
            SELECT 1 FROM "Grant" g WHERE g."clientId" = c."id" AND (g."revokedAt" IS NULL OR g."revokedAt" >= cutoff.at))
        ORDER BY c."createdAt" LIMIT ${SWEEP_BATCH}
        FOR UPDATE OF c SKIP LOCKED)
      RETURNING "id", "clientId", "revokedAt" IS NOT NULL AS "revoked"`;
    // Instances holding one in memory drop it (a revoked one was announced when it was revoked).
    for (const c of deleted) {
      if (!c.revoked) {
        await recordChange(tx, { kind: "client.revoked", subject: c.id, clientId: c.clientId, expiresAt: revocationRuleExpiry() });
      }
    }
    return deleted.length;
  });
}

/**
 * Runs deleteUnusedDynamicClients about once an hour on every instance (the
 * first run at a random point of the first hour, so that instances started
 * together do not sweep together), a batch at a time until nothing is left.
 */
export class SelfRegisteredClientSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly prisma: Db,
    private readonly logger: Pick<Logger, "info" | "warn">,
    private readonly intervalMs = 60 * 60 * 1000,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const schedule = (delay: number) => {
      this.timer = setTimeout(() => {
        this.running = this.sweep().then(() => {
          this.running = undefined;
          if (!this.stopped) schedule(this.intervalMs);
        });
      }, delay);
      this.timer.unref();
    };
    schedule(Math.floor(Math.random() * this.intervalMs));
  }

  /** Deletes every client due now, a batch at a time; returns how many. */
  async sweep(now?: Date): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const n = await deleteUnusedDynamicClients(this.prisma, now);
        total += n;
        if (n < SWEEP_BATCH || this.stopped) break;
      }
      if (total) this.logger.info({ deleted: total }, "deleted self-registered clients unused for 30 days");
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "sweeping unused self-registered clients failed; trying again later");
    }
    return total;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
