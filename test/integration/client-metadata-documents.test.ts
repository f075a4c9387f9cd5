// Issue 15 item 3, Client ID Metadata Documents: MetadataDocumentClients
// (src/clients/metadata-documents.ts) against documents served over https from
// 127.0.0.1 with a test certificate authority, on this project's database:
// the stored client, the cache and its refresh, and each refusal (wrong
// client_id, http, a private address, too large, a redirect not followed, not
// JSON, a secret, bad redirect URIs, an untrusted certificate, the switch, the
// caller's per-address limit, checked before any fetch). The whole flow through a real server is in
// client-metadata-documents-e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { deleteUnusedDynamicClients } from "../../src/clients/dynamic-registration.ts";
import {
  CLIENT_ID_FIELD,
  MAX_DOCUMENT_BYTES,
  MetadataDocumentClients,
  type MetadataDocumentOptions,
} from "../../src/clients/metadata-documents.ts";
import { grantAccess } from "../../src/consent/grants.ts";
import { DomainError } from "../../src/lib/errors.ts";
import type { Database } from "../../src/db/index.ts";
import { openTestDatabase } from "../helpers/db.ts";
import { DocumentServer, makeTestCertificates, type TestCertificates } from "../helpers/metadata-documents.ts";

const DAY = 86_400_000;
/** The caller's limit before each fetch (the authorization endpoint's per-address count): here, none. */
const NO_LIMIT = async () => {};

let db: Database & { drop(): Promise<void> };
let certs: TestCertificates;
let docs: DocumentServer;

beforeAll(async () => {
  db = await openTestDatabase();
  certs = makeTestCertificates();
  docs = await DocumentServer.start(certs);
});
afterAll(async () => {
  await docs?.close();
  certs?.remove();
  await db?.drop();
});

function resolver(options: Partial<MetadataDocumentOptions> = {}): MetadataDocumentClients {
  return new MetadataDocumentClients(db.prisma, {
    enabled: true,
    allowLoopback: true,
    ca: certs.ca,
    timeoutMs: 3_000,
    ...options,
  });
}

/** The refusal of a document client_id: the one domain error type, invalid input on client_id. */
async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: "invalid_input", field: CLIENT_ID_FIELD });
    return err as DomainError;
  }
  throw new Error("expected a DomainError");
}

const DOC = {
  client_name: "Pocket Assistant",
  redirect_uris: ["http://127.0.0.1/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  token_endpoint_auth_method: "none",
  scope: "openid offline_access profile:read data:read",
};

describe("a good document", () => {
  it("becomes a public, production client owned by no one, kept as its HTTP caching allows", async () => {
    const url = docs.document("/good.json", DOC, { "cache-control": "public, max-age=7200" });
    const before = Date.now();
    const client = await resolver().find(url, NO_LIMIT);
    expect(client).toMatchObject({
      clientId: url,
      name: "Pocket Assistant",
      ownerId: null,
      type: "PUBLIC",
      environment: "PRODUCTION",
      firstParty: false,
      registration: "metadata_document",
      registeredFrom: new URL(url).host,
      redirectUris: ["http://127.0.0.1/callback"],
      scopes: ["profile:read", "data:read"],
      grantTypes: ["authorization_code", "refresh_token"],
      refreshTokens: true,
      secretHash: null,
      registrationTokenHash: null,
      revokedAt: null,
    });
    const lifetime = client!.metadataExpiresAt!.getTime() - client!.metadataFetchedAt!.getTime();
    expect(lifetime).toBe(7_200_000);
    expect(client!.metadataFetchedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { clientId: client!.id } });
    expect(audit).toMatchObject({ action: "client.created" });
    expect(audit.detail).toContain(url);

    // Fresh: found again without a fetch, by this resolver or another instance's.
    expect(docs.hitsOf("/good.json")).toBe(1);
    expect((await resolver().find(url, NO_LIMIT))!.id).toBe(client!.id);
    expect(docs.hitsOf("/good.json")).toBe(1);
  });

  it("is fetched once for requests that come together, and makes one row", async () => {
    const url = docs.document("/together.json", DOC);
    const r = resolver();
    const found = await Promise.all([r.find(url, NO_LIMIT), r.find(url, NO_LIMIT), r.find(url, NO_LIMIT)]);
    expect(new Set(found.map((c) => c!.id)).size).toBe(1);
    expect(docs.hitsOf("/together.json")).toBe(1);
    // Two instances at once: two fetches, still one row.
    const [a, b] = await Promise.all([
      resolver().find(docs.document("/two.json", DOC), NO_LIMIT),
      resolver().find(docs.url("/two.json"), NO_LIMIT),
    ]);
    expect(a!.id).toBe(b!.id);
    expect(await db.prisma.oAuthClient.count({ where: { clientId: docs.url("/two.json") } })).toBe(1);
  });

  it("is fetched again once stale: a changed document changes the client and narrows its users' grants", async () => {
    const url = docs.document("/changing.json", DOC);
    const r = resolver();
    const client = (await r.find(url, NO_LIMIT))!;
    const user = await signUp(db.prisma, { name: "Ada", email: "ada-cimd@example.com", password: "correct horse battery staple" });
    if (!user.ok) throw new Error("sign-up failed");
    const grant = await db.prisma.$transaction((tx) =>
      grantAccess(tx, { userId: user.user.id, client, scopes: ["profile:read", "data:read", "offline_access"] }),
    );

    docs.document("/changing.json", {
      ...DOC,
      client_name: "Pocket Assistant 2",
      scope: "data:read",
      redirect_uris: ["https://pocket.example/cb"],
    });
    // Still fresh: the old copy is used.
    expect((await r.find(url, NO_LIMIT))!.name).toBe("Pocket Assistant");
    await db.prisma.oAuthClient.update({ where: { id: client.id }, data: { metadataExpiresAt: new Date(Date.now() - 1000) } });
    const changed = (await r.find(url, NO_LIMIT))!;
    expect(changed).toMatchObject({
      id: client.id,
      name: "Pocket Assistant 2",
      scopes: ["data:read"],
      redirectUris: ["https://pocket.example/cb"],
    });
    expect(changed.metadataExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(docs.hitsOf("/changing.json")).toBe(2);
    expect((await db.prisma.grant.findUniqueOrThrow({ where: { id: grant.id } })).scopes.sort()).toEqual(["data:read", "offline_access"]);
    const updated = await db.prisma.auditEvent.findFirstOrThrow({ where: { clientId: client.id, action: "client.updated" } });
    expect(updated.detail).toContain('name "Pocket Assistant 2"');
    expect(updated.detail).toContain("scopes data:read");
  });

  it("a stale client whose refetch fails is refused, not used stale, and left as it was", async () => {
    const url = docs.document("/withdrawn.json", DOC);
    const r = resolver();
    const client = (await r.find(url, NO_LIMIT))!;
    await db.prisma.oAuthClient.update({ where: { id: client.id }, data: { metadataExpiresAt: new Date(Date.now() - 1000) } });
    docs.set("/withdrawn.json", { status: 404, body: { error: "gone" } });
    const err = await refusal(r.find(url, NO_LIMIT));
    expect(err.message).toBe(`The app's client metadata document at ${url} answered HTTP 404, not 200.`);
    expect(await db.prisma.oAuthClient.findUniqueOrThrow({ where: { id: client.id } })).toMatchObject({ name: "Pocket Assistant" });
    // Errors are not cached: once the document is back, it works again.
    docs.document("/withdrawn.json", DOC);
    expect((await r.find(url, NO_LIMIT))!.id).toBe(client.id);
  });

  it("a revoked client is returned as it is, without a fetch", async () => {
    const url = docs.document("/revoked.json", DOC);
    const client = (await resolver().find(url, NO_LIMIT))!;
    await db.prisma.oAuthClient.update({ where: { id: client.id }, data: { revokedAt: new Date(), metadataExpiresAt: new Date(0) } });
    expect((await resolver().find(url, NO_LIMIT))!.revokedAt).not.toBeNull();
    expect(docs.hitsOf("/revoked.json")).toBe(1);
  });

  it("is deleted after 30 days without a grant, like a self-registered client, and comes back on its next use", async () => {
    const url = docs.document("/unused.json", DOC);
    const client = (await resolver().find(url, NO_LIMIT))!;
    await db.prisma.oAuthClient.update({ where: { id: client.id }, data: { createdAt: new Date(Date.now() - 31 * DAY) } });
    expect(await deleteUnusedDynamicClients(db.prisma)).toBeGreaterThanOrEqual(1);
    expect(await db.prisma.oAuthClient.findUnique({ where: { id: client.id } })).toBeNull();
    const again = (await resolver().find(url, NO_LIMIT))!;
    expect(again.id).not.toBe(client.id);
    expect(again.clientId).toBe(url);
  });
});

describe("refusals", () => {
  it("a document that names another client_id", async () => {
    const url = docs.set("/mismatch.json", { body: { ...DOC, client_id: docs.url("/other.json") } });
    const err = await refusal(resolver().find(url, NO_LIMIT));
    expect(err.message).toBe(
      `The app's client metadata document at ${url} names another client_id: it must be exactly the document's URL.`,
    );
    expect(await db.prisma.oAuthClient.findUnique({ where: { clientId: url } })).toBeNull();
  });

  it("an http URL, without any request", async () => {
    const err = await refusal(resolver().find(docs.url("/good.json").replace("https:", "http:"), NO_LIMIT));
    expect(err.message).toBe("The app's client_id must use https.");
  });

  it("loopback without CIMD_ALLOW_LOOPBACK, and private addresses always", async () => {
    const url = docs.document("/loopback.json", DOC);
    const loopback = await refusal(resolver({ allowLoopback: false }).find(url, NO_LIMIT));
    expect(loopback.message).toBe(
      `scopegate could not fetch the app's client metadata document at ${url}. The address 127.0.0.1 is not a public address.`,
    );
    for (const u of ["https://10.1.2.3/client.json", "https://169.254.169.254/latest/meta-data", "https://[fd00::1]/client.json"]) {
      expect((await refusal(resolver().find(u, NO_LIMIT))).message).toMatch(/is not a public address\.$/);
    }
    const internal = await refusal(resolver().find("https://metadata.google.internal/client.json", NO_LIMIT));
    expect(internal.message).toMatch(/is an internal name\.$/);
    // A name that resolves to a private address.
    const named = await refusal(
      resolver({ lookup: async () => [{ address: "192.168.1.10", family: 4 }] }).find("https://cimd.example.com/client.json", NO_LIMIT),
    );
    expect(named.message).toMatch(/resolves to an address that is not public\.$/);
    expect(docs.hitsOf("/loopback.json")).toBe(0);
  });

  it("a certificate nobody trusts", async () => {
    const url = docs.document("/untrusted.json", DOC);
    const err = await refusal(resolver({ ca: undefined }).find(url, NO_LIMIT));
    expect(err.message).toMatch(/The TLS connection to 127\.0\.0\.1 failed \(\w+\)\.$/);
  });

  it(`a document larger than ${MAX_DOCUMENT_BYTES} bytes`, async () => {
    const url = docs.document("/large.json", { ...DOC, padding: "x".repeat(MAX_DOCUMENT_BYTES) });
    const err = await refusal(resolver().find(url, NO_LIMIT));
    expect(err.message).toMatch(/The answer from 127\.0\.0\.1 is larger than 5120 bytes\.$/);
  });

  it("a redirect, which is answered as it is and not followed", async () => {
    const target = docs.document("/target.json", DOC);
    const url = docs.set("/moved.json", { status: 302, headers: { location: target }, body: "" });
    const err = await refusal(resolver().find(url, NO_LIMIT));
    expect(err).toMatchObject({
      message: `The app's client metadata document at ${url} answered HTTP 302 (a redirect, which scopegate does not follow), not 200.`,
    });
    expect(docs.hitsOf("/target.json")).toBe(0);
  });

  it.each<[string, unknown, string]>([
    ["not JSON", "<!doctype html><p>hello", "is not JSON."],
    ["a client_secret", { ...DOC, client_secret: "s3cret" }, "holds a client_secret"],
    ["a redirect URI over plain http to a host", { ...DOC, redirect_uris: ["http://pocket.example/cb"] }, "must use https in production"],
    ["no redirect URIs", { ...DOC, redirect_uris: [] }, "redirect_uris must list at least one redirect URI."],
  ])("a document with %s", async (_what, body, message) => {
    const path = `/bad-${Math.random().toString(36).slice(2)}.json`;
    const url = docs.url(path);
    docs.set(path, { body: typeof body === "string" ? body : { client_id: url, ...(body as object) } });
    const err = await refusal(resolver().find(url, NO_LIMIT));
    expect(err.message).toContain(message);
    expect(await db.prisma.oAuthClient.findUnique({ where: { clientId: url } })).toBeNull();
  });

  it("switched off: the URL is just an unknown client_id, nothing is fetched", async () => {
    const url = docs.document("/off.json", DOC);
    expect(await resolver({ enabled: false }).find(url, NO_LIMIT)).toBeNull();
    expect(docs.hitsOf("/off.json")).toBe(0);
  });

  it("the caller's limit runs before each fetch, never for a fresh stored copy; its refusal fetches nothing", async () => {
    const r = resolver();
    let calls = 0;
    const count = async () => {
      calls++;
    };
    const url = docs.document("/limit-1.json", DOC);
    await r.find(url, count);
    expect(calls).toBe(1);
    // Stored and fresh: found without a fetch, and the limit is not asked.
    await r.find(url, count);
    expect(calls).toBe(1);
    const refuse = async () => {
      throw new Error("over the limit");
    };
    await expect(r.find(docs.document("/limit-2.json", DOC), refuse)).rejects.toThrow("over the limit");
    expect(docs.hitsOf("/limit-2.json")).toBe(0);
    expect(await db.prisma.oAuthClient.findUnique({ where: { clientId: docs.url("/limit-2.json") } })).toBeNull();
  });
});
