// Client ID Metadata Documents (src/clients/metadata-documents.ts) without a
// network or a database: which client_ids are document URLs, how long a
// document is kept, and the checks on its content.
import { describe, expect, it } from "vitest";
import {
  CLIENT_ID_FIELD,
  cacheLifetimeMs,
  checkDocument,
  DEFAULT_CACHE_MS,
  documentUrlProblem,
  looksLikeDocumentUrl,
  MAX_CACHE_MS,
  MIN_CACHE_MS,
} from "../../src/clients/metadata-documents.ts";
import { DomainError } from "../../src/lib/errors.ts";
import { authorizationServerMetadata } from "../../src/oauth/discovery.ts";

const URL_ = "https://assistant.example/oauth/client.json";

/** The refusal of a document: the one domain error type, invalid input on client_id. */
function refusal(body: string, url = URL_): DomainError {
  try {
    checkDocument(url, body);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: "invalid_input", field: CLIENT_ID_FIELD });
    return err as DomainError;
  }
  throw new Error(`accepted ${body}`);
}

describe("which client_ids are metadata document URLs", () => {
  it("http(s) URLs are; the client_ids scopegate issues are not", () => {
    expect(looksLikeDocumentUrl(URL_)).toBe(true);
    expect(looksLikeDocumentUrl("HTTP://assistant.example/c")).toBe(true);
    expect(looksLikeDocumentUrl("sgc_0123456789abcdef0123456789abcdef")).toBe(false);
    expect(looksLikeDocumentUrl("urn:example:app")).toBe(false);
  });

  it("accepts an https URL with a path, a port and a query", () => {
    expect(documentUrlProblem(URL_)).toBeNull();
    expect(documentUrlProblem("https://127.0.0.1:8443/client.json")).toBeNull();
    expect(documentUrlProblem("https://app.example/clients?id=7")).toBeNull();
  });

  it.each([
    ["http://assistant.example/client.json", "must use https"],
    ["https://assistant.example", "must have a path after the host (such as https://app.example/client.json)"],
    ["https://assistant.example/", "must have a path after the host (such as https://app.example/client.json)"],
    ["https://assistant.example/client.json#main", "must not contain a fragment (#)"],
    ["https://assistant.example/client.json#", "must not contain a fragment (#)"],
    ["https://me:pw@assistant.example/client.json", "must not contain a user name or password"],
    ["https://assistant.example/a/../client.json", "must be written in its normal form (https://assistant.example/client.json)"],
    ["https://assistant.example/./client.json", "must be written in its normal form (https://assistant.example/client.json)"],
    ["https://Assistant.Example/client.json", "must be written in its normal form (https://assistant.example/client.json)"],
    ["https://assistant.example:443/client.json", "must be written in its normal form (https://assistant.example/client.json)"],
    ["https://", "is not a valid URL"],
    [`https://assistant.example/${"x".repeat(200)}`, "is longer than 200 characters"],
  ])("refuses %s: it %s", (clientId, problem) => {
    expect(documentUrlProblem(clientId)).toBe(problem);
  });
});

describe("how long a document is kept (Cache-Control, bounded)", () => {
  it("an hour without caching headers", () => {
    expect(cacheLifetimeMs({})).toBe(DEFAULT_CACHE_MS);
    expect(DEFAULT_CACHE_MS).toBe(3_600_000);
    expect(cacheLifetimeMs({ "cache-control": "public" })).toBe(DEFAULT_CACHE_MS);
  });

  it("max-age, less the Age the answer already has, from 5 minutes to 24 hours", () => {
    expect(cacheLifetimeMs({ "cache-control": "public, max-age=7200" })).toBe(7_200_000);
    expect(cacheLifetimeMs({ "cache-control": "max-age=7200", age: "1200" })).toBe(6_000_000);
    expect(cacheLifetimeMs({ "cache-control": 'Max-Age="900"' })).toBe(900_000);
    expect(cacheLifetimeMs({ "cache-control": "max-age=0" })).toBe(MIN_CACHE_MS);
    expect(cacheLifetimeMs({ "cache-control": "max-age=31536000, immutable" })).toBe(MAX_CACHE_MS);
    expect([MIN_CACHE_MS, MAX_CACHE_MS]).toEqual([300_000, 86_400_000]);
  });

  it("no-store and no-cache get the lower bound; s-maxage is not max-age", () => {
    expect(cacheLifetimeMs({ "cache-control": "no-store" })).toBe(MIN_CACHE_MS);
    expect(cacheLifetimeMs({ "cache-control": "max-age=7200, no-cache" })).toBe(MIN_CACHE_MS);
    expect(cacheLifetimeMs({ "cache-control": "s-maxage=7200" })).toBe(DEFAULT_CACHE_MS);
  });
});

describe("checkDocument", () => {
  const doc = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ client_id: URL_, client_name: "Assistant", redirect_uris: ["http://127.0.0.1/callback"], ...extra });

  it("is RFC 7591 metadata of a self-registered client, named after the document's host", () => {
    expect(checkDocument(URL_, doc({ client_uri: "https://elsewhere.example/", scope: "openid data:read" }))).toEqual({
      redirectUris: ["http://127.0.0.1/callback"],
      name: "Assistant",
      clientUri: "https://elsewhere.example/",
      scopes: ["data:read"],
      grantTypes: ["authorization_code"],
      registeredFrom: "assistant.example",
    });
    expect(
      checkDocument(
        "https://127.0.0.1:8443/c",
        JSON.stringify({ client_id: "https://127.0.0.1:8443/c", redirect_uris: ["https://a.example/cb"] }),
      ),
    ).toMatchObject({ name: "127.0.0.1:8443", registeredFrom: "127.0.0.1:8443" });
  });

  it.each([
    ["not JSON", "<html>hello</html>", "is not JSON."],
    ["a JSON array", "[]", "is not a JSON object."],
    ["JSON null", "null", "is not a JSON object."],
    [
      "no client_id",
      JSON.stringify({ redirect_uris: ["https://a.example/cb"] }),
      "has no client_id: it must be exactly the document's URL.",
    ],
    [
      "another client_id",
      doc({ client_id: "https://assistant.example/other.json" }),
      "names another client_id: it must be exactly the document's URL.",
    ],
    ["a client_id differing in case", doc({ client_id: URL_.toUpperCase() }), "names another client_id"],
    ["a client_secret", doc({ client_secret: "s3cret" }), "holds a client_secret"],
    ["client_secret_expires_at", doc({ client_secret_expires_at: 0 }), "holds a client_secret"],
    ["a secret-based auth method", doc({ token_endpoint_auth_method: "client_secret_basic" }), 'token_endpoint_auth_method must be "none"'],
    ["private_key_jwt", doc({ token_endpoint_auth_method: "private_key_jwt" }), 'token_endpoint_auth_method must be "none"'],
    ["no redirect URIs", doc({ redirect_uris: [] }), "redirect_uris must list at least one redirect URI."],
    [
      "a plain http redirect URI to a host",
      doc({ redirect_uris: ["http://assistant.example/cb"] }),
      "redirect URI http://assistant.example/cb must use https in production",
    ],
    ["a redirect URI with a fragment", doc({ redirect_uris: ["https://assistant.example/cb#x"] }), "must not contain a fragment"],
    ["client_credentials", doc({ grant_types: ["client_credentials"] }), "grant_types may be authorization_code and refresh_token only"],
    ["an unknown scope", doc({ scope: "admin" }), "scope may hold only"],
  ])("refuses a document with %s", (_what, body, message) => {
    const err = refusal(body);
    expect(err.message).toContain(`The app's client metadata document at ${URL_}`);
    expect(err.message).toContain(message);
  });
});

describe("discovery", () => {
  it("says client_id_metadata_document_supported only when metadata documents are on", () => {
    expect(authorizationServerMetadata("https://sg.example", { metadataDocuments: true }).client_id_metadata_document_supported).toBe(true);
    expect(authorizationServerMetadata("https://sg.example", { metadataDocuments: false })).not.toHaveProperty(
      "client_id_metadata_document_supported",
    );
  });
});
