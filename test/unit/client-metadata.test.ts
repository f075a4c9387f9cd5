// checkClientMetadata (src/clients/dynamic-registration.ts): RFC 7591 metadata of
// a self-registered client, its defaults, and which refusal is invalid_redirect_uri.
import { describe, expect, it } from "vitest";
import { checkClientMetadata, REDIRECT_URIS_FIELD } from "../../src/clients/dynamic-registration.ts";
import { DomainError } from "../../src/lib/errors.ts";

function refusal(raw: unknown): DomainError {
  try {
    checkClientMetadata(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe("checkClientMetadata", () => {
  it("fills in RFC 7591's defaults: the code grant only, every data scope, the host as the name", () => {
    expect(checkClientMetadata({ redirect_uris: ["https://app.example/cb", "https://app.example/cb"] })).toEqual({
      redirectUris: ["https://app.example/cb"],
      name: "app.example",
      clientUri: null,
      scopes: ["profile:read", "data:read", "data:write"],
      grantTypes: ["authorization_code"],
      registeredFrom: "app.example",
    });
  });

  it("keeps only the data scopes (openid and offline_access need no registration) and names client_uri's host", () => {
    const m = checkClientMetadata({
      redirect_uris: ["http://localhost:8080/cb"],
      client_name: "  Helper  ",
      client_uri: "https://www.helper.example:8443/about",
      grant_types: ["refresh_token", "authorization_code"],
      scope: "openid data:write offline_access data:write",
      token_endpoint_auth_method: "none",
      response_types: ["code"],
      logo_uri: "https://helper.example/logo.png",
      jwks: { keys: [] },
    });
    expect(m).toMatchObject({ name: "Helper", scopes: ["data:write"], registeredFrom: "www.helper.example:8443" });
    expect(m.grantTypes.sort()).toEqual(["authorization_code", "refresh_token"]);
  });

  it("names a private-use scheme's app by its scheme; null counts as left out", () => {
    expect(checkClientMetadata({ redirect_uris: ["com.example.notes:/cb"], client_name: null, scope: null })).toMatchObject({
      name: "com.example.notes",
      registeredFrom: "com.example.notes",
      scopes: ["profile:read", "data:read", "data:write"],
    });
  });

  it.each<[string, unknown]>([
    ["plain http to a host", { redirect_uris: ["http://app.example/cb"] }],
    ["a fragment", { redirect_uris: ["https://app.example/cb#x"] }],
    ["credentials", { redirect_uris: ["https://u:p@app.example/cb"] }],
    ["not a URL", { redirect_uris: ["cb"] }],
    ["a lone surrogate", { redirect_uris: ["https://app.example/\ud800"] }],
  ])("a redirect URI with %s is the redirect_uris field (invalid_redirect_uri)", (_what, raw) => {
    expect(refusal(raw).field).toBe(REDIRECT_URIS_FIELD);
  });

  it.each<[string, unknown, string]>([
    ["no redirect_uris", {}, "metadata"],
    ["an empty list", { redirect_uris: [] }, "metadata"],
    ["eleven redirect URIs", { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://a.example/${i}`) }, "metadata"],
    ["a number for client_name", { redirect_uris: ["https://a.example/cb"], client_name: 1 }, "client_name"],
    ["a 101-character name", { redirect_uris: ["https://a.example/cb"], client_name: "x".repeat(101) }, "client_name"],
    [
      "client_secret_post",
      { redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: "client_secret_post" },
      "token_endpoint_auth_method",
    ],
    ["client_credentials", { redirect_uris: ["https://a.example/cb"], grant_types: ["client_credentials"] }, "grant_types"],
    ["implicit", { redirect_uris: ["https://a.example/cb"], grant_types: ["authorization_code", "implicit"] }, "grant_types"],
    ["no response type", { redirect_uris: ["https://a.example/cb"], response_types: [] }, "response_types"],
    ["an unknown scope", { redirect_uris: ["https://a.example/cb"], scope: "data:read email" }, "scope"],
    ["openid alone", { redirect_uris: ["https://a.example/cb"], scope: "openid" }, "scope"],
    ["an http client_uri", { redirect_uris: ["https://a.example/cb"], client_uri: "http://a.example" }, "client_uri"],
    ["a client_uri that is no URL", { redirect_uris: ["https://a.example/cb"], client_uri: "a.example" }, "client_uri"],
    ["a string", "redirect_uris", "metadata"],
  ])("%s is refused (invalid_client_metadata) naming %s", (_what, raw, field) => {
    const err = refusal(raw);
    expect(err.field).toBe(field);
    expect(err.field).not.toBe(REDIRECT_URIS_FIELD);
    expect(err.message.length).toBeGreaterThan(5);
  });
});
