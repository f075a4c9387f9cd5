import type { IncomingHttpHeaders } from "node:http";
import type { Db } from "../db/index.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { transaction } from "../db/changes.ts";
import { DomainError, invalidInput } from "../lib/errors.ts";
import { guardedFetch, type Lookup, OutboundRefusedError } from "../lib/guarded-fetch.ts";
import { DEFAULT_ACCESS_TOKEN_TTL_S } from "../lib/lifetimes.ts";
import { recordClientUpdate } from "./client-admin.ts";
import { type ClientMetadata, checkClientMetadata, columnsOf, METADATA_DOCUMENT_REGISTRATION } from "./dynamic-registration.ts";

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
 * the MCP 2025-11-25 authorization spec's first way to register): an app's
 * client_id is an https URL, and the JSON document at that URL is its
 * registration. The authorization endpoint resolves such a client_id here:
 * the document is fetched through the guarded fetch (public addresses only,
 * the checked address connected to, no redirects, 5 KiB, 5 s), checked with
 * the same rules as an RFC 7591 registration (checkClientMetadata), and kept
 * as an OAuthClient row whose clientId is the URL: public, production, owned
 * by no one, registration "metadata_document", registeredFrom the URL's host.
 * The token endpoint finds that row like any client's and never fetches.
 *
 * The row is the cache: it is used until its document's HTTP caching says
 * (Cache-Control max-age, bounded to MIN_CACHE_MS .. MAX_CACHE_MS,
 * DEFAULT_CACHE_MS without one), then the next authorization request fetches
 * the document again. A refetch that fails, or a document that has become
 * invalid, refuses that request rather than fall back on the stale copy: the
 * draft asks to abort on a failed fetch and never to cache an error, and an
 * app that withdrew or broke its document must not keep starting new
 * authorizations on what it said before. Connected users are unaffected
 * (refresh tokens never need the document), and the app's next request after
 * the document is fixed works again.
 */

export interface ClientMetadataDocumentsConfig {
  /** CLIENT_ID_METADATA_DOCUMENTS=on|off: off, a URL client_id is just an unknown client_id, and discovery does not offer it */
  enabled: boolean;
  /**
   * CIMD_ALLOW_LOOPBACK: documents may also be served from 127.0.0.0/8, ::1 or
   * localhost (tests, local development; still https). Never in production.
   */
  allowLoopback: boolean;
}

export const DEFAULT_CLIENT_METADATA_DOCUMENTS: ClientMetadataDocumentsConfig = { enabled: true, allowLoopback: false };

export interface MetadataDocumentOptions extends ClientMetadataDocumentsConfig {
  /** the whole fetch, from the lookup to the last byte */
  timeoutMs?: number;
  maxBytes?: number;
  /** tests: extra trusted certificate authorities (a process started with NODE_EXTRA_CA_CERTS needs none) */
  ca?: string | Buffer;
  /** tests: replaces dns.lookup */
  lookup?: Lookup;
}

/** The draft's recommended size limit for a document (§ "Maximum Response Size"). */
export const MAX_DOCUMENT_BYTES = 5 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
/** Client ids are at most this long everywhere (the authorization and token endpoints refuse longer ones unread). */
const MAX_URL_LENGTH = 200;

export const MIN_CACHE_MS = 5 * 60_000;
export const MAX_CACHE_MS = 24 * 3_600_000;
export const DEFAULT_CACHE_MS = 3_600_000;

/**
 * The field a refusal names. Every reason a metadata document client_id cannot
 * be used (not a URL a document may have, a failed fetch, an answer other than
 * 200, a document that is not usable) is a DomainError invalid_input on it,
 * whose message is for the person at the authorization endpoint's error page.
 */
export const CLIENT_ID_FIELD = "client_id";

const refused = (message: string) => invalidInput(CLIENT_ID_FIELD, message);

/**
 * Whether a client_id is meant as a metadata document URL (http or https:
 * plain http is then refused with a reason rather than called unknown). The
 * client_ids scopegate issues (sgc_...) never look like one.
 */
export function looksLikeDocumentUrl(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

/**
 * Why `clientId` cannot be a document URL, completing "The app's client_id
 * ...", or null. The draft's rules: https, a path (not just "/", which the MCP
 * SDK refuses too), no dot segments, no fragment, no user name or password.
 * It must also be written as the WHATWG URL parser writes it (lower-case host,
 * no default port, dot segments resolved, characters escaped), so that one
 * document has one client_id.
 */
export function documentUrlProblem(clientId: string): string | null {
  if (clientId.length > MAX_URL_LENGTH) return `is longer than ${MAX_URL_LENGTH} characters`;
  if (!URL.canParse(clientId)) return "is not a valid URL";
  const url = new URL(clientId);
  if (url.protocol !== "https:") return "must use https";
  if (url.username || url.password) return "must not contain a user name or password";
  if (clientId.includes("#")) return "must not contain a fragment (#)";
  if (url.pathname === "/") return "must have a path after the host (such as https://app.example/client.json)";
  if (url.href !== clientId) return `must be written in its normal form (${url.href})`;
  return null;
}

/** How long a fetched document may be used, from its Cache-Control (and Age), within MIN_CACHE_MS .. MAX_CACHE_MS. */
export function cacheLifetimeMs(headers: IncomingHttpHeaders): number {
  const cacheControl = String(headers["cache-control"] ?? "").toLowerCase();
  // no-store and no-cache ask for a fetch every time: the lower bound keeps an authorization request from costing one each.
  if (/(?:^|[\s,])no-(?:store|cache)\b/.test(cacheControl)) return MIN_CACHE_MS;
  const m = /(?:^|[\s,])max-age\s*=\s*"?(\d{1,12})"?/.exec(cacheControl);
  if (!m) return DEFAULT_CACHE_MS;
  const age = Number(headers.age);
  const seconds = Number(m[1]) - (Number.isFinite(age) && age > 0 ? age : 0);
  return Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, seconds * 1000));
}

/**
 * Checks a fetched document for `url`: a JSON object whose client_id is the
 * URL exactly, without client_secret or client_secret_expires_at (nothing can
 * be shared with a published document), and RFC 7591 metadata that a
 * self-registered client may have (checkClientMetadata: public, PKCE, the data
 * scopes, exact redirect URIs). registeredFrom is the URL's host.
 */
export function checkDocument(url: string, body: string): ClientMetadata {
  const where = `The app's client metadata document at ${url}`;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw refused(`${where} is not JSON.`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw refused(`${where} is not a JSON object.`);
  }
  const doc = raw as Record<string, unknown>;
  if (doc.client_id !== url) {
    throw refused(
      `${where} ${doc.client_id === undefined ? "has no client_id" : "names another client_id"}: it must be exactly the document's URL.`,
    );
  }
  if (doc.client_secret !== undefined || doc.client_secret_expires_at !== undefined) {
    throw refused(`${where} holds a client_secret: an app that publishes its metadata is a public client and has no secret.`);
  }
  try {
    return checkClientMetadata(doc, { from: new URL(url).host });
  } catch (err) {
    if (err instanceof DomainError) throw refused(`${where} cannot be used: ${err.message}`);
    throw err;
  }
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Resolves metadata document client_ids for the authorization endpoint (one
 * per process: concurrent requests for one URL share one fetch).
 */
export class MetadataDocumentClients {
  private readonly inflight = new Map<string, Promise<OAuthClient>>();

  constructor(
    private readonly prisma: Db,
    private readonly options: MetadataDocumentOptions,
  ) {}

  /**
   * The client whose client_id is this document URL, fetched and stored (or
   * refreshed) when the stored copy is missing or stale; null when metadata
   * documents are switched off (the URL is then just an unknown client_id).
   * A revoked row is returned as it is, unfetched. Throws a DomainError
   * (invalid_input on CLIENT_ID_FIELD) when the document cannot be used.
   * `beforeFetch` runs once before the document is fetched, never for a fresh
   * stored copy: the caller's per-address limit (the authorization endpoint
   * counts fetches in the RFC 7591 registration buckets and answers 429),
   * which refuses by throwing; nothing is fetched then.
   */
  async find(clientId: string, beforeFetch: () => Promise<void>): Promise<OAuthClient | null> {
    if (!this.options.enabled) return null;
    const problem = documentUrlProblem(clientId);
    if (problem) throw refused(`The app's client_id ${problem}.`);
    const row = await this.prisma.oAuthClient.findUnique({ where: { clientId } });
    // A row of another kind with this client_id would have been put there on purpose (pre-registered): used as it is.
    if (row && (row.registration !== METADATA_DOCUMENT_REGISTRATION || row.revokedAt)) return row;
    if (row?.metadataExpiresAt && row.metadataExpiresAt > new Date()) return row;
    let pending = this.inflight.get(clientId);
    if (!pending) {
      pending = this.fetchAndStore(clientId, beforeFetch).finally(() => this.inflight.delete(clientId));
      this.inflight.set(clientId, pending);
    }
    return pending;
  }

  private async fetchAndStore(url: string, beforeFetch: () => Promise<void>): Promise<OAuthClient> {
    await beforeFetch();
    const fetchedAt = new Date();
    let res: Awaited<ReturnType<typeof guardedFetch>>;
    try {
      res = await guardedFetch(
        url,
        { headers: { accept: "application/json" } },
        {
          allowLoopback: this.options.allowLoopback,
          timeoutMs: this.options.timeoutMs ?? FETCH_TIMEOUT_MS,
          maxResponseBytes: this.options.maxBytes ?? MAX_DOCUMENT_BYTES,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
          ...(this.options.lookup ? { lookup: this.options.lookup } : {}),
        },
      );
    } catch (err) {
      if (!(err instanceof OutboundRefusedError)) throw err;
      throw refused(`scopegate could not fetch the app's client metadata document at ${url}. ${err.message}`);
    }
    if (res.status !== 200) {
      const redirect = res.status >= 300 && res.status < 400;
      throw refused(
        `The app's client metadata document at ${url} answered HTTP ${res.status}${redirect ? " (a redirect, which scopegate does not follow)" : ""}, not 200.`,
      );
    }
    const metadata = checkDocument(url, res.text());
    const expiresAt = new Date(fetchedAt.getTime() + cacheLifetimeMs(res.headers));
    // The sweeper may delete the row between the insert that found it and the lock: then insert again.
    for (let attempt = 1; ; attempt++) {
      const stored = await this.store(url, metadata, fetchedAt, expiresAt);
      if (stored) return stored;
      if (attempt === 3) throw new Error(`the client row for ${url} kept disappearing`);
    }
  }

  /** Inserts the client, or brings the existing row up to date; null when the row vanished meanwhile. */
  private store(url: string, m: ClientMetadata, fetchedAt: Date, expiresAt: Date): Promise<OAuthClient | null> {
    const columns = columnsOf(m);
    const fetched = { metadataFetchedAt: fetchedAt, metadataExpiresAt: expiresAt };
    return transaction(this.prisma, async (tx) => {
      // INSERT ... ON CONFLICT DO NOTHING: two instances fetching a new document at once make one row.
      const { count } = await tx.oAuthClient.createMany({
        data: [
          {
            clientId: url,
            ownerId: null,
            environment: "PRODUCTION",
            type: "PUBLIC",
            firstParty: false,
            accessTokenTtl: DEFAULT_ACCESS_TOKEN_TTL_S,
            registration: METADATA_DOCUMENT_REGISTRATION,
            ...columns,
            ...fetched,
          },
        ],
        skipDuplicates: true,
      });
      if (count === 1) {
        const created = await tx.oAuthClient.findUniqueOrThrow({ where: { clientId: url } });
        await recordAudit(tx, {
          action: "client.created",
          clientId: created.id,
          detail: `public client "${created.name}" from its client metadata document at ${url}`,
        });
        return created;
      }

      const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT "id" FROM "OAuthClient" WHERE "clientId" = ${url} FOR UPDATE`;
      if (!locked) return null;
      const client = await tx.oAuthClient.findUniqueOrThrow({ where: { id: locked.id } });
      // Revoked, or made another way, since find() looked: left as it is.
      if (client.registration !== METADATA_DOCUMENT_REGISTRATION || client.revokedAt) return client;

      const changes: string[] = [];
      if (client.name !== columns.name) changes.push(`name "${columns.name}"`);
      if (!sameList(client.redirectUris, columns.redirectUris)) changes.push(`redirect URIs ${columns.redirectUris.join(" ")}`);
      if (!sameList([...client.scopes].sort(), [...columns.scopes].sort())) changes.push(`scopes ${columns.scopes.join(" ")}`);
      if (!sameList([...client.grantTypes].sort(), [...columns.grantTypes].sort())) {
        changes.push(`grant types ${columns.grantTypes.join(" ")}`);
      }
      if (client.clientUri !== columns.clientUri) changes.push(`client_uri ${columns.clientUri ?? "(none)"}`);
      const updated = await tx.oAuthClient.update({ where: { id: client.id }, data: { ...columns, ...fetched } });
      if (!changes.length) return updated;

      // As when an RFC 7592 update narrows a client: scopes taken away end in codes, grants and live tokens now,
      // and every instance drops its cached copy (the token endpoint reads grant types and refresh tokens from it).
      await recordClientUpdate(tx, client, {
        removedScopes: client.scopes.filter((s) => !columns.scopes.includes(s)),
        detail: `client metadata document changed: ${changes.join("; ")}`,
      });
      return updated;
    });
  }
}
