// The one place that decides how the authorization endpoint answers a refusal
// (src/oauth/authorize/refusal.ts): a page or a redirect to the app. RFC 9700
// §4.11.2: never an automatic redirect to a client that registered itself.
import { describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { AuthorizeError, collectParams } from "../../src/oauth/authorize/context.ts";
import { PAGE_TITLE, redirectTrusted, refusal } from "../../src/oauth/authorize/refusal.ts";
import { validateAuthorizationRequest } from "../../src/oauth/authorize/validate.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const EVIL = "https://evil.example/cb";
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const verified = { name: "Pulse Tracker", registeredFrom: null };
const unverified = { name: "Pocket Assistant", registeredFrom: "assistant.example" };

/** Every error the authorization endpoint sends after the redirect URI is matched: the checks', prompt=none's, Deny's. */
const ERRORS: [string, string][] = [
  ["invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256."],
  ["unsupported_response_type", "Only response_type=code is supported."],
  ["invalid_scope", "This client may not ask for: bogus."],
  ["invalid_target", "Unknown resource."],
  ["request_not_supported", "Request objects are not supported."],
  ["login_required", "The user is not signed in."],
  ["consent_required", "The user has not yet allowed this app these scopes."],
  ["interaction_required", "The user must act."],
  ["access_denied", "The user denied the request."],
];

describe("refusal: page or redirect", () => {
  it("before the redirect URI is matched: a page with nothing to go back to, whatever the client", () => {
    for (const client of [undefined, verified, unverified]) {
      const r = refusal({ client }, new AuthorizeError("invalid_redirect_uri", "Not registered."));
      expect(r).toEqual({
        kind: "page",
        error: "invalid_redirect_uri",
        title: PAGE_TITLE,
        message: "Not registered. Go back to the app and try again; if it keeps happening, tell the app's developer.",
        status: 400,
      });
    }
  });

  it("a limit met before the client is known: 429 with Retry-After, nothing to go back to", () => {
    const r = refusal({}, new AuthorizeError("too_many_requests", "Too many apps were looked up.", 42));
    expect(r).toMatchObject({ kind: "page", error: "too_many_requests", status: 429, retryAfterSeconds: 42 });
    expect(r).not.toHaveProperty("back");
  });

  it("a verified client: every error goes back to its redirect URI, with the state", () => {
    for (const [error, description] of ERRORS) {
      const r = refusal({ client: verified, redirectUri: EVIL, state: "st" }, new AuthorizeError(error as never, description));
      expect(r).toEqual({ kind: "redirect", redirectUri: EVIL, state: "st", error, description });
    }
  });

  it("an unverified client: every error, Deny included, is a page naming the app, where it came from and the host, with a link back", () => {
    for (const [error, description] of ERRORS) {
      const r = refusal({ client: unverified, redirectUri: EVIL, state: "st" }, new AuthorizeError(error as never, description));
      expect(r.kind, error).toBe("page");
      if (r.kind !== "page") continue;
      expect(r.back).toEqual({ redirectUri: EVIL, state: "st", error, description, host: "evil.example" });
      expect(r.message).toContain("scopegate has not verified Pocket Assistant");
      expect(r.message).toContain("its details came from assistant.example");
      expect(r.message).toContain("does not send you to evil.example on its own");
      if (error === "access_denied") {
        expect(r).toMatchObject({ title: "Nothing was shared", status: 200 });
        expect(r.message).toMatch(/^You chose Deny\./);
      } else {
        expect(r).toMatchObject({ title: PAGE_TITLE, status: 400 });
      }
    }
  });

  it("says what went wrong: the check's description, or prompt=none's in the user's words", () => {
    const at = { client: unverified, redirectUri: EVIL, state: undefined };
    const message = (error: string, description: string) => {
      const r = refusal(at, new AuthorizeError(error as never, description));
      return r.kind === "page" ? r.message : "";
    };
    expect(message("invalid_scope", "This client may not ask for: bogus.")).toMatch(/^This client may not ask for: bogus\. /);
    expect(message("login_required", "The user is not signed in.")).toMatch(
      /^Pocket Assistant asked scopegate to answer without showing you anything \(prompt=none\), but you would have to sign in first\./,
    );
    expect(message("consent_required", "x")).toMatch(/but you have not allowed it this access yet\./);
    expect(message("interaction_required", "x")).toMatch(/but you would have to do something first\./);
  });

  it("the port of a loopback redirect URI is part of the host the link names", () => {
    const r = refusal(
      { client: unverified, redirectUri: "http://127.0.0.1:53682/callback", state: undefined },
      new AuthorizeError("invalid_scope", "x"),
    );
    expect(r.kind === "page" && r.back?.host).toBe("127.0.0.1:53682");
  });

  it("trusts a client without registeredFrom (a developer's, or one whose row predates the column), and no self-registered one", () => {
    expect(redirectTrusted(undefined)).toBe(true);
    expect(redirectTrusted({ registeredFrom: null })).toBe(true);
    expect(redirectTrusted({} as { registeredFrom: null })).toBe(true);
    expect(redirectTrusted({ registeredFrom: "assistant.example" })).toBe(false);
  });
});

describe("validateAuthorizationRequest decides through refusal", () => {
  const row = (over: Partial<OAuthClient>) =>
    ({
      id: "row-1",
      clientId: "sgc_app",
      name: "Pocket Assistant",
      redirectUris: [EVIL],
      scopes: ["data:read"],
      revokedAt: null,
      ...over,
    }) as OAuthClient;
  const params = (over: Record<string, string>) =>
    collectParams(
      Object.entries({
        client_id: "sgc_app",
        redirect_uri: EVIL,
        response_type: "code",
        scope: "data:read",
        code_challenge: CHALLENGE,
        code_challenge_method: "S256",
        state: "st",
        ...over,
      }),
    );
  const validate = (client: OAuthClient, over: Record<string, string>) =>
    validateAuthorizationRequest({ params: params(over), now: NOW, findClient: async () => client });

  it("an unverified client's invalid scope, response type, PKCE or prompt is a page; a verified client's a redirect", async () => {
    const cases: Record<string, string>[] = [
      { scope: "bogus" },
      { response_type: "token" },
      { code_challenge_method: "plain" },
      { prompt: "bogus" },
    ];
    for (const over of cases) {
      const self = await validate(row({ registeredFrom: "evil.example", registration: "dynamic" }), over);
      expect(self, JSON.stringify(over)).toMatchObject({ kind: "page", status: 400, back: { redirectUri: EVIL, state: "st" } });
      const dev = await validate(row({ registeredFrom: null, ownerId: "owner-1" }), over);
      expect(dev, JSON.stringify(over)).toMatchObject({ kind: "redirect", redirectUri: EVIL, state: "st" });
    }
  });
});
